"""Rosters, the day board and clinicians' calendar feeds."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status
from pydantic import BaseModel

from api import etags
from api.deps import CurrentUser, NowDep, SessionDep, require_role
from api.openapi import also_answers
from api.schemas.common import Day, IdentParam, Instant
from api.urls import absolute_url
from data.enums import Role
from data.tables import User
from scheduler import calendar_feed
from scheduler.rosters import BoardRow, ClinicianRoster, RosterEntry, clinician_roster, day_board, day_rosters

router = APIRouter(tags=["rosters"])
feeds = APIRouter(tags=["rosters"])
Desk = Annotated[User, Depends(require_role(Role.ADMIN, Role.FRONT_DESK))]


class FeedPublic(BaseModel):
    url: str
    note: str = "Subscribe to this URL in a calendar app; issuing a new one or revoking stops this one."


def _own_or_staff(user: User, clinician_id: int) -> None:
    """Clinicians see only their own roster and feed; admins and the front desk see every clinician's."""
    if user.role == Role.CLINICIAN and user.clinician_id != clinician_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="clinicians can see only their own roster")


@router.get("/rosters/{day}", response_model=list[ClinicianRoster], responses=also_answers(404))
def rosters_of_day(day: Day, session: SessionDep, _: Desk, location_id: IdentParam | None = None):
    """Every clinician's sessions on a local date, with plan progress; clinicians without sessions included."""
    return day_rosters(session, day, location_id)


@router.get("/clinicians/{clinician_id}/roster", response_model=list[RosterEntry])
def roster_of_clinician(
    clinician_id: IdentParam,
    session: SessionDep,
    user: CurrentUser,
    start: Annotated[Instant, Query(description="From, with offset")],
    end: Annotated[Instant, Query(description="Until (exclusive), with offset; at most 62 days on")],
):
    _own_or_staff(user, clinician_id)
    return clinician_roster(session, clinician_id, start, end)


@router.get("/day-board/{day}", response_model=list[BoardRow], responses=also_answers(404))
def board_of_day(day: Day, session: SessionDep, _: Desk, location_id: IdentParam):
    """Clinicians, device units and rooms as rows, with what takes them (holds included) that local day."""
    return day_board(session, day, location_id)


@router.post("/clinicians/{clinician_id}/calendar-feed", response_model=FeedPublic,
             status_code=status.HTTP_201_CREATED)
def issue_feed(clinician_id: IdentParam, request: Request, session: SessionDep, user: CurrentUser, now: NowDep):
    """A calendar subscription URL for the clinician; the previous one, if any, stops working."""
    _own_or_staff(user, clinician_id)
    secret = calendar_feed.issue(session, clinician_id=clinician_id, now=now)
    session.commit()
    return FeedPublic(url=absolute_url(request, request.app.url_path_for("calendar_of_clinician", secret=secret)))


@router.delete("/clinicians/{clinician_id}/calendar-feed", status_code=status.HTTP_204_NO_CONTENT)
def revoke_feed(clinician_id: IdentParam, session: SessionDep, user: CurrentUser):
    _own_or_staff(user, clinician_id)
    if not calendar_feed.revoke(session, clinician_id=clinician_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"clinician {clinician_id} has no calendar feed")
    session.commit()


FEED = "/calendar/{secret}.ics"
FEED_HEADERS = {"Cache-Control": "private, no-cache", "Referrer-Policy": "no-referrer"}
CALENDAR = "text/calendar; charset=utf-8"


@feeds.head(FEED, name="calendar_of_clinician_head", include_in_schema=False)
@feeds.get(FEED, name="calendar_of_clinician", response_class=Response, responses={
    200: {"content": {"text/calendar": {}}, "headers": {"ETag": {"schema": {"type": "string"}}}},
    304: {"description": "Unchanged: If-None-Match named the feed's current ETag"}})
def calendar_of_clinician(secret: Annotated[str, Path(max_length=100)], request: Request, session: SessionDep,
                          now: NowDep):
    """The clinician's sessions as iCalendar; the secret in the URL is the only credential.

    A strong ETag from the bytes: If-None-Match with it is a 304. Cached by the subscriber's own app only
    (private) and revalidated on every poll (no-cache), so a change or a revocation shows at the next one.
    HEAD answers the same headers without the body. No Last-Modified: a renamed service or room, or the window
    moving on, changes the feed with no stored time to give, and If-Modified-Since would then hide the change.
    """
    body = calendar_feed.render(session, secret=secret, now=now)
    headers = {**FEED_HEADERS, "ETag": etags.of(body)}
    if etags.held(request, headers["ETag"]):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    if request.method == "HEAD":
        return Response(media_type=CALENDAR, headers={**headers, "Content-Length": str(len(body))})
    return Response(body, media_type=CALENDAR, headers=headers)
