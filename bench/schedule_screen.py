"""Benchmark: the schedule screen for a full day, the API's answer and the page in headless Chromium (issue 15).

Proof point: "the schedule screen's data for a day of 20 clinicians x 12
sessions served in <= 150 ms p50 on the demo database; the page is
interactive in <= 1 s in headless Chromium".

What it builds (``build_day``), on a fresh SQLite database in a temporary
folder: the demo clinic (``data.demo``, anchored on today in New York, its
three demo users with a random password), then for the demo location

- clinicians up to ``--clinicians`` (20): the demo's ten plus names from
  ``MORE_CLINICIANS``, with weekday shifts (early, day and late in turn) and
  certifications for the 30-minute services; a demo clinician who does not
  work that weekday gets an extra shift 09:00-17:00 on the day;
- one treatment room per clinician and a second gym; device units in
  proportion to the clinicians (``UNITS_PER_CLINICIAN``);
- one patient per session to book.

The day is the first Thursday at least seven days ahead (a weekday on which
nine of the ten demo clinicians work; the demo's dated entries miss it). Each
clinician gets ``--sessions`` (12) booked sessions that day through the real
booking code (``scheduler.booking.book`` as the front desk, one transaction
each, the search picking room and units): walking the clinician's working
time from the shift start, it tries the services the clinician is certified
for in turn (a longer one only while the rest still fit before the shift
ends) and falls back to telehealth when no room or unit is free. So the
sessions hold real allocations (clinician, room, device units, patient).

What it measures, against a real ``clinic serve`` process on that database
(one uvicorn worker, its background hold sweeper on, as by default), signed
in as the demo front desk user ``frontdesk``:

- the API: ``GET /api/v1/schedule?location_id=..&day=..&days=1`` (day) and
  ``days=7`` (the Monday-to-Sunday week holding the day), ``--warmup`` (10)
  unmeasured then ``--requests`` (200) sequential requests each, from one
  keep-alive httpx client, timed with ``time.perf_counter`` around the whole
  request including reading the body: p50/p90/p99/mean/max ms, the server
  process's CPU ms per request, and the answer's size and counts;
- the page: headless Debian Chromium (``--chromium``, Playwright; never a
  downloaded browser), 1,440 x 900 px, requests leaving 127.0.0.1 aborted.
  It signs in once on /app/login, then ``--runs`` (10) times per view loads
  ``/app/schedule?location_id=..&day=..`` (and ``&view=week``) in the same
  tab. An init script (``TIMING_SCRIPT``) watches the document with a
  MutationObserver and notes ``performance.now()`` (milliseconds since the
  navigation started) when ``body[data-ready=true]`` is set and when, besides,
  the calendar shows every session of the answer (distinct
  ``[data-appointment]`` ids): that is the time reported. The /schedule
  request's resource timing (same clock) splits it into waiting for the answer
  and drawing after it, and Chromium's own figures (DevTools Performance
  domain) give the CPU time the tab's main thread and renderer process spent
  on the load, which other work on the machine hardly inflates, and the
  main thread's time in script and in layout and style. The first day-view
  run starts with the calendar component's files not yet in the browser's
  cache (the sign-in does not load them); every later run finds them cached,
  as the desk does.

Client, server and browser share the machine (2 cores here, often shared
with other work: see the load average and busy processes recorded).

Usage (from the project folder)::

    python bench/schedule_screen.py [--requests 200] [--runs 10] [--warmup 10]
                                    [--clinicians 20] [--sessions 12] [--quick]
                                    [--chromium /usr/bin/chromium] [--no-browser]

``--quick`` measures 30 requests and 3 page loads per view on the same data.
It prints a JSON summary and saves it to bench/results/schedule_screen.json;
the exit code is 1 when setup or a measurement fails (a missed target is
reported, not an error).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import secrets
import sys
import tempfile
import time
import traceback
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from data.config import Settings  # noqa: E402
from data.db import make_engine, serialized, session_scope  # noqa: E402
from data.demo import (  # noqa: E402
    DAY,
    EARLY,
    FAMILY_NAMES,
    GIVEN_NAMES,
    LATE,
    LOCATION_NAME,
    TIME_ZONE,
    ensure_demo_users,
    load_demo_clinic,
)
from data.enums import AppointmentStatus, ExceptionKind, RoomKind  # noqa: E402
from data.enums import Certification as C  # noqa: E402
from data.errors import Conflict  # noqa: E402
from data.migrate import upgrade  # noqa: E402
from data.tables import (  # noqa: E402
    Appointment,
    Clinician,
    ClinicianCertification,
    ClinicianException,
    ClinicianShift,
    Device,
    DeviceType,
    Location,
    Patient,
    Room,
    Service,
    ShiftBreak,
    User,
)
from scheduler import booking  # noqa: E402
from bench.common import percentile, to_json, versions  # noqa: E402
from bench.load import busy_processes, cpu_seconds, load_average, running_server  # noqa: E402

RESULTS_FILE = ROOT / "bench" / "results" / "schedule_screen.json"
API = "/api/v1"
FRONT_DESK = "frontdesk"
ZONE = ZoneInfo(TIME_ZONE)
THURSDAY = 3
DAYS_AHEAD = 7
GRID = 15  # minutes: slot starts lie on the quarter hour (Settings.slot_grid_minutes)
SHORTEST = 30  # minutes: the shortest service; what "room for the remaining sessions" is counted in
TARGET_API_P50_MS = 150.0
TARGET_INTERACTIVE_MS = 1000.0
PAGE_TIMEOUT_MS = 30_000
QUICK = {"requests": 30, "runs": 3, "warmup": 3}

# Added after the demo's ten, each with weekday shifts: early, day and late in turn.
MORE_CLINICIANS = [
    ("Grace Okafor", "PT, DPT", [C.PHYSICAL_THERAPY, C.EMTT, C.MANUAL_THERAPY]),
    ("Henrik Dahl", "DC", [C.MANUAL_THERAPY, C.ESWT, C.MSUS]),
    ("Lucia Ferreira", "PT, DPT", [C.PHYSICAL_THERAPY, C.DNS, C.EMTT]),
    ("Owen Gallagher", "DC, RMSK", [C.MSUS, C.DRY_NEEDLING, C.ESWT, C.MANUAL_THERAPY]),
    ("Mei Lin", "PTA", [C.PHYSICAL_THERAPY, C.EMTT]),
    ("Samir Haddad", "PT, OCS", [C.PHYSICAL_THERAPY, C.MANUAL_THERAPY, C.ESWT]),
    ("Ingrid Solberg", "EMTT technician", [C.EMTT]),
    ("Diego Marquez", "DC", [C.MANUAL_THERAPY, C.EMTT, C.DNS]),
    ("Hannah Weiss", "PT, DPT", [C.PHYSICAL_THERAPY, C.DRY_NEEDLING, C.MANUAL_THERAPY]),
    ("Kwame Asante", "MS, CSCS", [C.PHYSICAL_THERAPY, C.DNS, C.EMTT]),
]
SHIFT_TURNS = (EARLY, DAY, LATE)
COVER_SHIFT = (wall(9, 0), wall(17, 0))
# Units of each device type the location keeps per clinician (never fewer than the demo's), and their names.
UNITS_PER_CLINICIAN = {"ultrasound": (0.4, "Ultrasound"), "shockwave": (0.2, "Shockwave unit"),
                       "emtt": (0.3, "EMTT unit")}
# Services tried in turn (each clinician starting at another one), none with a buffer before; then telehealth.
ROTATION = ("eswt", "emtt", "sij_manual", "sij_reeducation", "dry_needling", "dns", "msus_diagnosis")
FALLBACK = "telehealth"


# --- the day ------------------------------------------------------------------------------


def bench_day(today: date) -> date:
    """The first Thursday at least a week ahead."""
    first = today + timedelta(days=DAYS_AHEAD)
    return first + timedelta(days=(THURSDAY - first.weekday()) % 7)


def week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def minute_of(at: wall) -> int:
    return at.hour * 60 + at.minute


def working_spans(clinician: Clinician, day: date) -> list[tuple[int, int]]:
    """The clinician's working time on ``day`` in local minutes: the weekly shift less its breaks, extra shifts."""
    spans = []
    for shift in clinician.shifts:
        if shift.weekday != day.weekday():
            continue
        start = minute_of(shift.starts)
        for pause in shift.breaks:
            spans.append((start, minute_of(pause.starts)))
            start = minute_of(pause.ends)
        spans.append((start, minute_of(shift.ends)))
    for extra in clinician.exceptions:
        local_start, local_end = extra.starts_at.astimezone(ZONE), extra.ends_at.astimezone(ZONE)
        if extra.kind == ExceptionKind.EXTRA_SHIFT and local_start.date() == day:
            spans.append((minute_of(local_start.time()), minute_of(local_end.time())))
    return sorted(spans)


