from django.apps import AppConfig


class EventsConfig(AppConfig):
    """What DLM tells the world: the outbox's relay to RabbitMQ, and its metrics."""

    name = "events"
    verbose_name = "Events"

    def ready(self) -> None:
        from events import api  # noqa: F401  (registers the webhooks' operations)
