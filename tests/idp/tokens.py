"""Access tokens as signed JWTs (RFC 9068 style), so a resource server can check them locally
against the provider's JWKS; DOT still stores each one and answers userinfo/revocation for it."""

import json
import time
import uuid

from jwcrypto import jwt
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.utils import jwk_from_pem

from tests.idp.validator import user_groups, user_subject


def _compact_json(value: dict) -> str:
    return json.dumps(value, separators=(",", ":"))


def signed_access_token(request) -> str:
    """``ACCESS_TOKEN_GENERATOR``: an RS256 JWT for the oauthlib ``request`` being granted, signed
    with the OIDC key under the ``kid`` the JWKS publishes for it."""
    key = jwk_from_pem(oauth2_settings.OIDC_RSA_PRIVATE_KEY)
    client_id = request.client.client_id
    now = int(time.time())
    claims = {
        "iss": oauth2_settings.oidc_issuer(request),
        "aud": client_id,
        "client_id": client_id,
        "iat": now,
        "exp": now + int(request.expires_in),
        "jti": uuid.uuid4().hex,
        "scope": " ".join(request.scopes or []),
    }
    user = request.user
    if user is not None:
        claims |= {
            "sub": user_subject(user),
            "preferred_username": user.username,
            "email": user.email,
            "groups": user_groups(user),
        }
    else:  # client credentials: the client itself is the subject
        claims["sub"] = client_id
    header = {"alg": "RS256", "typ": "at+jwt", "kid": key.thumbprint()}
    token = jwt.JWT(header=_compact_json(header), claims=_compact_json(claims))
    token.make_signed_token(key)
    return token.serialize()
