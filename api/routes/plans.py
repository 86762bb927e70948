"""Treatment plans: create from a template, propose the whole series, confirm or discard the proposal."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from pydantic import ValidationError
from sqlmodel import Session, select

from api.catalog import RecordId
from api.deps import NowDep, SessionDep, SettingsDep, require_role
from api.schemas.booking import AppointmentPublic
from api.routes.catalog import PatientFilter, patients_where
from api.schemas.common import IdentParam, Page, Text
from api.errors import validation_error_from
from api.paging import PagingDep, one_page
from api.schemas.plans import PlanCreate, PlanPublic, PlanUpdate, ProposalPublic
from data.enums import PlanStatus, Role
from data.tables import Appointment, Patient, PlanSession, PlanTemplate, TreatmentPlan, User
from scheduler import plans
from scheduler.catalog_snapshot import CatalogSnapshot, catalog

router = APIRouter(prefix="/plans", tags=["plans"])
Desk = Annotated[User, Depends(require_role(Role.ADMIN, Role.FRONT_DESK))]


def plan_public(session: Session, plan: TreatmentPlan, snapshot: CatalogSnapshot | None = None) -> PlanPublic:
    """The plan as the API shows it; ``snapshot``, the catalog for the names, when a list has it at hand already."""
    snapshot = snapshot or catalog(session)
    patient = session.get(Patient, plan.patient_id)
    template = session.get(PlanTemplate, plan.template_id) if plan.template_id is not None else None
    return PlanPublic(
        id=plan.id, status=plan.status, patient_id=plan.patient_id,
        patient_name=f"{patient.given_name} {patient.family_name}", location_id=plan.location_id,
        template_id=plan.template_id, template_name=template.name if template else None,
        earliest_start=plan.earliest_start, latest_end=plan.latest_end, priority=plan.priority,
        lines=[line.model_dump(include=set(plans.LINE_FIELDS)) for line in plan.lines],
        links=[link.model_dump(include={"kind", "first_service_id", "then_service_id"}) for link in plan.links],
        windows=[window.model_dump(include={"weekday", "starts", "ends", "preferred"}) for window in plan.windows],
        blackouts=[blackout.day for blackout in plan.blackouts],
        sessions=[session_public(session, s, snapshot) for s in plan.sessions],
    )


def session_public(session: Session, plan_session: PlanSession, snapshot: CatalogSnapshot) -> dict:
    """A plan's session with its appointment and who and what serve it, by name (archived ones too, and rooms and
    units moved to another location since: a unit moved away made every plan list holding it a 500)."""
    shown = {"service_id": plan_session.service_id, "sequence": plan_session.sequence,
             "unplaced_reason": plan_session.unplaced_reason, "appointment": None}
    if plan_session.appointment_id is None:
        return shown
    appointment = AppointmentPublic.of(session.get(Appointment, plan_session.appointment_id))
    places = snapshot.locations.values()
    rooms = {r.id: r.name for place in places for r in place.rooms}
    units = {u.id: u.name for place in places for u in place.units}
    clinician = snapshot.clinicians.get(appointment.clinician_id)
    return {**shown, "appointment": appointment, "clinician_name": clinician.name if clinician else None,
            "room_name": rooms.get(appointment.room_id), "device_names": [units.get(d, f"unit {d}") for d in appointment.device_ids]}


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
    patient_id: IdentParam | None = None,
    patient: Annotated[Text | None, Query(max_length=120, description="Words that start the patient's names")] = None,
    status_is: Annotated[PlanStatus | None, Query(alias="status")] = None,
):
    """The newest plans first."""
    statement = select(TreatmentPlan)
    if patient_id is not None:
        statement = statement.where(TreatmentPlan.patient_id == patient_id)
    if patient:
        named = select(Patient.id).where(*patients_where(PatientFilter(name=patient)))
        statement = statement.where(TreatmentPlan.patient_id.in_(named))
    if status_is is not None:
        statement = statement.where(TreatmentPlan.status == status_is)
    snapshot = catalog(session)
    return one_page(session, statement, paging, TreatmentPlan.id.desc(),
                    convert=lambda plan: plan_public(session, plan, snapshot))


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


@router.delete("/{ident}/proposal", response_model=PlanPublic,
               responses={409: {"description": "The plan has no proposal any more (a draft, or confirmed)"}})
def discard(ident: RecordId, session: SessionDep, now: NowDep, user: Desk):
    """Discard the proposal: every hold it placed is released and the plan is a draft again."""
    plan = plans.discard(session, actor=user, plan_id=ident, now=now)
    session.commit()
    return plan_public(session, plan)


@router.post("/{ident}/confirm", response_model=PlanPublic)
def confirm(ident: RecordId, session: SessionDep, settings: SettingsDep, now: NowDep, user: Desk):
    """Book every held session of the proposal in one transaction."""
    plan = plans.confirm(session, actor=user, plan_id=ident, now=now, settings=settings)
    session.commit()
    return plan_public(session, plan)
