"""SMART Backend Services sign-in: a registered client proves who it is with a JWT signed by its private key.

The client credentials grant with a JWT assertion (RFC 6749 4.4, RFC 7523, SMART's client-confidential-
asymmetric profile): the assertion's ``iss`` and ``sub`` are the client_id, ``aud`` is our token endpoint,
``exp`` at most five minutes ahead, ``jti`` never seen before for that client. Each ``jti`` is remembered until
its assertion expires, so an intercepted assertion cannot be replayed. Failures count like staff sign-in
failures (per client and per address) and are answered with RFC 6749's error codes.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, delete

from data.config import Settings
from data.tables import BackendClient, ClientAssertion
from scheduler import backend_clients, published_keys, sign_in, smart_scopes
from scheduler.backend_clients import ALGORITHMS
from scheduler.smart_scopes import Scope

GRANT_TYPE = "client_credentials"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
LONGEST_ASSERTION = timedelta(minutes=5)
CLOCK_SKEW = timedelta(seconds=60)
LONGEST_ASSERTION_TEXT = 16_000
LONGEST_JTI = 255


class TokenRefused(Exception):
    """An RFC 6749 error: ``error`` is its code, the message its ``error_description``."""

    def __init__(self, error: str, description: str):
        super().__init__(description)
        self.error, self.description = error, description


@dataclass(frozen=True)
class TokenRequest:
    grant_type: str | None
    client_assertion_type: str | None
    client_assertion: str | None
    scope: str | None
    client_id: str | None  # optional in the form; when given it must be the assertion's issuer


@dataclass(frozen=True)
class Grant:
    client: BackendClient
    scopes: list[Scope]


def grant(session: Session, *, request: TokenRequest, token_endpoint: str, address_key: str, now: datetime,
          settings: Settings) -> Grant:
    """The client and the scopes its token may carry; TokenRefused (or RateLimited) otherwise. Commits.

    ``now`` is the real clock: the assertion's times are checked against it, as access tokens are
    (``api.security``), whatever moment a test stands the clinic at.
    """
    if not request.grant_type:
        raise TokenRefused("invalid_request", "grant_type is required (client_credentials)")
    if request.grant_type != GRANT_TYPE:
        raise TokenRefused("unsupported_grant_type", "this token endpoint grants client_credentials only")
    if request.client_assertion_type != ASSERTION_TYPE or not request.client_assertion:
        raise TokenRefused("invalid_client", f"authenticate with client_assertion_type={ASSERTION_TYPE} and a "
                                             "client_assertion signed with the client's private key")
    if not request.scope:
        raise TokenRefused("invalid_request", "scope is required, e.g. system/Slot.rs")
    assertion = request.client_assertion
    client_id = _claimed_client(assertion, request.client_id)
    client_key, address = sign_in.client_keys(client_id, address_key)
    sign_in.check(session, username_key=client_key, address_key=address, now=now, settings=settings)
    try:
        client = _authenticated(session, assertion, client_id, token_endpoint, now)
    except TokenRefused:
        session.rollback()
        sign_in.failed(session, username_key=client_key, address_key=address, now=now)
        raise
    sign_in.succeeded(session, username_key=client_key)
    try:
        requested = smart_scopes.parse_scopes(request.scope)
    except smart_scopes.ScopeError as exc:
        raise TokenRefused("invalid_scope", str(exc)) from None
    scopes = smart_scopes.granted(requested, smart_scopes.parse_scopes(client.scope))
    if not scopes:
        raise TokenRefused("invalid_scope", f"none of the requested scopes is allowed for this client; it may ask "
                                            f"for {client.scope}")
    return Grant(client, scopes)


def _claimed_client(assertion: str, form_client_id: str | None) -> str:
    """Who the assertion says it is from, read before its signature is checked (to find the key to check it)."""
    if len(assertion) > LONGEST_ASSERTION_TEXT:
        raise TokenRefused("invalid_client", "the client_assertion is too long")
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise TokenRefused("invalid_client", "the client_assertion is not a JWT") from None
    issuer, subject = claims.get("iss"), claims.get("sub")
    if not isinstance(issuer, str) or not issuer or len(issuer) > 64:
        raise TokenRefused("invalid_client", "the assertion's iss must be the client_id")
    if subject != issuer:
        raise TokenRefused("invalid_client", "the assertion's sub must be the client_id, like its iss")
    if form_client_id is not None and form_client_id != issuer:
        raise TokenRefused("invalid_client", "client_id is not the assertion's issuer")
    return issuer


def _authenticated(session: Session, assertion: str, client_id: str, token_endpoint: str,
                   now: datetime) -> BackendClient:
    """The active client whose key signed this fresh assertion; its jti is used up (flushed, not committed)."""
    client = backend_clients.registered(session, client_id)
    if client is None or client.disabled_at is not None:
        raise TokenRefused("invalid_client", "no active client is registered with this client_id")
    header = jwt.get_unverified_header(assertion)
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:
        raise TokenRefused("invalid_client", f"sign the assertion with {' or '.join(ALGORITHMS)} (alg)")
    key = _signing_key(client, header, algorithm)
    try:
        claims = jwt.decode(assertion, key, algorithms=[algorithm], audience=token_endpoint, issuer=client_id,
                            leeway=CLOCK_SKEW, options={"require": ["iss", "sub", "aud", "exp", "jti"]})
    except jwt.InvalidSignatureError:
        raise TokenRefused("invalid_client", f"the assertion's signature does not verify with key "
                                             f"{header['kid'][:40]!r}") from None
    except jwt.ExpiredSignatureError:
        raise TokenRefused("invalid_client", "the assertion has expired; sign a new one for each token request") \
            from None
    except jwt.ImmatureSignatureError:
        raise TokenRefused("invalid_client", "the assertion is not valid yet (nbf or iat ahead of our clock)") \
            from None
    except jwt.InvalidAudienceError:
        raise TokenRefused("invalid_client", f"the assertion's aud must be the token endpoint, {token_endpoint}") \
            from None
    except jwt.MissingRequiredClaimError as exc:
        raise TokenRefused("invalid_client", f"the assertion has no {exc.claim} claim") from None
    except (jwt.PyJWTError, OverflowError):  # OverflowError: an infinite exp, which PyJWT lets through
        raise TokenRefused("invalid_client", "the client_assertion is not a valid signed JWT") from None
    expires = int(claims["exp"])  # PyJWT has checked it is a number of seconds, and not past
    if expires > (now + LONGEST_ASSERTION + CLOCK_SKEW).timestamp():
        raise TokenRefused("invalid_client", "the assertion's exp must be at most five minutes ahead")
    _use_up(session, client, claims["jti"], datetime.fromtimestamp(expires, UTC), now)
    return client


def _signing_key(client: BackendClient, header: dict, algorithm: str):
    """SMART's key resolution: the registered (or published) key whose kid the header names, of the alg's type."""
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise TokenRefused("invalid_client", "the assertion's header must name its key (kid)")
    if "jku" in header and header["jku"] != client.jwks_uri:
        raise TokenRefused("invalid_client", "the assertion's jku is not the JWK Set URL registered for this client")
    try:
        keys = backend_clients.public_keys(client, kid)
    except published_keys.KeysUnavailable as exc:
        raise TokenRefused("invalid_client", str(exc)) from None
    matching = [key for key in keys if key.get("kid") == kid and key.get("kty") == ALGORITHMS[algorithm]]
    if len(matching) != 1:
        raise TokenRefused("invalid_client", f"no single {ALGORITHMS[algorithm]} key with kid {kid[:40]!r} is "
                                             "registered for this client")
    try:
        return jwt.PyJWK(matching[0], algorithm=algorithm).key
    except (jwt.PyJWTError, ValueError, TypeError):
        raise TokenRefused("invalid_client", f"key {kid[:40]!r} cannot verify {algorithm} signatures") from None


def _use_up(session: Session, client: BackendClient, jti: object, expires: datetime, now: datetime) -> None:
    """Remember the jti until the assertion expires (and the clock skew allowed past it); one seen before is a
    replay. Those that can no longer be accepted anyway are forgotten."""
    if not isinstance(jti, str) or not jti or len(jti) > LONGEST_JTI:
        raise TokenRefused("invalid_client", f"the assertion's jti must be a string of 1 to {LONGEST_JTI} characters")
    session.exec(delete(ClientAssertion).where(ClientAssertion.client_id == client.id,
                                               ClientAssertion.expires_at <= now - CLOCK_SKEW))
    session.add(ClientAssertion(client_id=client.id, jti=jti, expires_at=expires))
    try:
        session.flush()
    except IntegrityError:
        raise TokenRefused("invalid_client", "this assertion was already used (its jti was seen before); sign a "
                                             "new one for each token request") from None
