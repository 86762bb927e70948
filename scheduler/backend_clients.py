"""Registering the systems (EHRs) that connect through SMART Backend Services, and reading their public keys.

An administrator registers a client with its public keys (a JWK Set, or the https URL it publishes one at) and
the scopes it may be granted; the client is given a ``client_id``. Keys are checked when they are registered,
so a key that could never verify a signature (a private key pasted by mistake, a 1024-bit RSA key, an unknown
curve) is refused then, not at the first sign-in.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from ipaddress import ip_address
from urllib.parse import urlsplit

import jwt
from sqlmodel import Session, select

from data.errors import Invalid, NotFound
from data.tables import BackendClient, new_security_stamp
from scheduler import published_keys, smart_scopes
from scheduler.smart_scopes import Scope

# The algorithms a client may sign its sign-in JWT with, and the key type each needs. SMART asks servers for
# RS384 or ES384; RS256 and ES256 are accepted too.
ALGORITHMS = {"RS384": "RSA", "ES384": "EC", "RS256": "RSA", "ES256": "EC"}
CURVES = {"P-256", "P-384"}
SMALLEST_RSA_BITS = 2048
MOST_KEYS = 10
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


@dataclass(frozen=True)
class ClientActor:
    """A backend client acting through its access token, as the audit trail names it (no user account behind it).

    ``scopes`` are the ones its token was granted; ``id`` is None like the system's, so its holds are system holds.
    """

    client_id: str
    scopes: tuple[Scope, ...]
    id: None = None

    @property
    def username(self) -> str:
        return f"client {self.client_id}"


def checked_jwks(jwks: object) -> dict:
    """A JWK Set of public signing keys this server can verify with, or Invalid saying what is wrong."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys:
        raise Invalid(("jwks",), 'give a JWK Set, {"keys": [...]}, with at least one public key')
    if len(keys) > MOST_KEYS:
        raise Invalid(("jwks", "keys"), f"register at most {MOST_KEYS} keys (the current and the next one)")
    kids = [_checked_key(key, index) for index, key in enumerate(keys)]
    if len(set(kids)) != len(kids):
        raise Invalid(("jwks", "keys"), "each key's kid must be unique within the set")
    return {"keys": keys}


def _checked_key(key: object, index: int) -> str:
    where = ("jwks", "keys", index)
    if not isinstance(key, dict):
        raise Invalid(where, "each key is a JWK object")
    kid, kty = key.get("kid"), key.get("kty")
    if not isinstance(kid, str) or not kid.strip():
        raise Invalid((*where, "kid"), "each key needs a kid: the client names it in its JWT's header")
    if kty not in ("RSA", "EC"):
        raise Invalid((*where, "kty"), "keys are RSA or EC (kty RSA or EC)")
    if PRIVATE_MEMBERS & key.keys():
        raise Invalid(where, f"key {kid[:40]!r} holds private key material; register only the public key")
    if key.get("use", "sig") != "sig":
        raise Invalid((*where, "use"), f"key {kid[:40]!r} is not a signing key (use must be sig)")
    algorithm = key.get("alg")
    if algorithm is not None and ALGORITHMS.get(algorithm) != kty:
        raise Invalid((*where, "alg"), f"key {kid[:40]!r}: alg must be one of {', '.join(ALGORITHMS)} for its kty")
    if kty == "EC" and key.get("crv") not in CURVES:
        raise Invalid((*where, "crv"), f"key {kid[:40]!r}: EC keys use the curve P-256 or P-384")
    try:
        public = jwt.PyJWK(key).key
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as exc:
        raise Invalid(where, f"key {kid[:40]!r} is not a usable {kty} public key ({str(exc)[:120]})") from None
    if kty == "RSA" and public.key_size < SMALLEST_RSA_BITS:
        raise Invalid(where, f"key {kid[:40]!r}: RSA keys have at least {SMALLEST_RSA_BITS} bits")
    return kid


def checked_jwks_uri(uri: str) -> str:
    """An https URL (plain http only on this machine, for development), without credentials or fragment."""
    parts = urlsplit(uri)
    loopback = parts.hostname == "localhost" or _is_loopback(parts.hostname)
    if not (parts.scheme == "https" or (parts.scheme == "http" and loopback)) or not parts.hostname:
        raise Invalid(("jwks_uri",), "give the https URL the client publishes its JWK Set at")
    if parts.username or parts.password or parts.fragment:
        raise Invalid(("jwks_uri",), "the URL must carry no user name, password or fragment")
    return uri


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ip_address(host).is_loopback
    except ValueError:
        return False


def checked_scope(scope: str) -> str:
    """The scopes an administrator allows a client, each a valid ``system/`` scope."""
    try:
        scopes = smart_scopes.parse_scopes(scope)
    except smart_scopes.ScopeError as exc:
        raise Invalid(("scope",), str(exc)) from None
    if not scopes:
        raise Invalid(("scope",), "allow at least one scope, e.g. system/Slot.rs system/Appointment.rs")
    return smart_scopes.spelled(scopes)


def register(session: Session, *, client_name: str, jwks: dict | None, jwks_uri: str | None, scope: str,
             now: datetime) -> BackendClient:
    """A new client with a fresh client_id (not committed)."""
    client = BackendClient(client_id=str(uuid.uuid4()), client_name=client_name, scope=checked_scope(scope),
                           created_at=now, **_key_source(jwks, jwks_uri))
    session.add(client)
    session.flush()
    return client


def _key_source(jwks: dict | None, jwks_uri: str | None) -> dict:
    if (jwks is None) == (jwks_uri is None):
        raise Invalid(("jwks",), "give either jwks (the public keys) or jwks_uri (where they are published), "
                                 "not both")
    if jwks is not None:
        return {"jwks": checked_jwks(jwks), "jwks_uri": None}
    return {"jwks": None, "jwks_uri": checked_jwks_uri(jwks_uri)}


def change(session: Session, *, client_id: str, values: dict, now: datetime) -> BackendClient:
    """Rename, re-key, re-scope, disable or enable a client (not committed); its tokens stop working at once.

    ``values`` holds only what changes: client_name, scope, jwks or jwks_uri (the one given replaces the
    other), disabled (true or false).
    """
    client = find(session, client_id)
    if "jwks" in values or "jwks_uri" in values:
        for name, value in _key_source(values.get("jwks"), values.get("jwks_uri")).items():
            setattr(client, name, value)
    if "scope" in values:
        client.scope = checked_scope(values["scope"])
    if "client_name" in values:
        client.client_name = values["client_name"]
    if "disabled" in values:
        client.disabled_at = (client.disabled_at or now) if values["disabled"] else None
    client.security_stamp = new_security_stamp()
    session.add(client)
    session.flush()
    return client


def registered(session: Session, client_id: str) -> BackendClient | None:
    return session.exec(select(BackendClient).where(BackendClient.client_id == client_id)).first()


def find(session: Session, client_id: str) -> BackendClient:
    client = registered(session, client_id)
    if client is None:
        raise NotFound("backend client", client_id)
    return client


def every(session: Session) -> list[BackendClient]:
    return list(session.exec(select(BackendClient).order_by(BackendClient.id)))


def public_keys(client: BackendClient, kid: str | None = None) -> list[dict]:
    """The client's keys: the registered set, or the one published at its jwks_uri (kept as its Cache-Control
    allows, read again when it lacks ``kid``: ``published_keys``)."""
    if client.jwks is not None:
        return client.jwks["keys"]
    return published_keys.keys_at(client.jwks_uri, kid)
