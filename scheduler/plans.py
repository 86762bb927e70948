"""Treatment plans: create one for a patient, propose the whole series, confirm or discard it.

A proposal turns the plan and the live schedule into a ``solver.plans``
problem, solves it with CP-SAT (greedy first-fit as hint and fallback), has the
independent checker verify the answer, and only then places a hold on every
placed session through the same booking code as the front desk. Each session
that cannot be placed gets its own reason (``scheduler.unplaced``). Confirming
books all the plan's holds in one transaction; discarding releases them.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from data.catalog import in_service
from data.config import Settings
from data.enums import AppointmentStatus, LinkKind, MessageKind, PlanStatus
from data.errors import Conflict, Invalid, NotFound
from data.locking import locked
from data.tables import (
    Appointment,
    Location,
    PlanBlackout,
    PlanLine,
    PlanLink,
    PlanSession,
    PlanTemplate,
    PlanWindow,
    Service,
    TreatmentPlan,
    User,
)
from scheduler import booking, outbox
from scheduler.availability import SlotQuery, build_search, last_clinician, session_kind
from scheduler.catalog_snapshot import catalog
from scheduler.plan_calendar import plan_calendar
from scheduler.clock import from_minute, to_minute
from scheduler.unplaced import unplaced_reasons
from solver.intervals import intersect
from solver.plan_check import check
from solver.plan_greedy import place_greedily
from solver.plan_model import Limits, explain_unplaced, solve_plan
from solver.plans import Before, PlanProblem, PlanSolution, SameClinician, SameVisit

LINE_FIELDS = ("service_id", "count", "min_gap_days", "max_gap_days", "min_gap_hours", "max_gap_hours",
               "same_clinician")
LINK_FIELDS = ("kind", "first_service_id", "then_service_id")
MIN_EXPLANATION_SECONDS = 0.3


def create_plan(session: Session, *, actor: User, values: dict, now: datetime) -> TreatmentPlan:
    """A draft plan; lines and links come from the template unless given."""
    plan = TreatmentPlan(created_by_id=actor.id, created_at=now)
    _write(session, plan, values, now)
    session.add(plan)
    session.flush()
    return plan


def edit_plan(session: Session, *, actor: User, plan_id: int, values: dict, now: datetime) -> TreatmentPlan:
    """Change a plan that is not confirmed yet; a proposal it had is withdrawn (its holds released)."""
    plan = _plan_to_change(session, plan_id)
    if plan.status == PlanStatus.CONFIRMED:
        raise Conflict(f"plan {plan_id} is confirmed; cancel its appointments to change it")
    _release_proposal(session, actor=actor, plan=plan, now=now, reason=f"plan {plan_id} edited")
    _write(session, plan, values, now)
    plan.status = PlanStatus.DRAFT
    session.flush()
    return plan


def _write(session: Session, plan: TreatmentPlan, values: dict, now: datetime) -> None:
    if values.get("patient_id") is not None:
        booking.patient_to_serve(session, values["patient_id"], ("patient_id",))
    for field, table in (("location_id", Location), ("template_id", PlanTemplate)):
        if values.get(field) is not None and session.get(table, values[field]) is None:
            raise Invalid((field,), f"{field.removesuffix('_id').replace('_', ' ')} {values[field]} does not exist")
    lines, links = values["lines"], values["links"]
    if not lines:
        template = session.get(PlanTemplate, values["template_id"])
        lines = [_fields(line, LINE_FIELDS) for line in template.lines]
        links = [_fields(link, LINK_FIELDS) for link in template.links]
    for index, line in enumerate(lines):
        in_service(session, Service, line["service_id"], ("lines", index, "service_id"))
    for name in ("patient_id", "location_id", "template_id", "earliest_start", "latest_end", "priority"):
        setattr(plan, name, values.get(name))
    if plan.id is not None:  # old rows go first: a new line may reuse a service (unique per plan)
        plan.lines, plan.links, plan.windows, plan.blackouts = [], [], [], []
        session.flush()
    plan.lines = [PlanLine(**line) for line in lines]
    plan.links = [PlanLink(**link) for link in links]
    plan.windows = [PlanWindow(**window) for window in values["windows"]]
    plan.blackouts = [PlanBlackout(day=day) for day in sorted(set(values["blackouts"]))]
    plan.updated_at = now


def current_values(plan: TreatmentPlan) -> dict:
    """The plan as the fields it was created from, for merging an edit into."""
    return {
        "patient_id": plan.patient_id, "location_id": plan.location_id, "template_id": plan.template_id,
        "earliest_start": plan.earliest_start, "latest_end": plan.latest_end, "priority": plan.priority,
        "lines": [_fields(line, LINE_FIELDS) for line in plan.lines],
        "links": [_fields(link, LINK_FIELDS) for link in plan.links],
        "windows": [_fields(window, ("weekday", "starts", "ends", "preferred")) for window in plan.windows],
        "blackouts": [blackout.day for blackout in plan.blackouts],
    }


def get_plan(session: Session, plan_id: int) -> TreatmentPlan:
    plan = session.get(TreatmentPlan, plan_id)
    if plan is None:
        raise NotFound("plan", plan_id)
    return plan


def _plan_to_change(session: Session, plan_id: int) -> TreatmentPlan:
    """The plan locked and read fresh: an edit, a proposal and a confirmation of one plan take turns."""
    plan = locked(session, TreatmentPlan, plan_id)
    if plan is None:
        raise NotFound("plan", plan_id)
    return plan


def propose(session: Session, *, actor: User, plan_id: int, now: datetime, settings: Settings) -> PlanSolution:
    """Place the whole series against the live schedule and hold every placed session."""
    plan = _plan_to_change(session, plan_id)
    if plan.status == PlanStatus.CONFIRMED:
        raise Conflict(f"plan {plan_id} is confirmed; cancel its appointments to change it")
    _release_proposal(session, actor=actor, plan=plan, now=now, reason=f"plan {plan_id} proposed again")
    booking.release_expired_holds(session, now=now)
    problem = build_problem(session, plan, now=now, settings=settings)
    budget = settings.proposal_time_limit_seconds
    solution = _checked(problem, solve_plan(problem, Limits(budget, settings.solver_workers)))
    reasons = {}
    placed = {(p.kind, p.index): p for p in solution.placements}
    if len(placed) < sum(kind.count for kind in problem.kinds):
        left = max(budget - solution.seconds, MIN_EXPLANATION_SECONDS)  # one budget for solving and explaining
        reasons = unplaced_reasons(plan, problem, solution.placements, explain_unplaced(problem, Limits(left, 1)),
                                   catalog(session))
    zone = ZoneInfo(session.get(Location, plan.location_id).time_zone)
    for kind in problem.kinds:
        service_id = int(kind.key)
        for index in range(kind.count):
            placement = placed.get((kind.key, index))
            appointment = None
            if placement is not None:
                appointment = booking.place_hold(
                    session, actor=actor, minutes=settings.plan_hold_minutes, now=now, settings=settings,
                    choice=booking.SlotChoice(service_id, plan.patient_id, from_minute(placement.start, zone),
                                              placement.clinician, placement.room, placement.devices),
                )
            plan.sessions.append(PlanSession(service_id=service_id, sequence=index + 1,
                                             appointment_id=appointment.id if appointment else None,
                                             unplaced_reason=reasons.get((kind.key, index), "")))
    plan.status, plan.updated_at = PlanStatus.PROPOSED, now
    session.flush()
    return solution


def confirm(session: Session, *, actor: User, plan_id: int, now: datetime, settings: Settings) -> TreatmentPlan:
    """Book every held session of the proposal at once; any lapsed hold and nothing is booked.

    The patient hears of it once, one message listing every session, not one per booking.
    """
    plan = _plan_to_change(session, plan_id)
    if plan.status != PlanStatus.PROPOSED:
        raise Conflict(f"plan {plan_id} is {plan.status.value}; propose it first")
    with outbox.told_by_caller(session):
        booked = [booking.book_hold(session, actor=actor, hold_id=plan_session.appointment_id, now=now,
                                    settings=settings, for_plan=plan_id)
                  for plan_session in plan.sessions if plan_session.appointment_id is not None]
    plan.status, plan.updated_at = PlanStatus.CONFIRMED, now
    session.flush()
    _tell_confirmed(session, plan, booked, now)
    return plan


def _tell_confirmed(session: Session, plan: TreatmentPlan, booked: list[Appointment], now: datetime) -> None:
    """The patient's message: every booked session, in time order, as "Tuesday, December 1 at 9:15 AM: Shockwave
    therapy" in the location's zone; the first one is the message's appointment (its link and short text)."""
    if not booked:
        return
    booked = sorted(booked, key=lambda appointment: appointment.starts_at)
    zone = ZoneInfo(session.get(Location, plan.location_id).time_zone)
    names = catalog(session).services
    lines = [f"{outbox.spoken(a.starts_at, zone)}: {names[a.service_id].name}" for a in booked]
    outbox.tell(session, outbox.Telling(MessageKind.PLAN_CONFIRMED, f"plan:{plan.id}:confirmed",
                                        plan.patient_id, plan.location_id, booked[0].id, {"sessions": lines}),
                now=now)


