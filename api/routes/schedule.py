"""The schedule screen's data: one request per day or week shown."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.deps import NowDep, SessionDep, SettingsDep, require_role
from api.openapi import also_answers
from api.schemas.common import Day, IdentParam
from api.schemas.schedule import ScheduleOut
from data.enums import Role
from scheduler.schedule_screen import LONGEST, schedule_view

router = APIRouter(tags=["schedule"], dependencies=[Depends(require_role(Role.ADMIN, Role.FRONT_DESK))])


@router.get("/schedule", response_model=ScheduleOut, responses=also_answers(404))
def schedule(
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    location_id: IdentParam,
    day: Annotated[Day, Query(description="First local date shown")],
    days: Annotated[int, Query(ge=1, le=LONGEST, description="How many local days: 1 (day view) to 7 (week)")] = 1,
):
    """A location's clinicians, device units and rooms; every session and hold on them (lapsed holds left out);
    and when each cannot be booked, by cause (off shift, break, time off, maintenance, closed). Times carry the
    location's offset; ``location.time_zone`` and ``location.locale`` say how to show them."""
    return ScheduleOut.of(schedule_view(session, location_id, day, days, now=now), settings.slot_grid_minutes)
