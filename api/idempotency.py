"""Idempotency-Key: a retried request gets the first answer again and writes nothing.

The key is claimed (a row inserted) before the work is done, inside the same
transaction; a concurrent retry with the same key waits on that row and then
replays the stored answer, so even simultaneous retries book once. Only
successful answers are stored: a request that failed wrote nothing and may be
retried as it is.
"""

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from data.errors import Invalid
from data.tables import IdempotencyRecord, User

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=255,
           description="Send the same key when retrying: the first answer is returned and nothing is written twice"),
]


def respond_once(
    session: Session, *, user: User, key: str | None, request: Request, body: BaseModel | None, now: datetime,
    status_code: int, produce: Callable[[], BaseModel | dict], media_type: str = "application/json",
) -> JSONResponse:
    """Run ``produce`` and commit, or replay the answer already given to this key."""
    if key is None:
        payload = jsonable_encoder(produce())
        session.commit()
        return JSONResponse(payload, status_code=status_code, media_type=media_type)
    if user.id is None:  # a backend client: its keys would need their own owner column
        raise Invalid(("Idempotency-Key",), "Idempotency-Key is for staff sign-ins; a backend client makes a create "
                                            "safe to retry with If-None-Exist (a conditional create)", source="header")
    fingerprint = _fingerprint(request, body)
    replay = _replay(session, user, key, fingerprint, media_type)
    if replay is not None:
        return replay
    record = IdempotencyRecord(user_id=user.id, key=key, fingerprint=fingerprint, status_code=status_code, body={},
                               created_at=now)
    session.add(record)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return _replay(session, user, key, fingerprint, media_type)
    try:
        record.body = jsonable_encoder(produce())
    except BaseException:
        session.rollback()  # the claim goes with the failed work: a retry tries again
        raise
    session.commit()
    return JSONResponse(record.body, status_code=status_code, media_type=media_type)


def _fingerprint(request: Request, body: BaseModel | None) -> str:
    content = json.dumps(jsonable_encoder(body) if body is not None else None, sort_keys=True)
    return hashlib.sha256(f"{request.method} {request.url.path}\n{content}".encode()).hexdigest()


def _replay(session: Session, user: User, key: str, fingerprint: str, media_type: str) -> JSONResponse | None:
    stored = session.exec(
        select(IdempotencyRecord).where(IdempotencyRecord.user_id == user.id, IdempotencyRecord.key == key)
    ).first()
    if stored is None:
        return None
    if stored.fingerprint != fingerprint:
        raise Invalid(("Idempotency-Key",), "this Idempotency-Key was already used for a different request; "
                                            "use a new key for a new request", source="header")
    return JSONResponse(stored.body, status_code=stored.status_code, headers={"Idempotent-Replayed": "true"},
                        media_type=media_type)
