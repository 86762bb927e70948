"""Request plumbing: the database session, the signed-in user and role checks.

Routes read like sentences because the plumbing lives in these aliases.
Dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def``
dependency in a worker thread, and that hop costs more than their work (a
third of a millisecond of CPU each, on every request).
"""

import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import anyio

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from api.security import InvalidToken, read_token
from data.config import Settings
from data.db import serialized
from data.enums import Role
from data.tables import User
from scheduler import backend_clients, smart_scopes
from scheduler.backend_clients import ClientActor

log = logging.getLogger("clinic.requests")
T = TypeVar("T")
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request, opened only when the database can take it.

    Requests queue here, in the event loop, for one of the sessions the
    database can serve at once (see ``data.db.session_capacity``). Waiting in a
    worker thread instead would let a burst of requests occupy every thread
    while the one holding the SQLite write lock or the last pooled connection
    waits for a thread to finish: a stall that ends in timeouts, not 409s.
    """
    async with request.app.state.session_gate:
        session = Session(serialized(request.app.state.engine), info={"settings": request.app.state.settings})
        try:
            yield session
        finally:
            _close(session)


async def lent_out(request: Request, work: Callable[[], T]) -> T:
    """Run ``work``, which keeps to its own sessions and transactions and takes long (a nightly run started by
    hand), in a worker thread with the request's place at the database lent to other requests meanwhile.

    On SQLite that place is the only one: held for a whole solve, it kept every other request of the desk,
    reads included, waiting until the run ended (found by a probe). The request's own session must have ended
    its transaction first; the place is taken back before the request reads again.
    """
    gate = request.app.state.session_gate
    gate.release()
    try:
        return await anyio.to_thread.run_sync(work)
    finally:
        await gate.acquire()


def _close(session: Session) -> None:
    """End the request's session; a database gone meanwhile has ended its transaction already.

    This runs after the answer has started (FastAPI closes a request's dependencies then), so an error here
    cannot become a 503: it would break the connection of a client whose answer, a committed booking's 201
    included, is on its way. A restart of PostgreSQL between the commit and this rollback did just that.
    """
    try:
        session.close()
    except DBAPIError as exc:  # the connection is invalidated and not returned to the pool
        log.warning("closing a request's database session failed (%s); its connection is discarded",
                    type(exc.orig).__name__ if exc.orig else type(exc).__name__)


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def client_key(request: Request) -> str:
    """The client's address, keyed with the app's secret so the database never holds the address itself."""
    address = request.client.host if request.client else "unknown"
    return hmac.new(request.app.state.token_key.encode(), address.encode(), hashlib.sha256).hexdigest()


async def get_now() -> datetime:
    """The current instant; one dependency, so tests can stand the clinic at any moment."""
    return datetime.now(UTC)


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
NowDep = Annotated[datetime, Depends(get_now)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def get_caller(request: Request, session: SessionDep,
               token: Annotated[str | None, Depends(oauth2_scheme)]) -> User | ClientActor:
    """The staff user or the backend client (with its granted scopes) a valid bearer token was issued to."""
    if token is None:
        raise _unauthorized("sign in first: this endpoint needs a bearer token from POST /api/v1/auth/token")
    try:
        claims = read_token(token, key=request.app.state.token_key)
    except InvalidToken as exc:
        raise _unauthorized(str(exc)) from exc
    if claims.client_id is not None:
        client = backend_clients.registered(session, claims.client_id)
        if (client is None or client.disabled_at is not None
                or not hmac.compare_digest(client.security_stamp.encode(), claims.stamp.encode())):
            raise _unauthorized("the client behind this token is disabled or was changed since it was issued; "
                                "ask for a new token")
        return ClientActor(client.client_id, tuple(smart_scopes.parse_scopes(claims.scope)))
    user = session.get(User, claims.user_id)
    if user is None or not user.is_active:
        raise _unauthorized("the account behind this token no longer exists or is disabled; sign in again")
    if not hmac.compare_digest(user.security_stamp.encode(), claims.stamp.encode()):
        raise _unauthorized("the account's role, password or status changed since this token was issued; "
                            "sign in again")
    return user


Caller = Annotated[User | ClientActor, Depends(get_caller)]


async def get_current_user(caller: Caller) -> User:
    """The signed-in staff user; a backend client's token opens the FHIR API only (403 here)."""
    if isinstance(caller, ClientActor):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            detail="a backend client's token opens only the FHIR API (/fhir); this endpoint is for "
                                   "staff")
    return caller


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_role(*roles: Role):
    """A dependency that lets only the given roles through (403 for the others)."""

    async def check(user: CurrentUser) -> User:
        return has_role(user, roles)

    return check


def has_role(user: User, roles: tuple[Role, ...]) -> User:
    """``user`` if their role is one of ``roles``; 403 naming the roles otherwise."""
    if user.role not in roles:
        allowed = ", ".join(role.value for role in roles)
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail=f"this needs one of the roles: {allowed}; you are {user.role.value}"
        )
    return user
