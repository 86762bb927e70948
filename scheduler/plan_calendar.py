"""A treatment plan's calendar: its days, the patient's windows less blackouts, and the rules a moved session keeps.

The plan proposal (``scheduler.plans``) and a move of a booked session of a
confirmed plan (``booking.reschedule``) read a plan's dates, windows and
blackouts the same way, in the location's zone. A move is checked against the
plan's own rules, as the patient agreed them: the desk (or a FHIR client, or
the patient's own move request) could otherwise put session 3 an hour after
session 2 of a course "at least 48 h apart", onto a blackout day, after the
plan's last day or at another clinic, with no word (found by a probe,
2026-12-02). The desk may still move it where the patient agreed to
(``outside_plan``).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from data.enums import AppointmentStatus, LinkKind, PlanStatus
from data.locking import locked
from data.tables import Appointment, PlanSession, TreatmentPlan
from scheduler.catalog_snapshot import catalog
from scheduler.clock import local_instant, to_minute, weekly
from solver.intervals import Intervals, intersect, normalize, subtract
from solver.plan_check import move_breaks
from solver.plans import Before, Placement, PlanProblem, SameClinician, SameVisit, SessionKind

# A plan's session that happened or is promised counts for its neighbours' spacing; a cancelled one does not.
KEPT = (AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED, AppointmentStatus.FULFILLED)


@dataclass(frozen=True)
class PlanCalendar:
    """The plan's local days as instants: ``horizon`` from its first day's midnight to the midnight after its last;
    ``windows`` the patient's weekly windows less blackout days (None: any time); ``preferred`` the windows they
    like best; ``day_starts`` every local midnight of the plan and the one after, for counting calendar days."""

    days: list[date]
    horizon: tuple[datetime, datetime]
    windows: Intervals | None
    preferred: Intervals
    day_starts: tuple[int, ...]


def plan_calendar(plan: TreatmentPlan, zone: ZoneInfo) -> PlanCalendar:
    first_day, after_last = plan.earliest_start, plan.latest_end + timedelta(days=1)
    days = [first_day + timedelta(days=n) for n in range((after_last - first_day).days)]
    calendar_days = [first_day - timedelta(days=1), *days, after_last]
    horizon = (datetime.combine(first_day, time(0), zone), datetime.combine(after_last, time(0), zone))
    windows = None
    if plan.windows:
        windows = weekly(((w.weekday, w.starts, w.ends) for w in plan.windows), calendar_days, zone)
    blackouts = normalize((local_instant(b.day, time(0), zone), local_instant(b.day + timedelta(days=1), time(0), zone))
                          for b in plan.blackouts)
    if windows is not None or blackouts:
        windows = subtract(windows if windows is not None else [tuple(map(to_minute, horizon))], blackouts)
    return PlanCalendar(
        days=days, horizon=horizon, windows=windows,
        preferred=weekly(((w.weekday, w.starts, w.ends) for w in plan.windows if w.preferred), calendar_days, zone),
        day_starts=tuple(local_instant(day, time(0), zone) for day in [*days, after_last]))


def move_rules(session: Session, appointment: Appointment, *,
               lock: bool = False) -> Callable[[datetime, int], list[str]]:
    """What the confirmed plan the appointment is a session of says against moving it to a start at a location,
    in the desk's words (the plan named first): a function, read once for many times (the patient's page lists a
    fortnight of them); it finds nothing for a session of no plan.

    With ``lock`` (a move about to be written, its appointment locked) the plan is locked too and its other
    sessions' times are read after that: two moves of one course's sessions at once were each checked against
    the other's old time, and together swapped the sessions' order (found by a probe). Every move takes the
    appointment first and then the plan, and nothing takes a confirmed plan and then its booked sessions.
    """
    found = session.exec(select(PlanSession, TreatmentPlan).join(TreatmentPlan).where(
        PlanSession.appointment_id == appointment.id, TreatmentPlan.status == PlanStatus.CONFIRMED)).first()
    if found is None:
        return lambda start, location_id: []
    moved, plan = found
    if lock:
        plan = locked(session, TreatmentPlan, plan.id)
    snapshot = catalog(session)
    location = snapshot.locations[plan.location_id]
    times = plan_calendar(plan, location.zone)
    window = tuple(map(to_minute, times.horizon))
    allowed = intersect(weekly(location.opening_hours, times.days, location.zone), [window])
    if times.windows is not None:
        allowed = intersect(allowed, times.windows)
    kinds = tuple(SessionKind(
        key=str(line.service_id), name=snapshot.services[line.service_id].name, count=line.count,
        duration=snapshot.services[line.service_id].duration, clinicians=(), min_gap_days=line.min_gap_days,
        max_gap_days=line.max_gap_days, min_gap_hours=line.min_gap_hours, max_gap_hours=line.max_gap_hours,
        same_clinician=SameClinician(line.same_clinician.value)) for line in plan.lines)
    problem = PlanProblem(
        kinds=kinds, allowed=allowed, patient_free=[window], day_starts=times.day_starts,
        same_visits=tuple(SameVisit(str(link.first_service_id), str(link.then_service_id))
                          for link in plan.links if link.kind == LinkKind.SAME_VISIT),
        befores=tuple(Before(str(link.first_service_id), str(link.then_service_id))
                      for link in plan.links if link.kind == LinkKind.BEFORE))
    booked = {row.id: row for row in session.exec(
        select(Appointment).join(PlanSession, PlanSession.appointment_id == Appointment.id)
        .where(PlanSession.plan_id == plan.id, Appointment.id != appointment.id)
        .execution_options(populate_existing=True))}
    others, moved_at = [], None
    for line in plan.lines:
        rows = sorted((s for s in plan.sessions if s.service_id == line.service_id), key=lambda s: s.sequence)
        for index, plan_session in enumerate(rows):
            if plan_session.id == moved.id:
                moved_at = (str(line.service_id), index)
                continue
            kept = booked.get(plan_session.appointment_id)
            if kept is not None and kept.status in KEPT:
                others.append(Placement(str(line.service_id), index, to_minute(kept.starts_at), 0))

    def refusals(start: datetime, location_id: int) -> list[str]:
        if location_id != plan.location_id:
            return [f"treatment plan {plan.id} is at {location.name}: its sessions are given there"]
        if moved_at is None:  # the session's line was removed from the plan since: no rule of it to keep
            return []
        placements = [*others, Placement(*moved_at, to_minute(start), 0)]
        return [f"treatment plan {plan.id}: {violation.message}"
                for violation in move_breaks(problem, placements, moved_at)]

    return refusals
