"""A refused write as a form shows it: each message beside the field it names.

The services name the field they refuse (``FieldError``, ``DataLifecycleError.field``); this is the
one place the web UI turns their exceptions into messages, for every form and action alike.
"""

from __future__ import annotations

from core.errors import DataLifecycleError, FieldError, FieldErrors, field_errors

# What a service may raise at a form: its refusals, each naming its field (or none).
REFUSALS = (DataLifecycleError, FieldError, FieldErrors)


def refusals(exc: Exception) -> list[tuple[str | None, str]]:
    """``(field, message)`` for each refusal in ``exc`` (field None: it concerns the whole form)."""
    if isinstance(exc, FieldError | FieldErrors):
        return [(error.field, error.message) for error in field_errors(exc)]
    if isinstance(exc, DataLifecycleError):
        return [(exc.field, exc.message)]
    raise TypeError(f"not a refusal: {type(exc).__name__}") from exc


def messages_of(exc: Exception) -> list[str]:
    """The refusals as lines of text (``field: message``), for a page without a form."""
    return [f"{field}: {message}" if field else message for field, message in refusals(exc)]


def refused_fields(exc: Exception) -> set[str]:
    """The fields the refusals in ``exc`` name (a form marks them invalid)."""
    return {field for field, _ in refusals(exc) if field}
