from django.apps import AppConfig


class IntegrityConfig(AppConfig):
    name = "integrity"
    verbose_name = "Integrity"

    def ready(self) -> None:
        from integrity.api import fixity, scans  # noqa: F401  (registers the integrity operations)
