"""What a run's record says about the night it solved: how good, against what bounds, and who is still waiting.

The record answers the questions a clinic manager and the front desk ask the
morning after: how many waiting sessions got a time, how far that is from
what is provably possible (two proofs: CP-SAT's own bound and an independent
relaxation, kept apart so a weak one is visible as such), how it compares
with first-fit, and which sessions still wait and why (``night_reasons``,
computed against the answer as written). Sessions the solver placed but the
booking check then refused are left waiting too, with the booking's words,
and the levels are measured again without them.
Reading a record back (``names``), its ids get the names the catalog has now.
"""

import math
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlmodel import Session, select

from data.enums import AppointmentStatus
from data.tables import Appointment, OptimizationRun, Patient
from scheduler.catalog_snapshot import catalog
from scheduler.night import Night
from solver.night_problem import ReplanSolution, Stage
from solver.night_reasons import left_waiting
from solver.replan import without


@dataclass(frozen=True)
class NightReport:
    """The run record's account of one solved night (``changes`` are the writes, in ``night.write``'s words)."""

    changes: list[dict] = field(default_factory=list)
    stages: list[dict] = field(default_factory=list)
    greedy: dict = field(default_factory=dict)
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    solver_gap: float | None = None
    relaxation_gap: float | None = None
    first_solution_seconds: float | None = None
    points_waiting: int = 0
    waiting: list[dict] = field(default_factory=list)


def report(night: Night, answer: ReplanSolution, changes: list[dict]) -> NightReport:
    """The record of a checked and written answer: its stages, both gaps of the placed stage, and who waits. The
    levels are those of what was written: a placement the booking check refused counts as not placed."""
    solution = without(night.problem, answer, {change["session"] for change in changes
                                               if change["action"] == "not_placed"})
    placed = solution.stage("placed")
    return NightReport(
        changes=changes, stages=[_stage(stage) for stage in solution.stages], greedy=dict(solution.greedy or {}),
        objective=solution.objective, bound=_finite(solution.bound), gap=_finite(solution.gap),
        solver_gap=None if placed is None else _finite(replace(placed, relaxation=None).gap),
        relaxation_gap=None if placed is None else _finite(replace(placed, bound=None).gap),
        first_solution_seconds=solution.first_solution_seconds,
        points_waiting=sum(waiting.priority for waiting in night.problem.waiting),
        waiting=_still_waiting(night, solution, changes),
    )


def _stage(stage: Stage) -> dict:
    return {"name": stage.name, "sense": stage.sense, "value": stage.value, "bound": _finite(stage.bound),
            "relaxation": _finite(stage.relaxation), "gap": _finite(stage.gap), "status": stage.status}


def _still_waiting(night: Night, solution: ReplanSolution, changes: list[dict]) -> list[dict]:
    """Each waiting session without a time after the run, with its reason, in the night's order."""
    reasons = {left.key: (left.code, left.reason) for left in left_waiting(night.problem, solution.placements)}
    reasons |= {change["session"]: ("booking_refused", f"the booking check refused its time: {change['reason']}")
                for change in changes if change["action"] == "not_placed"}
    reasons |= {key: ("plan_clinician_gone", why) for key, why in night.plan_clinician_gone.items() if key in reasons}
    entries = []
    for waiting in night.problem.waiting:
        if waiting.key not in reasons:
            continue
        code, reason = reasons[waiting.key]
        entry = {"key": waiting.key, "patient_id": waiting.patient, "service_id": int(waiting.kind.key),
                 "priority": waiting.priority, "code": code, "reason": reason}
        if waiting.key in night.requests:
            entry["request_id"] = night.requests[waiting.key].id
        else:
            plan, plan_session = night.plan_sessions[waiting.key]
            entry |= {"plan_id": plan.id, "sequence": plan_session.sequence}
        entries.append(entry)
    return entries


def names(session: Session, run: OptimizationRun) -> dict[str, dict]:
    """The names behind the ids the record holds: patients (an erased one's pseudonym), services, clinicians,
    rooms and units, and whose session each moved, reassigned or kept-as-booked appointment is."""
    snapshot = catalog(session)
    location = snapshot.locations[run.location_id]
    changed = [change["appointment_id"] for change in run.changes
               if change["action"] in ("move", "reassign", "kept_as_booked")]
    appointments = {row.id: {"patient_id": row.patient_id, "service_id": row.service_id} for row in session.exec(
        select(Appointment).where(Appointment.id.in_(changed)))} if changed else {}
    entries = [*run.changes, *run.waiting, *appointments.values()]
    patient_ids = {entry["patient_id"] for entry in entries if "patient_id" in entry}
    service_ids = {entry["service_id"] for entry in entries if "service_id" in entry}
    served = [side for change in run.changes for side in (change.get("before"), change.get("after")) if side]
    clinician_ids, room_ids = {side["clinician_id"] for side in served}, {side["room_id"] for side in served}
    unit_ids = {unit for side in served for unit in side["device_ids"]}
    patients = session.exec(select(Patient).where(Patient.id.in_(patient_ids))).all() if patient_ids else []
    return {
        "patients": {patient.id: f"{patient.given_name} {patient.family_name}" for patient in patients},
        "services": {ident: service.name for ident, service in snapshot.services.items() if ident in service_ids},
        "clinicians": {ident: clinician.name for ident, clinician in snapshot.clinicians.items()
                       if ident in clinician_ids},
        "rooms": {room.id: room.name for room in location.rooms if room.id in room_ids},
        "devices": {unit.id: unit.name for unit in location.units if unit.id in unit_ids},
        "appointments": appointments,
    }


def _finite(number: float | None) -> float | None:
    """JSON and the database hold no infinities: an unproven bound is no bound."""
    return None if number is None or not math.isfinite(number) else number


NIGHT_PLACED = ("waitlist_hold", "plan_session")


def night_holds(session: Session, location_id: int, *, now: datetime, runs: int) -> list[dict]:
    """The holds the location's latest ``runs`` runs placed that still wait for the desk, with the run and what each
    is for (a waitlist request, a plan's session): a hold carries no mark of its own, and the Today page read up to
    20 whole run records for this (2.7 MB at 2,000 sessions a night) where these few rows do."""
    records = session.exec(
        select(OptimizationRun.id, OptimizationRun.run_date, OptimizationRun.changes)
        .where(OptimizationRun.location_id == location_id)
        .order_by(OptimizationRun.started_at.desc(), OptimizationRun.id.desc()).limit(runs)
    ).all()
    placed: dict[int, dict] = {}
    for run_id, run_date, changes in records:
        for change in changes or ():
            if change.get("action") in NIGHT_PLACED and change.get("appointment_id") not in (None, *placed):
                placed[change["appointment_id"]] = {
                    "appointment_id": change["appointment_id"], "run_id": run_id, "run_date": run_date,
                    "action": change["action"], "request_id": change.get("request_id"),
                    "plan_id": change.get("plan_id"), "sequence": change.get("sequence")}
    if not placed:
        return []
    waiting = set(session.exec(select(Appointment.id).where(
        Appointment.id.in_(placed), Appointment.status == AppointmentStatus.PENDING,
        Appointment.hold_expires_at > now)))
    return [hold for ident, hold in placed.items() if ident in waiting]
