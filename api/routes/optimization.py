"""Optimization runs: start one by hand, read what the nightly runs did."""

from functools import partial
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Query, Request, status
from sqlmodel import Session, select

from api.catalog import RecordId
from api.deps import NowDep, SessionDep, SettingsDep, lent_out, require_role
from api.openapi import also_answers
from api.paging import PagingDep, one_page
from api.schemas.common import IdentParam, Page
from api.schemas.runs import NightHoldPublic, RunDetail, RunPublic, RunRequest
from data.enums import Role, RunStatus, RunTrigger
from data.errors import NotFound
from data.tables import Location, OptimizationRun
from scheduler.optimization import run_optimization
from scheduler.run_record import names, night_holds

router = APIRouter(prefix="/optimization-runs", tags=["optimization"])
# Read by the desk; started by administrators only (each route names its roles, so a refusal names the right ones).
Readers = [Depends(require_role(Role.ADMIN, Role.FRONT_DESK))]


@router.post("", response_model=RunPublic, status_code=status.HTTP_201_CREATED,
             dependencies=[Depends(require_role(Role.ADMIN))], responses=also_answers(404))
async def start_run(body: RunRequest, request: Request, session: SessionDep, settings: SettingsDep, now: NowDep):
    """Run the location's optimization now and answer with its record (it runs in its own transactions, while the
    desk's other requests go on)."""
    await anyio.to_thread.run_sync(session.commit)  # the request's own transaction ends before the run
    run = await lent_out(request, partial(run_optimization, request.app.state.engine, location_id=body.location_id,
                                          trigger=RunTrigger.MANUAL, now=now, settings=settings,
                                          run_date=body.night))
    return await anyio.to_thread.run_sync(_public, session, run)


@router.get("", response_model=Page[RunPublic], dependencies=Readers)
def list_runs(
    session: SessionDep,
    paging: PagingDep,
    location_id: IdentParam | None = None,
    status_is: Annotated[RunStatus | None, Query(alias="status")] = None,
    brief: Annotated[bool, Query(description="Without each run's changes and waiting list (their counts kept): "
                                             "a history to scan, each run then read whole by its id")] = False,
):
    """Runs, newest first; times in each run's location's zone."""
    statement = select(OptimizationRun)
    if location_id is not None:
        statement = statement.where(OptimizationRun.location_id == location_id)
    if status_is is not None:
        statement = statement.where(OptimizationRun.status == status_is)
    return one_page(session, statement, paging, OptimizationRun.started_at.desc(), OptimizationRun.id.desc(),
                    convert=lambda run: _public(session, run, brief=brief))


@router.get("/night-holds", response_model=list[NightHoldPublic], responses=also_answers(404), dependencies=Readers)
def holds_placed_at_night(
    session: SessionDep,
    now: NowDep,
    location_id: IdentParam,
    runs: Annotated[int, Query(ge=1, le=100, description="How many of the latest runs to look through")] = 20,
):
    """The holds the location's latest runs placed that are still live (the desk's Today page): which run placed
    each, and for which waitlist request or plan session. Newest run first."""
    if session.get(Location, location_id) is None:
        raise NotFound("location", location_id)
    return night_holds(session, location_id, now=now, runs=runs)


@router.get("/{ident}", response_model=RunDetail, dependencies=Readers)
def get_run(ident: RecordId, session: SessionDep):
    """One run, with the names of the patients, services and resources its record mentions."""
    run = session.get(OptimizationRun, ident)
    if run is None:
        raise NotFound("optimization run", ident)
    return RunDetail.of(run, session.get(Location, run.location_id).time_zone, names=names(session, run))


def _public(session: Session, run: OptimizationRun, *, brief: bool = False) -> RunPublic:
    return RunPublic.of(run, session.get(Location, run.location_id).time_zone, brief=brief)
