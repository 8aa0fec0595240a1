"""The outbox: what DLM has to tell the world, written in the transaction of the change it reports
(``core.events.emit``) and relayed to RabbitMQ by ``events.relay``."""

from __future__ import annotations

from django.db import models


class OutboxState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    DEAD = "dead", "Dead (gave up)"


class OutboxEvent(models.Model):
    """One event to send: its type (the AMQP routing key), the ids it is about and its JSON
    payload. Pending until the relay has it confirmed by the broker; dead after too many failed
    attempts (shown in the admin, where it can be sent again)."""

    id = models.BigAutoField(primary_key=True)
    event_type = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    subjects = models.JSONField(default=dict, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=OutboxState.choices, default=OutboxState.PENDING)
    attempts = models.IntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "outbox event"
        indexes = [
            models.Index(fields=["state", "next_attempt_at", "id"], name="outbox_claim_idx"),
            models.Index(fields=["state", "sent_at"], name="outbox_sent_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=[s.value for s in OutboxState]), name="outbox_state_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} #{self.id} ({self.state})"
