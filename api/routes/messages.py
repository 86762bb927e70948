"""Patients' messages as the front desk sees them, and the patient's own choice of channels.

Staff (admins and the front desk): the history of one patient or one session, the list of messages given up or
uncertain, one message with its words, and Retry / Dismiss. Public: the unsubscribe link written in every
e-mail leads to a page (``/me/<secret>/stop``) whose button posts here; only a POST changes anything, since mail
scanners open every link.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.catalog import RecordId
from api.deps import NowDep, SessionDep, require_role
from api.paging import PagingDep, one_page
from api.routes.public import Token
from api.schemas.common import IdentParam, Page
from api.schemas.messages import ChoicesOut, MessageOut, MessageRead, RetryIn
from data.catalog import get
from data.entities import PATIENTS
from data.enums import Channel, MessageStatus, Role
from data.errors import NotFound
from data.tables import Appointment, PatientMessage, User
from scheduler import consent, message_history

router = APIRouter(tags=["messages"])
public = APIRouter(prefix="/public/patients/{token}", tags=["public"])
Desk = Annotated[User, Depends(require_role(Role.ADMIN, Role.FRONT_DESK))]
desk_only = [Depends(require_role(Role.ADMIN, Role.FRONT_DESK))]
NEWEST_FIRST = (PatientMessage.created_at.desc(), PatientMessage.id.desc())
ChannelQuery = Annotated[Channel, Query(description="email or sms")]


def _page(session, statement, paging) -> dict:
    return one_page(session, statement, paging, *NEWEST_FIRST,
                    convert=lambda message: message_history.viewed(session, message))


@router.get("/patients/{ident}/messages", response_model=Page[MessageOut], dependencies=desk_only)
def patient_messages(ident: RecordId, session: SessionDep, paging: PagingDep):
    """Everything written to the patient, newest first (addresses masked; open one message for its words)."""
    get(session, PATIENTS, ident)
    return _page(session, message_history.listed(patient_id=ident), paging)


@router.get("/appointments/{ident}/messages", response_model=Page[MessageOut], dependencies=desk_only)
def appointment_messages(ident: RecordId, session: SessionDep, paging: PagingDep):
    """Everything written about one session: its confirmation, moves, reminders, cancellation."""
    if session.get(Appointment, ident) is None:
        raise NotFound("appointment", ident)
    return _page(session, message_history.listed(appointment_id=ident), paging)


@router.get("/messages", response_model=Page[MessageOut], dependencies=desk_only)
def messages(
    session: SessionDep,
    paging: PagingDep,
    status_is: Annotated[list[MessageStatus] | None, Query(alias="status", description=(
        "Any of these (repeat it); none given: the problems, status=failed&status=uncertain"))] = None,
    location_id: IdentParam | None = None,
    dismissed: Annotated[bool | None, Query(description=(
        "false (default): only those still on the desk's list; true: only the dismissed ones"))] = False,
):
    """The desk's list of messages that went wrong, newest first, to retry or dismiss."""
    statement = message_history.listed(statuses=status_is or message_history.PROBLEMS, location_id=location_id,
                                       dismissed=dismissed)
    return _page(session, statement, paging)


@router.get("/messages/{ident}", response_model=MessageRead, dependencies=desk_only)
def message(ident: RecordId, session: SessionDep):
    """One message with its words, e.g. to read out to the patient who asks what was sent."""
    view, words = message_history.opened(session, message_id=ident)
    return MessageRead(**vars(view), body_text=words)


@router.post("/messages/{ident}/retry", response_model=MessageOut,
             responses={409: {"description": "Not failed or uncertain any more, out of date, or nowhere to send"},
                        422: {"description": "An uncertain text retried without not_received"}})
def retry(ident: RecordId, session: SessionDep, now: NowDep, user: Desk, body: RetryIn | None = None):
    """Send it again now (or when the location's quiet hours end), to the address the patient has now; the
    attempts so far are kept. An uncertain text only with ``not_received``: the patient says it did not arrive."""
    sent = message_history.retry(session, actor=user, message_id=ident, now=now,
                                 not_received=(body or RetryIn()).not_received)
    session.commit()
    return message_history.viewed(session, sent)


@router.post("/messages/{ident}/dismiss", response_model=MessageOut,
             responses={409: {"description": "Not failed or uncertain any more, or dismissed already"}})
def dismiss(ident: RecordId, session: SessionDep, now: NowDep, user: Desk):
    """Take a failed or uncertain message off the list (the patient was called, or got it after all)."""
    dismissed_message = message_history.dismiss(session, actor=user, message_id=ident, now=now)
    session.commit()
    return message_history.viewed(session, dismissed_message)


@public.get("/choices", response_model=ChoicesOut)
def my_choices(token: Token, session: SessionDep):
    """Who writes to the patient behind the link, and which channels are on (changes nothing)."""
    return consent.choices(session, token=token)


@public.post("/stop", response_model=ChoicesOut)
def stop(token: Token, channel: ChannelQuery, session: SessionDep, now: NowDep):
    """Turn e-mail or text messages off for the patient behind the link; the messages still waiting on that
    channel are not sent. Also answers a mail program's one-click unsubscribe (RFC 8058) posted to this URL."""
    choices = consent.choose(session, token=token, channel=channel, on=False, now=now)
    session.commit()
    return choices


@public.post("/resume", response_model=ChoicesOut)
def resume(token: Token, channel: ChannelQuery, session: SessionDep, now: NowDep):
    """Undo a stop: messages on that channel again, from the next one written."""
    choices = consent.choose(session, token=token, channel=channel, on=True, now=now)
    session.commit()
    return choices
