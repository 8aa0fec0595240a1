"""The claims the provider asserts about a user, in ID tokens, userinfo and access tokens."""

from typing import Any

from oauth2_provider.oauth2_validators import OAuth2Validator


def user_subject(user) -> str:
    """The user's stable ``sub`` (the primary key only for users created without one)."""
    subject = getattr(user, "idp_subject", None)
    return subject.sub if subject is not None else str(user.pk)


def user_groups(user) -> list[str]:
    """The names of the user's groups, sorted."""
    return sorted(user.groups.values_list("name", flat=True))


class Validator(OAuth2Validator):
    # DOT releases a claim only when the token holds the scope mapped to it here.
    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "groups": "profile"}

    def get_additional_claims(self) -> dict[str, Any]:
        # The request-agnostic form (no ``request`` argument): DOT then also lists these
        # claims in the discovery document's ``claims_supported``.
        return {
            "sub": lambda request: user_subject(request.user),
            "preferred_username": lambda request: request.user.username,
            "email": lambda request: request.user.email,
            "groups": lambda request: user_groups(request.user),
        }

    # prompt=none (mozilla-django-oidc's SessionRefresh middleware sends it); oauthlib leaves
    # these two to the provider. DOT's authorization view deals with the session itself: it
    # answers login_required to an anonymous prompt=none request, so logins are silent here.
    def validate_silent_login(self, request) -> bool:
        return True

    def validate_silent_authorization(self, request) -> bool:
        return bool(getattr(request.client, "skip_authorization", False))
