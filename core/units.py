"""Quantities as people read them."""

from __future__ import annotations

_BINARY_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def human_size(n: float | None, *, unknown: str = "") -> str:
    """``n`` bytes in binary units as named by IEC (1 KiB = 1024 bytes): ``512 B``, ``1.5 KiB``,
    ``931.3 GiB``; ``unknown`` when there is no figure."""
    if n is None:
        return unknown
    if abs(n) < 1024:
        return f"{int(n)} B"
    value = float(n)
    for unit in _BINARY_UNITS:
        value /= 1024
        if abs(value) < 1024 or unit == _BINARY_UNITS[-1]:
            break
    return f"{value:.1f} {unit}"