def discard(session: Session, *, actor: User, plan_id: int, now: datetime) -> TreatmentPlan:
    """Give up the proposal: its holds are released and the plan is a draft again, to edit or propose anew."""
    plan = _plan_to_change(session, plan_id)
    if plan.status == PlanStatus.CONFIRMED:
        raise Conflict(f"plan {plan_id} is confirmed, so there is no proposal to discard any more; "
                       "cancel its appointments to change it")
    if plan.status != PlanStatus.PROPOSED:
        raise Conflict(f"plan {plan_id} is a draft with no proposal to discard")
    _release_proposal(session, actor=actor, plan=plan, now=now, reason=f"plan {plan_id}'s proposal discarded")
    plan.status, plan.updated_at = PlanStatus.DRAFT, now
    session.flush()
    return plan


def _release_proposal(session: Session, *, actor: User, plan: TreatmentPlan, now: datetime, reason: str) -> None:
    """A new proposal, an edit or a discard replaces the last proposal: its holds are given up first."""
    for plan_session in plan.sessions:
        if plan_session.appointment_id is None:
            continue
        if booking.lock_appointment(session, plan_session.appointment_id).status == AppointmentStatus.PENDING:
            booking.change_status(session, actor=actor, appointment_id=plan_session.appointment_id, action="release",
                                  now=now, reason=reason, for_plan=plan.id)
    plan.sessions = []
    session.flush()


