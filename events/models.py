"""Webhooks: subscriptions (a URL, the event types it wants, a secret) and their deliveries, one row
per event and subscription, each retried on its own (``events.webhooks``)."""

from __future__ import annotations

from django.db import models

from audit.recording import AuditedModel, AuditSpec, ObjectType
from core.crypto import EncryptedJSONField


class Subscription(AuditedModel):
    """A receiver of events by HTTP POST: ``event_types`` empty means every type. The secret signs
    each delivery (``X-DLM-Signature``); it is stored encrypted and never shown."""

    audit_spec = AuditSpec(ObjectType.WEBHOOK, masked=frozenset({"secret"}))

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(max_length=2000)
    event_types = models.JSONField(default=list, blank=True)
    secret = EncryptedJSONField()
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        ordering = ["name"]
        verbose_name = "webhook subscription"

    def __str__(self) -> str:
        return self.name

    def wants(self, event_type: str) -> bool:
        """True when this subscription receives events of ``event_type``."""
        return self.enabled and (not self.event_types or event_type in self.event_types)


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (gave up)"


class Delivery(models.Model):
    """One event to POST to one subscription. ``event_id`` is the outbox event's id (not a foreign
    key: sent events are deleted after their retention); the payload is a copy."""

    id = models.BigAutoField(primary_key=True)
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.BigIntegerField()
    event_type = models.CharField(max_length=100)
    event_created_at = models.DateTimeField()
    payload = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.IntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status = models.IntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(fields=["state", "next_attempt_at", "id"], name="delivery_claim_idx"),
            models.Index(fields=["subscription", "-id"], name="delivery_log_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=[s.value for s in DeliveryState]), name="delivery_state_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} #{self.event_id} → {self.subscription_id} ({self.state})"
