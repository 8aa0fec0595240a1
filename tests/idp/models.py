from django.conf import settings
from django.db import models


class Subject(models.Model):
    """The stable ``sub`` the provider asserts for a user: opaque, and independent of the
    username and the primary key, as a real IdP's would be."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="idp_subject")
    sub = models.CharField(max_length=255, unique=True)

    class Meta:
        ordering = ["sub"]

    def __str__(self) -> str:
        return self.sub
