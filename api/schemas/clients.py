"""Backend clients (SMART Backend Services): registration by an administrator, the token endpoint's answers.

Field names follow OAuth dynamic client registration (RFC 7591: client_name, jwks, jwks_uri, scope), the words
an EHR's integration team already uses; the checks on keys and scopes are the use case's
(``scheduler.backend_clients``), shared with the ``clinic clients`` command.
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StringConstraints

from api.schemas.common import Schema, SingleLine

ClientName = Annotated[SingleLine, StringConstraints(min_length=1, max_length=120)]
Scope = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
JwksUri = Annotated[str, StringConstraints(min_length=1, max_length=300)]
SCOPE = "Scopes the client may be granted, space-separated, e.g. 'system/Slot.rs system/Appointment.rs'"
JWKS = 'The client\'s public keys as a JWK Set, {"keys": [...]}: RSA (2048 bits or more) or EC (P-256, P-384), each ' \
       "with a kid; give this or jwks_uri"
JWKS_URI = "The https URL the client publishes its JWK Set at (read at each sign-in); give this or jwks"


class BackendClientCreate(Schema):
    client_name: ClientName
    scope: Scope = Field(description=SCOPE)
    jwks: dict[str, Any] | None = Field(default=None, description=JWKS)
    jwks_uri: JwksUri | None = Field(default=None, description=JWKS_URI)


class BackendClientUpdate(Schema):
    """Only what changes; keys, scopes and disabling take effect at once (tokens already issued stop working)."""

    client_name: ClientName = None
    scope: Scope = Field(default=None, description=SCOPE)
    jwks: dict[str, Any] | None = Field(default=None, description=JWKS)
    jwks_uri: JwksUri | None = Field(default=None, description=JWKS_URI)
    disabled: StrictBool = Field(default=None, description="True: no token is granted and issued ones stop working")


class BackendClientPublic(Schema):
    client_id: str = Field(description="What the client puts in its JWT's iss and sub")
    client_name: str
    scope: str = Field(description=SCOPE)
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None
    token_endpoint_auth_method: Literal["private_key_jwt"] = "private_key_jwt"
    created_at: datetime
    disabled_at: datetime | None = None


class ClientToken(Schema):
    """RFC 6749 5.1, as SMART Backend Services asks: a short-lived bearer token and the scopes it carries."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires (300)")
    scope: str = Field(description="The scopes granted: those requested, as far as the client may have them")


class OAuthError(Schema):
    """RFC 6749 5.2."""

    error: Literal["invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
                   "unsupported_grant_type", "invalid_scope"]
    error_description: str
