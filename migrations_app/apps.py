from django.apps import AppConfig


class MigrationsAppConfig(AppConfig):
    name = "migrations_app"
    verbose_name = "Copy and deletion jobs"

    def ready(self) -> None:
        from catalogue.services.data_items import state_guard_register
        from migrations_app.api import views  # noqa: F401  (registers the copy and deletion operations)
        from migrations_app.guards import copy_being_deleted, copy_being_written

        state_guard_register(copy_being_written)
        state_guard_register(copy_being_deleted)
