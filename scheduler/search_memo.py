"""Reusing what an unchanged search already worked out, in each process.

Front desks, patients' pages and slot finders ask the same questions again and
again (this week's ESWT slots) while nothing changes in between. A slot search
is a pure function of immutable inputs: the catalog snapshot's objects, busy
time from ``free_time`` (the same list objects until a version changes) and the
query. So each step's result is kept under the *identity* of its inputs, and
every entry holds those inputs, so no identity is reused while its entry lives.
Anything that changes gives other inputs and misses: a booking or cancellation
(new busy lists), a catalog change (a new snapshot), a live hold or the
patient's own sessions (their lists are made per search), the clock passing
the minimum notice (other allowed starts).
"""

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from scheduler.catalog_snapshot import ClinicianInfo, UnitInfo
from solver.availability import Resource, Slot, SlotSearch, find_slots
from solver.intervals import Intervals, subtract

NOTHING: Intervals = []  # the busy time of a resource with none: one shared (never changed) list


class _Memo:
    """A bounded map from a key to a value and the inputs it was made from (kept alive with it)."""

    def __init__(self, size: int) -> None:
        self.size, self.lock, self.entries = size, threading.Lock(), OrderedDict()

    def get(self, key, make: Callable[[], Any], inputs: tuple) -> Any:
        found = self.entries.get(key)
        if found is not None:
            return found[0]
        value = make()
        with self.lock:
            self.entries[key] = (value, inputs)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
        return value


_windows = _Memo(256)
_working = _Memo(2048)
_units = _Memo(2048)
_resources = _Memo(4096)
_slots = _Memo(256)


def window(span: tuple[int, int]) -> Intervals:
    """The searched window as one interval set, the same object for the same window."""
    return _windows.get(span, lambda: [span], ())


def working(clinician: ClinicianInfo, days: list[date], zone: ZoneInfo,
            make: Callable[[ClinicianInfo, list[date], ZoneInfo], Intervals]) -> Intervals:
    return _working.get((id(clinician), days[0], days[-1], zone.key), lambda: make(clinician, days, zone),
                        (clinician,))


def unit_available(unit: UnitInfo, everywhere: Intervals) -> Intervals:
    """The window outside the unit's maintenance."""
    return _units.get((id(unit), id(everywhere)), lambda: subtract(everywhere, unit.maintenance), (unit, everywhere))


def resource(kind: str, ident: int, name: str, available: Intervals, busy: Intervals, cleaning: int = 0) -> Resource:
    """The same Resource for the same inputs, so its free time (computed once, on first use) is reused."""
    return _resources.get((kind, ident, name, cleaning, id(available), id(busy)),
                          lambda: Resource(kind, ident, name, available, busy, cleaning), (available, busy))


def slots(search: SlotSearch, limit: int) -> list[Slot]:
    key = (
        search.service, tuple(map(id, search.clinicians)), tuple(map(id, search.rooms)),
        tuple((need.type_name, need.count, tuple(map(id, need.units))) for need in search.devices),
        tuple(search.open_hours), tuple(search.starts), id(search.patient), search.grid, search.grid_origin,
        search.preferred_clinician, search.continuity_clinician, search.unusable_gap, limit,
    )
    return list(_slots.get(key, lambda: find_slots(search, limit), (search,)))

