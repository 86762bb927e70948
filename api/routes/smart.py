"""SMART on FHIR for systems: the discovery document and the token endpoint of SMART Backend Services.

An EHR finds the token endpoint at ``/.well-known/smart-configuration`` (at the root and under the FHIR base,
where SMART clients look), signs a JWT with its registered key and trades it at ``POST /auth/token`` for a
five-minute bearer token carrying its granted ``system/`` scopes. Staff keep signing in at
``/api/v1/auth/token`` with their passwords.
"""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse

from api.deps import SessionDep, SettingsDep, client_key
from api.fhir.access import served_scopes
from api.schemas.clients import ClientToken, OAuthError
from api.security import issue_token
from api.urls import SMART_TOKEN_PATH, smart_token_endpoint
from data.errors import RateLimited
from scheduler import client_sign_in, smart_scopes
from scheduler.backend_clients import ALGORITHMS
from scheduler.client_sign_in import TokenRefused, TokenRequest

router = APIRouter(tags=["smart"])
TOKEN_MINUTES = 5
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
REFUSED = {"model": OAuthError, "description": "RFC 6749 error: invalid_request, invalid_client (401), "
                                               "unsupported_grant_type, invalid_scope"}


@router.get("/.well-known/smart-configuration")
@router.get("/fhir/.well-known/smart-configuration", include_in_schema=False)
def smart_configuration(request: Request) -> dict:
    """SMART discovery: the token endpoint, how clients authenticate to it and the scopes there are."""
    return {
        "token_endpoint": smart_token_endpoint(request),
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
        "grant_types_supported": [client_sign_in.GRANT_TYPE],
        "scopes_supported": ["system/*.rs", *served_scopes(request.app)],
        "capabilities": ["client-confidential-asymmetric", "permission-v2", "permission-v1"],
    }


@router.post(SMART_TOKEN_PATH, response_model=ClientToken, responses={400: REFUSED, 401: REFUSED, 429: REFUSED})
def backend_token(
    request: Request, session: SessionDep, settings: SettingsDep,
    grant_type: Annotated[str | None, Form()] = None,
    client_assertion_type: Annotated[str | None, Form()] = None,
    client_assertion: Annotated[str | None, Form()] = None,
    scope: Annotated[str | None, Form()] = None,
    client_id: Annotated[str | None, Form()] = None,
):
    """SMART Backend Services: ``grant_type=client_credentials`` with a ``client_assertion`` JWT (RS384 or ES384;
    RS256 and ES256 too) signed by a registered client's key; answered with a five-minute bearer token for the
    FHIR API and the granted ``scope``. Failures count like failed sign-ins (429 beyond the limit)."""
    token_request = TokenRequest(grant_type, client_assertion_type, client_assertion, scope, client_id)
    try:
        grant = client_sign_in.grant(session, request=token_request, token_endpoint=smart_token_endpoint(request),
                                     address_key=client_key(request), now=datetime.now(UTC), settings=settings)
    except TokenRefused as exc:
        return JSONResponse({"error": exc.error, "error_description": exc.description}, headers=NO_STORE,
                            status_code=401 if exc.error == "invalid_client" else 400)
    except RateLimited as exc:
        return JSONResponse({"error": "invalid_client", "error_description": exc.msg}, status_code=429,
                            headers={**NO_STORE, "Retry-After": str(exc.retry_after)})
    granted = smart_scopes.spelled(grant.scopes)
    token = issue_token(client_id=grant.client.client_id, scope=granted, stamp=grant.client.security_stamp,
                        key=request.app.state.token_key, minutes=TOKEN_MINUTES)
    return JSONResponse(ClientToken(access_token=token, expires_in=TOKEN_MINUTES * 60, scope=granted).model_dump(),
                        headers=NO_STORE)
