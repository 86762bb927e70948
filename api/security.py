"""Bearer tokens: short-lived signed JWTs naming a staff user, or a backend client and the scopes it was granted.

Either kind carries the security stamp of its account or client at issue, so a changed or disabled one's
tokens stop working before they expire.
"""

from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import jwt

ALGORITHM = "HS256"


class InvalidToken(Exception):
    pass


class TokenClaims(NamedTuple):
    user_id: int | None  # a staff user's token
    stamp: str
    client_id: str | None = None  # a backend client's token (SMART Backend Services)
    scope: str = ""  # the client's granted scopes, space-separated
    expires: datetime | None = None


def issue_token(*, user_id: int | None = None, client_id: str | None = None, scope: str = "", stamp: str, key: str,
                minutes: int, now: datetime | None = None) -> str:
    """A token for a staff user, or (``client_id`` and its granted ``scope``) for a backend client."""
    now = now or datetime.now(UTC)
    who = {"sub": str(user_id)} if client_id is None else {"sub": client_id, "client_id": client_id, "scope": scope}
    claims = {**who, "stamp": stamp, "iat": now, "exp": now + timedelta(minutes=minutes)}
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def read_token(token: str, *, key: str) -> TokenClaims:
    """Who a valid, unexpired token was issued to; the caller checks the stamp is still the account's or client's."""
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], options={"require": ["exp", "sub", "stamp"]})
        if not isinstance(claims["stamp"], str):
            raise ValueError("the stamp is not a string")
        expires = datetime.fromtimestamp(claims["exp"], UTC)
        if "client_id" in claims:
            if not isinstance(claims["client_id"], str) or not isinstance(claims.get("scope"), str):
                raise ValueError("the client or its scope is not a string")
            return TokenClaims(None, claims["stamp"], claims["client_id"], claims["scope"], expires)
        return TokenClaims(int(claims["sub"]), claims["stamp"], expires=expires)
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("the access token has expired; sign in again") from exc
    except (jwt.InvalidTokenError, ValueError) as exc:
        raise InvalidToken("the access token is not valid") from exc
