from django.apps import AppConfig


class LifecycleConfig(AppConfig):
    name = "lifecycle"
    verbose_name = "Lifecycle"

    def ready(self) -> None:
        from lifecycle.api import views  # noqa: F401  (registers the lifecycle's operations)