def _checked(problem: PlanProblem, solution: PlanSolution) -> PlanSolution:
    """Nothing unverified is written: a solution the checker rejects falls back to greedy, or stops."""
    if not check(problem, solution):
        return solution
    fallback = place_greedily(problem)
    violations = check(problem, fallback)
    if violations:
        raise RuntimeError(f"no placement passed the checker: {[v.message for v in violations]}")
    return fallback


def build_problem(session: Session, plan: TreatmentPlan, *, now: datetime, settings: Settings) -> PlanProblem:
    """The plan and the live schedule as solver data, over the plan's dates."""
    snapshot = catalog(session)
    location = snapshot.locations[plan.location_id]
    times = plan_calendar(plan, location.zone)
    horizon_start, horizon_end = times.horizon
    continuity = last_clinician(session, plan.patient_id, now)

    kinds, open_hours, patient_free, origin = [], None, None, 0
    for line in plan.lines:
        service = snapshot.services[line.service_id]
        query = SlotQuery(service_id=service.id, start=horizon_start, end=horizon_end, location_id=location.id,
                          patient_id=plan.patient_id)
        search = build_search(session, query, service, location, now=now, settings=settings,
                              continuity=continuity, unusable_gap=snapshot.shortest_service)
        open_hours, patient_free, origin = search.open_hours, search.patient.free, search.grid_origin
        kinds.append(session_kind(
            service, search, count=line.count, min_gap_days=line.min_gap_days, max_gap_days=line.max_gap_days,
            min_gap_hours=line.min_gap_hours, max_gap_hours=line.max_gap_hours,
            same_clinician=SameClinician(line.same_clinician.value),
        ))

    notice = -(-int((now + timedelta(minutes=settings.min_notice_minutes)).timestamp()) // 60)
    dates = (max(to_minute(horizon_start), notice), to_minute(horizon_end))
    allowed = intersect(open_hours, [dates])
    if times.windows is not None:
        allowed = intersect(allowed, times.windows)
    return PlanProblem(
        kinds=tuple(kinds), allowed=allowed, patient_free=patient_free, day_starts=times.day_starts,
        same_visits=tuple(SameVisit(str(l.first_service_id), str(l.then_service_id))
                          for l in plan.links if l.kind == LinkKind.SAME_VISIT),
        befores=tuple(Before(str(l.first_service_id), str(l.then_service_id))
                      for l in plan.links if l.kind == LinkKind.BEFORE),
        preferred=times.preferred, open_hours=open_hours, windows=times.windows, dates=dates,
        grid=settings.slot_grid_minutes,
        grid_origin=origin, last_clinician=continuity,
    )


def _fields(row, names: tuple[str, ...]) -> dict:
    return {name: getattr(row, name) for name in names}
