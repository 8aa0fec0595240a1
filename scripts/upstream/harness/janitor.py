"""Deletes catalogue rows for the upstream tests' set-up and tear-down (upstream's DB.delete through
PostgREST). Run with DLM's python in DLM's checkout; one JSON request per line on stdin, one JSON
answer per line on stdout."""

import json
import os
import sys


def main() -> None:
    """Answer ``{"table", "params"}`` requests (``eq.`` filters only) until stdin closes."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dlm.settings")
    import django

    django.setup()
    from django.apps import apps
    from django.db import transaction

    models = {m._meta.db_table: m for m in apps.get_models()}
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        try:
            model = models[request["table"]]
            filters = {}
            for column, condition in (request.get("params") or {}).items():
                operator, _, value = str(condition).partition(".")
                if operator != "eq":
                    raise ValueError(f"only eq. filters are mapped, not {condition!r}")
                filters[column] = value
            with transaction.atomic():
                deleted, _ = model.objects.filter(**filters).delete()
            print(json.dumps({"ok": True, "deleted": deleted}), flush=True)
        except Exception as exc:
            print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}), flush=True)


if __name__ == "__main__":
    main()
