from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every app builds on: the contract layer, errors, the rclone client, secrets."""

    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from core import api  # noqa: F401  (registers the heartbeat)
