"""What the apps below the audit trail's UI use to have their changes recorded: the one door into
the audit app. A model is audited by deriving from ``AuditedModel`` and naming its ``AuditSpec``;
rows inserted in bulk outside the ORM's ``save()`` are recorded with ``created_recorded``.
Everything else in the package is the trail's own business."""

from __future__ import annotations

from audit.capture import AuditSpec, created_recorded
from audit.choices import ObjectType
from audit.mixins import AuditedModel, AuditedQuerySet

__all__ = ["AuditSpec", "AuditedModel", "AuditedQuerySet", "ObjectType", "created_recorded"]