def room_left(spans: list[tuple[int, int]], after: int) -> int:
    """How many of the shortest sessions still fit in the working spans from minute ``after`` on."""
    fits = 0
    for start, end in spans:
        begin = max(start, -(-after // GRID) * GRID)
        fits += max(0, end - begin) // SHORTEST
    return fits


def grid_minutes(service: Service) -> int:
    """What a session takes of the clinician's time, rounded up to the slot grid."""
    blocked = service.buffer_before_minutes + service.duration_minutes + service.buffer_after_minutes
    return -(-blocked // GRID) * GRID


def staff_the_location(session: Session, location: Location, day: date, clinicians: int) -> None:
    """Clinicians up to ``clinicians``, each working on ``day``; rooms and device units for them."""
    present = session.exec(select(Clinician).where(Clinician.location_id == location.id)).all()
    for index in range(clinicians - len(present)):
        name, title, certifications = MORE_CLINICIANS[index % len(MORE_CLINICIANS)]
        if index >= len(MORE_CLINICIANS):
            name = f"{name} {index // len(MORE_CLINICIANS) + 1}"
        starts, ends, break_starts, break_ends = SHIFT_TURNS[index % len(SHIFT_TURNS)]
        session.add(Clinician(
            name=name, title=title, location_id=location.id,
            email=f"{name.split()[0].lower()}.{index}@demo.clinic",
            certification_links=[ClinicianCertification(certification=c) for c in certifications],
            shifts=[ClinicianShift(weekday=weekday, starts=starts, ends=ends,
                                   breaks=[ShiftBreak(starts=break_starts, ends=break_ends)])
                    for weekday in range(5)],
        ))
    for clinician in present:
        if not working_spans(clinician, day):
            clinician.exceptions.append(ClinicianException(
                kind=ExceptionKind.EXTRA_SHIFT, starts_at=datetime.combine(day, COVER_SHIFT[0], ZONE),
                ends_at=datetime.combine(day, COVER_SHIFT[1], ZONE), note="Covering a busy day"))

    rooms = session.exec(select(Room).where(Room.location_id == location.id)).all()
    treatment = sum(room.kind == RoomKind.TREATMENT for room in rooms)
    for number in range(treatment + 1, clinicians + 1):
        session.add(Room(name=f"Treatment {number}", kind=RoomKind.TREATMENT, location_id=location.id))
    if clinicians > len(present):
        session.add(Room(name="Gym 2", kind=RoomKind.GYM, location_id=location.id))

    for code, (per_clinician, label) in UNITS_PER_CLINICIAN.items():
        kind = session.exec(select(DeviceType).where(DeviceType.code == code)).one()
        units = session.exec(select(Device).where(Device.device_type_id == kind.id,
                                                  Device.location_id == location.id)).all()
        for number in range(len(units) + 1, math.ceil(per_clinician * clinicians) + 1):
            session.add(Device(name=f"{label} {number}", device_type_id=kind.id,
                               location_id=location.id, cleaning_minutes=units[0].cleaning_minutes))


def enough_patients(session: Session, count: int) -> list[int]:
    """At least ``count`` patients (the demo's first): each session gets its own."""
    have = list(session.exec(select(Patient.id).order_by(Patient.id)))
    for number in range(len(have), count):
        given = GIVEN_NAMES[number % len(GIVEN_NAMES)]
        family = FAMILY_NAMES[(number * 3 + number // len(GIVEN_NAMES)) % len(FAMILY_NAMES)]
        handle = f"{given}.{family}".lower().replace("'", "")
        session.add(Patient(given_name=given, family_name=family,
                            birth_date=date(1950, 1, 1) + timedelta(days=number * 83 % (365 * 55)),
                            phone=f"+1 646 555 {number:04d}", email=f"{handle}.{number}@example.com"))
    session.flush()
    return list(session.exec(select(Patient.id).order_by(Patient.id)))[:count]


class ClinicianDay:
    """One clinician's day being filled: where the next session may start, what is booked, which service is next."""

    def __init__(self, clinician: Clinician, day: date, services: dict[str, Service], turn: int) -> None:
        self.clinician, self.day, self.turn = clinician, day, turn
        self.spans = working_spans(clinician, day)
        self.minute = self.spans[0][0] if self.spans else 24 * 60
        certified = set(clinician.certifications)
        self.own = [services[code] for code in ROTATION
                    if code in services and services[code].required_certification in certified]
        self.fallback = services[FALLBACK]
        self.booked: Counter = Counter()

    def open(self, want: int) -> bool:
        return self.booked.total() < want and bool(self.spans) and self.minute < self.spans[-1][1]

    def step(self, session: Session, *, desk: User, want: int, patients: list[int], now: datetime,
             settings: Settings) -> None:
        """Book one session at the next free minute (the first service that fits), or move on a grid step."""
        span_end = next((end for start, end in self.spans if start <= self.minute < end), None)
        if span_end is None:
            self.minute = next(start for start, _ in self.spans if start > self.minute)
            return
        placed = self.booked.total()
        for service in [*(self.own[(self.turn + n) % len(self.own)] for n in range(len(self.own))), self.fallback]:
            taken = grid_minutes(service)
            if self.minute + taken > span_end or placed + 1 + room_left(self.spans, self.minute + taken) < want:
                continue  # a longer session here would leave too little time for the rest
            choice = booking.SlotChoice(service_id=service.id, patient_id=patients[0], clinician_id=self.clinician.id,
                                        start=datetime.combine(self.day, wall(self.minute // 60, self.minute % 60),
                                                               ZONE), location_id=self.clinician.location_id)
            try:
                booking.book(session, actor=desk, choice=choice, now=now, settings=settings)
                session.commit()  # as the API does: one booking per transaction
            except Conflict:  # no free room or unit for it then: the next service
                session.rollback()
                continue
            patients.pop(0)
            self.booked[service.code] += 1
            self.minute, self.turn = self.minute + taken, self.turn + 1
            return
        self.minute += GRID


def book_the_day(session: Session, *, desk: User, staff: list[Clinician], day: date, want: int,
                 patients: list[int], now: datetime, settings: Settings) -> list[ClinicianDay]:
    """Fill every clinician's day as the desk does over time: always the clinician whose next free time is earliest,
    so rooms and units are shared through the day rather than taken by whoever is booked first."""
    services = {service.code: service for service in session.exec(select(Service))}
    days = [ClinicianDay(clinician, day, services, turn) for turn, clinician in enumerate(staff)]
    while waiting := [one for one in days if one.open(want)]:
        min(waiting, key=lambda one: (one.minute, one.turn)).step(
            session, desk=desk, want=want, patients=patients, now=now, settings=settings)
    return days


def build_day(url: str, *, today: date, now: datetime, password: str, clinicians: int = 20,
              sessions_each: int = 12) -> dict:
    """Migrate ``url``, load the demo clinic, staff it and book the day; what was built, for the report.

    Raises when a clinician could not get all ``sessions_each`` sessions: the figures would be for another load.
    """
    day = bench_day(today)
    settings = Settings(database_url=url)
    engine = make_engine(url)
    try:
        upgrade(engine)
        with session_scope(engine) as session:
            load_demo_clinic(session, today=today)
            ensure_demo_users(session, password=password)
            location = session.exec(select(Location).where(Location.name == LOCATION_NAME)).one()
            staff_the_location(session, location, day, clinicians)
            patients = enough_patients(session, clinicians * sessions_each)
            location_id = location.id
        started = time.perf_counter()
        with Session(serialized(engine)) as session:
            desk = session.exec(select(User).where(User.username == FRONT_DESK)).one()
            staff = session.exec(select(Clinician).where(Clinician.location_id == location_id)
                                 .order_by(Clinician.id)).all()
            days = book_the_day(session, desk=desk, staff=staff, day=day, want=sessions_each, patients=patients,
                                now=now, settings=settings)
            booked = sum((one.booked for one in days), Counter())
            short = {one.clinician.name: one.booked.total() for one in days if one.booked.total() < sessions_each}
            rooms = len(session.exec(select(Room).where(Room.location_id == location_id)).all())
            units = len(session.exec(select(Device).where(Device.location_id == location_id)).all())
            sessions = session.exec(select(Appointment).where(
                Appointment.location_id == location_id, Appointment.status == AppointmentStatus.BOOKED)).all()
            allocations = sum(len(appointment.allocations) for appointment in sessions)
        if short:
            raise RuntimeError(f"clinicians short of {sessions_each} sessions on {day}: {short}")
        return {
            "location_id": location_id, "day": day.isoformat(), "weekday": day.strftime("%A"),
            "week_from": week_of(day).isoformat(), "clinicians": len(staff), "rooms": rooms, "device_units": units,
            "sessions": len(sessions), "allocations": allocations, "sessions_by_service": dict(sorted(booked.items())),
            "booking_seconds": round(time.perf_counter() - started, 2),
        }
    finally:
        engine.dispose()


# --- the API ---------------------------------------------------------------------------------


def latency_summary(milliseconds: list[float]) -> dict:
    ordered = sorted(milliseconds)
    return {"count": len(ordered), "p50_ms": round(percentile(ordered, 0.50), 2),
            "p90_ms": round(percentile(ordered, 0.90), 2), "p99_ms": round(percentile(ordered, 0.99), 2),
            "mean_ms": round(sum(ordered) / len(ordered), 2), "max_ms": round(ordered[-1], 2)}


def measure_api(client: httpx.Client, server_pid: int, params: dict, *, requests: int, warmup: int) -> dict:
    """Time ``GET /schedule`` one request after another; the answer's size and what it holds."""
    for _ in range(warmup):
        client.get(f"{API}/schedule", params=params).raise_for_status()
    gc.collect()
    timings, cpu_before = [], cpu_seconds(server_pid)
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(f"{API}/schedule", params=params)
        body = response.content
        timings.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    cpu_after = cpu_seconds(server_pid)
    answer = json.loads(body)
    kinds = Counter(resource["kind"] for resource in answer["resources"])
    return {
        **latency_summary(timings),
        "server_cpu_ms_per_request": (round((cpu_after - cpu_before) * 1000 / requests, 2)
                                      if cpu_before is not None and cpu_after is not None else None),
        "response_bytes": len(body),
        "sessions": len(answer["sessions"]),
        "resources": len(answer["resources"]),
        "resources_by_kind": dict(sorted(kinds.items())),
        "unavailable_spans": len(answer["unavailable"]),
    }


# --- the page ------------------------------------------------------------------------------------

# Runs before the page's own scripts on every navigation; performance.now() counts from the navigation's start.
TIMING_SCRIPT = """
(expected) => {
  const wanted = new URLSearchParams(location.search).get("view") === "week" ? expected.week : expected.day;
  const shown = () => new Set(Array.from(document.querySelectorAll("[data-appointment]"),
    (node) => node.dataset.appointment)).size;
  const observer = new MutationObserver(() => {
    if (!document.body || document.body.dataset.ready !== "true") return;
    if (window.__benchReady === undefined) window.__benchReady = performance.now();
    const count = shown();
    if (count >= wanted) {
      window.__benchShown = performance.now();
      window.__benchSessions = count;
      observer.disconnect();
    }
  });
  observer.observe(document, { subtree: true, childList: true, attributes: true,
    attributeFilter: ["data-ready", "data-appointment"] });
}
"""


# What one load took, read after it: the marks above and the /schedule request's resource timing (same clock).
PAGE_TIMINGS = """
() => {
  const asked = performance.getEntriesByType("resource").filter((entry) => entry.name.includes("/api/v1/schedule?"));
  const last = asked[asked.length - 1];
  return { shown: window.__benchShown, ready: window.__benchReady, sessions: window.__benchSessions,
    fetch_start: last.startTime, fetch_end: last.responseEnd, after_fetch: window.__benchShown - last.responseEnd };
}
"""


RENDERER_METRICS = ("ThreadTime", "ProcessTime", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")


def renderer_metrics(renderer) -> dict:
    """The tab's renderer figures, in seconds (DevTools Performance domain): ThreadTime and ProcessTime are CPU
    time (main thread, whole renderer process), so they hardly grow when other work shares the machine; the
    durations are wall time spent in script, layout and style."""
    return {item["name"]: item["value"] for item in renderer.send("Performance.getMetrics")["metrics"]
            if item["name"] in RENDERER_METRICS}


def measure_page(base: str, password: str, location_id: int, day: date, expected: dict, *, runs: int,
                 chromium: str) -> dict:
    """Sign in once, then load the schedule ``runs`` times per view; milliseconds from navigation start."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US", timezone_id="UTC")
            context.set_default_timeout(PAGE_TIMEOUT_MS)
            context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
                "http://127.0.0.1") else route.abort())
            context.add_init_script(script=f"({TIMING_SCRIPT})({json.dumps(expected)})")
            page = context.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(str(error)[:200]))
            page.goto(f"{base}/app/login")
            page.wait_for_selector("body[data-ready=true]")
            page.get_by_label("User name").fill(FRONT_DESK)
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(lambda url: "/app/login" not in url)
            page.wait_for_selector("body[data-ready=true]")
            renderer = context.new_cdp_session(page)
            renderer.send("Performance.enable")
            views = {}
            for view, extra in (("day", ""), ("week", "&view=week")):
                timings = []
                for _ in range(runs):
                    before = renderer_metrics(renderer)
                    page.goto(f"{base}/app/schedule?location_id={location_id}&day={day.isoformat()}{extra}")
                    # A function, not an expression: the page's CSP forbids eval.
                    page.wait_for_function("() => window.__benchShown !== undefined")
                    timing = page.evaluate(PAGE_TIMINGS)
                    after = renderer_metrics(renderer)
                    # Chromium restarts the duration metrics with each new document, so they are this load's;
                    # the renderer's process CPU time runs on while the tab keeps its process.
                    timing.update(main_thread_cpu=after["ThreadTime"] * 1000, script=after["ScriptDuration"] * 1000,
                                  layout_and_style=(after["LayoutDuration"] + after["RecalcStyleDuration"]) * 1000,
                                  renderer_cpu=(after["ProcessTime"] - before["ProcessTime"]) * 1000
                                  if after["ProcessTime"] >= before["ProcessTime"] else None)
                    timings.append(timing)
                shown = [timing["shown"] for timing in timings]

                def median(key: str) -> float | None:
                    values = sorted(timing[key] for timing in timings if timing[key] is not None)
                    return round(percentile(values, 0.5), 1) if values else None

                views[view] = {
                    "runs": runs,
                    "interactive_p50_ms": median("shown"),
                    "interactive_max_ms": round(max(shown), 1),
                    "first_run_ms": round(shown[0], 1),
                    "interactive_ms": [round(value, 1) for value in shown],
                    "body_ready_p50_ms": median("ready"),
                    "schedule_request_sent_p50_ms": median("fetch_start"),
                    "schedule_answer_received_p50_ms": median("fetch_end"),
                    "drawn_after_answer_p50_ms": median("after_fetch"),
                    "main_thread_cpu_p50_ms": median("main_thread_cpu"),
                    "script_p50_ms": median("script"),
                    "layout_and_style_p50_ms": median("layout_and_style"),
                    "renderer_process_cpu_p50_ms": median("renderer_cpu"),
                    "sessions_shown": sorted({timing["sessions"] for timing in timings}),
                }
            return {"chromium": browser.version, "views": views, "page_errors": problems[:5]}
        finally:
            browser.close()


# --- the report ----------------------------------------------------------------------------------


def targets(result: dict) -> dict:
    """Each target of the proof point with its figure; ``met`` is None when the figure was not measured."""
    api = result.get("api", {}).get("day")
    page = result.get("page", {}).get("views", {}).get("day")
    return {
        "api_day_p50": {
            "target": f"GET /schedule for the day (20 clinicians x 12 sessions) p50 <= {TARGET_API_P50_MS:g} ms",
            "value_ms": api["p50_ms"] if api else None,
            "met": api["p50_ms"] <= TARGET_API_P50_MS if api else None,
        },
        "page_day_interactive": {
            "target": f"/app/schedule (day) interactive with every session shown, p50 <= "
                      f"{TARGET_INTERACTIVE_MS:g} ms in headless Chromium",
            "value_ms": page["interactive_p50_ms"] if page else None,
            "max_ms": page["interactive_max_ms"] if page else None,
            "met": page["interactive_p50_ms"] <= TARGET_INTERACTIVE_MS if page else None,
            "met_by_every_run": page["interactive_max_ms"] <= TARGET_INTERACTIVE_MS if page else None,
        },
    }


def run(args: argparse.Namespace, summary: dict) -> None:
    password = secrets.token_urlsafe(16)
    today = datetime.now(ZONE).date()
    with tempfile.TemporaryDirectory(prefix="clinic_bench_") as folder:
        url = f"sqlite:///{Path(folder) / 'clinic.db'}"
        started = time.perf_counter()
        built = build_day(url, today=today, now=datetime.now(UTC), password=password,
                          clinicians=args.clinicians, sessions_each=args.sessions)
        summary["data"] = {**built, "build_seconds": round(time.perf_counter() - started, 2)}
        day = date.fromisoformat(built["day"])
        with running_server("serve", url, secrets.token_urlsafe(32), Path(folder), background_jobs=True) as server:
            summary["config"]["server"] = "clinic serve --no-migrate, one uvicorn worker, background jobs on"
            with httpx.Client(base_url=server.base, timeout=30, trust_env=False) as client:
                answer = client.post(f"{API}/auth/token", data={"username": FRONT_DESK, "password": password})
                answer.raise_for_status()
                client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
                base_params = {"location_id": built["location_id"]}
                summary["api"] = {
                    "day": measure_api(client, server.process.pid, {**base_params, "day": built["day"], "days": 1},
                                       requests=args.requests, warmup=args.warmup),
                    "week": measure_api(client, server.process.pid,
                                        {**base_params, "day": built["week_from"], "days": 7},
                                        requests=args.requests, warmup=args.warmup),
                }
            if args.browser:
                expected = {view: summary["api"][view]["sessions"] for view in ("day", "week")}
                summary["page"] = measure_page(server.base, password, built["location_id"], day, expected,
                                               runs=args.runs, chromium=args.chromium)
                summary["machine"]["chromium"] = summary["page"].pop("chromium")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="measured API requests per view (default 200)")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured API requests per view first (default 10)")
    parser.add_argument("--runs", type=int, default=10, help="page loads per view in Chromium (default 10)")
    parser.add_argument("--clinicians", type=int, default=20, help="clinicians at the demo location (default 20)")
    parser.add_argument("--sessions", type=int, default=12, help="sessions per clinician on the day (default 12)")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK['requests']} requests, {QUICK['warmup']} warm-up and {QUICK['runs']} page "
                             "loads per view, on the same data")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="the browser (default %(default)s)")
    parser.add_argument("--no-browser", dest="browser", action="store_false", help="measure the API only")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.warmup, args.runs = QUICK["requests"], QUICK["warmup"], QUICK["runs"]
    if args.requests < 1 or args.runs < 1 or args.warmup < 0:
        parser.error("--requests and --runs must be at least 1, --warmup at least 0")
    if not 10 <= args.clinicians <= 100 or not 1 <= args.sessions <= 15:
        parser.error("--clinicians must be 10 (the demo's) to 100, --sessions 1 to 15 (a shift holds 15 at most)")
    if args.browser and not Path(args.chromium).exists():
        parser.error(f"no browser at {args.chromium} (apt-get install chromium, or --no-browser)")

    started = time.perf_counter()
    summary: dict = {
        "benchmark": "schedule_screen",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": load_average(),
            "busy_processes_before": busy_processes()[:5],
        },
        "config": {
            "requests_per_view": args.requests, "warmup_per_view": args.warmup, "page_runs_per_view": args.runs,
            "clinicians": args.clinicians, "sessions_per_clinician": args.sessions, "quick": args.quick,
            "database": "SQLite in a temporary folder",
            "client": "httpx.Client, one keep-alive connection, sequential, same machine",
            "browser": "headless Chromium via Playwright, 1440x900, sign-in once, same tab for every load",
            "versions": versions("fastapi", "uvicorn", "sqlalchemy", "sqlmodel", "pydantic", "httpx", "playwright"),
        },
    }
    failed = False
    try:
        run(args, summary)
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        summary["error"] = f"{type(exc).__name__}: {exc}"
        failed = True
    summary["targets"] = targets(summary)
    summary["machine"]["load_average_after"] = load_average()
    summary["total_seconds"] = round(time.perf_counter() - started, 1)

    text = to_json(summary)
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(text + "\n")
    print(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
