"""Treatment plans: create from a template, propose the whole series, confirm it."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from pydantic import ValidationError
from sqlmodel import Session, select

from api.catalog import RecordId
from api.deps import NowDep, SessionDep, SettingsDep, require_role
from api.schemas.booking import AppointmentPublic
from api.schemas.common import Ident, Page
from api.errors import validation_error_from
from api.paging import PagingDep, one_page
from api.schemas.plans import PlanCreate, PlanPublic, PlanUpdate, ProposalPublic
from data.enums import PlanStatus, Role
from data.tables import Appointment, TreatmentPlan, User
from scheduler import plans

router = APIRouter(prefix="/plans", tags=["plans"])
Desk = Annotated[User, Depends(require_role(Role.ADMIN, Role.FRONT_DESK))]


def plan_public(session: Session, plan: TreatmentPlan) -> PlanPublic:
    return PlanPublic(
        id=plan.id, status=plan.status, patient_id=plan.patient_id, location_id=plan.location_id,
        template_id=plan.template_id, earliest_start=plan.earliest_start, latest_end=plan.latest_end,
        priority=plan.priority,
        lines=[line.model_dump(include=set(plans.LINE_FIELDS)) for line in plan.lines],
        links=[link.model_dump(include={"kind", "first_service_id", "then_service_id"}) for link in plan.links],
        windows=[window.model_dump(include={"weekday", "starts", "ends", "preferred"}) for window in plan.windows],
        blackouts=[blackout.day for blackout in plan.blackouts],
        sessions=[{
            "service_id": s.service_id, "sequence": s.sequence, "unplaced_reason": s.unplaced_reason,
            "appointment": AppointmentPublic.of(session.get(Appointment, s.appointment_id))
            if s.appointment_id else None,
        } for s in plan.sessions],
    )


@router.post("", response_model=PlanPublic, status_code=status.HTTP_201_CREATED)
def create_plan(body: PlanCreate, session: SessionDep, now: NowDep, user: Desk):
    """A draft plan for a patient; lines and links are copied from the template when left out."""
    plan = plans.create_plan(session, actor=user, values=body.model_dump(), now=now)
    session.commit()
    return plan_public(session, plan)


@router.patch("/{ident}", response_model=PlanPublic)
def edit_plan(ident: RecordId, body: PlanUpdate, session: SessionDep, now: NowDep, user: Desk):
    """Change dates, lines, links, windows or blackouts before confirming; a pending proposal is withdrawn."""
    plan = plans.get_plan(session, ident)
    given = body.model_dump(exclude_unset=True)
    try:
        merged = PlanCreate.model_validate({**plans.current_values(plan), **given})
    except ValidationError as exc:
        raise validation_error_from(exc) from exc
    plan = plans.edit_plan(session, actor=user, plan_id=ident, values=merged.model_dump(), now=now)
    session.commit()
    return plan_public(session, plan)


@router.get("", response_model=Page[PlanPublic], dependencies=[Depends(require_role(Role.ADMIN, Role.FRONT_DESK))])
def list_plans(
    session: SessionDep,
    paging: PagingDep,
    patient_id: Ident | None = None,
    status_is: Annotated[PlanStatus | None, Query(alias="status")] = None,
):
    statement = select(TreatmentPlan)
    if patient_id is not None:
        statement = statement.where(TreatmentPlan.patient_id == patient_id)
    if status_is is not None:
        statement = statement.where(TreatmentPlan.status == status_is)
    return one_page(session, statement, paging, TreatmentPlan.id, convert=lambda plan: plan_public(session, plan))


@router.get("/{ident}", response_model=PlanPublic, dependencies=[Depends(require_role(Role.ADMIN, Role.FRONT_DESK))])
def get_plan(ident: RecordId, session: SessionDep):
    return plan_public(session, plans.get_plan(session, ident))


@router.post("/{ident}/proposal", response_model=ProposalPublic)
def propose(ident: RecordId, session: SessionDep, settings: SettingsDep, now: NowDep, user: Desk):
    """Place every session against the live schedule and hold them; unplaced ones say why."""
    solution = plans.propose(session, actor=user, plan_id=ident, now=now, settings=settings)
    session.commit()
    plan = plans.get_plan(session, ident)
    placed = sum(1 for s in plan.sessions if s.appointment_id)
    return ProposalPublic(plan=plan_public(session, plan), placed=placed, unplaced=len(plan.sessions) - placed,
                          solver_status=solution.status, objective=solution.objective, bound=solution.bound,
                          seconds=round(solution.seconds, 3))


@router.post("/{ident}/confirm", response_model=PlanPublic)
def confirm(ident: RecordId, session: SessionDep, now: NowDep, user: Desk):
    """Book every held session of the proposal in one transaction."""
    plan = plans.confirm(session, actor=user, plan_id=ident, now=now)
    session.commit()
    return plan_public(session, plan)
