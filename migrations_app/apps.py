from django.apps import AppConfig


class MigrationsAppConfig(AppConfig):
    name = "migrations_app"
    verbose_name = "Copy jobs"

    def ready(self) -> None:
        from migrations_app.api import views  # noqa: F401  (registers the copy-job operations)
