"""Bearer tokens: short-lived signed JWTs naming the user and the account's security stamp."""

from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import jwt

ALGORITHM = "HS256"


class InvalidToken(Exception):
    pass


class TokenClaims(NamedTuple):
    user_id: int
    stamp: str


def issue_token(*, user_id: int, stamp: str, key: str, minutes: int, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    claims = {"sub": str(user_id), "stamp": stamp, "iat": now, "exp": now + timedelta(minutes=minutes)}
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def read_token(token: str, *, key: str) -> TokenClaims:
    """Who a valid, unexpired token was issued to; the caller checks the stamp is still the account's."""
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], options={"require": ["exp", "sub", "stamp"]})
        if not isinstance(claims["stamp"], str):
            raise ValueError("the stamp is not a string")
        return TokenClaims(int(claims["sub"]), claims["stamp"])
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("the access token has expired; sign in again") from exc
    except (jwt.InvalidTokenError, ValueError) as exc:
        raise InvalidToken("the access token is not valid") from exc
