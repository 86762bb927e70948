"""Busy time per location and UTC day, cached in each process and checked against the schedule's version.

Reading a week's allocations (thousands of rows) was most of a search's cost.
Each process now keeps, per location and UTC day, the allocations of the
location's clinicians, rooms and device units that start that day, tagged with
the day's token (``data.schedule_version``). A search reads the tokens of its
days in one small query, reloads only the days whose token changed and merges
the rest from memory. Tokens change in the transaction that changes the
allocations, so a committed booking or cancellation is never answered from an
older copy; the write path does not rely on this (``SlotQuery.fresh``, the
exclusion constraint).

A hold counts only while its expiry lies after the search's ``now``, as in
the database query (``hold_expires_at > now``): holds lapse by the clock, not
by a write, so the cache keeps each hold with its expiry and filters at read
time.

Sheets are keyed by the catalog's token and the location's set of resources
too. A day's token is bumped at the location its resources belong to when the
change commits; a clinician who moves away, loses a session there and moves
back would otherwise find the old sheet of the old location valid again. Any
catalog change therefore starts every sheet afresh (catalog changes are rare).
Each engine's pool has its own cache (two engines behave like two processes).
"""

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from weakref import WeakKeyDictionary

from sqlalchemy import String, and_, or_, select, type_coerce
from sqlmodel import Session

from data import schedule_version
from data.enums import ResourceKind
from data.tables import Allocation
from data.types import epoch_minute
from scheduler.catalog_snapshot import LocationInfo
from solver.intervals import Intervals, normalize, union

Key = tuple[str, int]
DAY = 24 * 60
EPOCH = date(1970, 1, 1)  # (resource kind, resource id), as the solver names resources
# No allocation is longer: 8 h of service, 2 h buffers each side, 4 h of cleaning (the schemas' limits).
MAX_ALLOCATION_SPAN = timedelta(days=1)
SHEETS_PER_PROCESS = 4096  # location-days kept; a busy location's week is ~10 sheets of ~20 kB
MERGED_PER_PROCESS = 64  # merged windows kept (searches of the same days reuse one)
JOINED_PER_PROCESS = 8192  # one resource's merged days (a location's ~80 resources times ~100 windows)


@dataclass(frozen=True, eq=False)
class DaySheet:
    """A location's allocations starting on one UTC day, as the database had them under ``token``."""

    token: str | None
    firm: dict[Key, Intervals]  # live and not a hold: booked, arrived, done; merged per resource
    holds: tuple[tuple[Key, int, int, datetime], ...]  # live holds: resource, start, end, expiry


@dataclass(frozen=True)
class Merged:
    firm: dict[Key, Intervals]
    holds: tuple[tuple[Key, int, int, datetime], ...]


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sheets: OrderedDict[tuple, DaySheet] = OrderedDict()
        self.merged: OrderedDict[tuple, Merged] = OrderedDict()
        self.joins: OrderedDict[tuple, tuple[Intervals, list[Intervals]]] = OrderedDict()

    @staticmethod
    def _put(store: OrderedDict, key, value, limit: int) -> None:
        store[key] = value
        store.move_to_end(key)
        while len(store) > limit:
            store.popitem(last=False)

    def put_sheet(self, key, sheet: DaySheet) -> None:
        with self.lock:
            self._put(self.sheets, key, sheet, SHEETS_PER_PROCESS)

    def put_merged(self, key, merged: Merged) -> None:
        with self.lock:
            self._put(self.merged, key, merged, MERGED_PER_PROCESS)

    def joined(self, lists: list[Intervals]) -> Intervals:
        """One resource's days as one set; the same day lists joined again give the same list object."""
        key = tuple(map(id, lists))
        found = self.joins.get(key)
        if found is not None:
            return found[0]
        joined = _joined(lists)
        with self.lock:
            self._put(self.joins, key, (joined, lists), JOINED_PER_PROCESS)  # the lists kept: ids stay theirs
        return joined


_caches: "WeakKeyDictionary[object, _Cache]" = WeakKeyDictionary()
_caches_lock = threading.Lock()


def _cache(session: Session) -> _Cache:
    pool = session.get_bind().engine.pool
    cache = _caches.get(pool)
    if cache is None:
        with _caches_lock:
            cache = _caches.setdefault(pool, _Cache())
    return cache


def forget() -> None:
    """Drop every process's cached days, as a restart would (the availability benchmark measures a cold start)."""
    with _caches_lock:
        _caches.clear()


def days(window: tuple[int, int]) -> tuple[date, date]:
    """The UTC days whose allocations can overlap ``window``: the first starts up to a span earlier."""
    return _day(window[0] - int(MAX_ALLOCATION_SPAN.total_seconds()) // 60), _day(window[1])


def busy_time(session: Session, location: LocationInfo, window: tuple[int, int], now: datetime,
              versions: tuple[str, dict] | None = None) -> dict | None:
    """Busy minutes of every clinician, room and unit of the location that overlap ``window``, by resource.

    ``versions``: the catalog's token and the days' tokens (``schedule_version.read``) if the caller just read
    them, else read here. None when this session's own uncommitted allocation changes must be seen: the caller
    then reads the database.
    """
    merged = _merged_days(session, location, window, versions)
    if merged is None:
        return None
    live_holds = [(key, start, end) for key, start, end, expires in merged.holds if expires > now]
    if not live_holds:
        return merged.firm
    held: dict[Key, list] = {}
    for key, start, end in live_holds:
        held.setdefault(key, []).append((start, end))
    return {**merged.firm, **{key: union(merged.firm.get(key, []), spans) for key, spans in held.items()}}


def next_lapse(session: Session, location: LocationInfo, window: tuple[int, int], now: datetime,
               versions: tuple[str, dict] | None = None) -> datetime | None:
    """When the first hold that blocks part of ``window`` at ``now`` lapses: until then, with no write, the
    location's busy time there stays what :func:`busy_time` gives now. None when no hold blocks it."""
    merged = _merged_days(session, location, window, versions)
    return min((expires for *_, expires in merged.holds if expires > now), default=None) if merged else None


def _merged_days(session: Session, location: LocationInfo, window: tuple[int, int],
                 versions: tuple[str, dict] | None) -> Merged | None:
    """The location's days that can overlap ``window``, reloading those whose token changed; None when this
    session's own uncommitted changes must be seen."""
    first, last = days(window)
    catalog_token, tokens = versions or schedule_version.read(session, first, last, location.id)
    if schedule_version.changed(session):
        return None
    cache = _cache(session)
    resources = _resources(location)
    dates = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    keys = [(location.id, catalog_token, resources, day) for day in dates]
    sheets = [cache.sheets.get(key) for key in keys]
    stale = [n for n, sheet in enumerate(sheets)
             if sheet is None or sheet.token != tokens.get((location.id, dates[n]))]
    if stale:
        loaded = _load(session, resources, dates[stale[0]], dates[stale[-1]], tokens, location.id)
        for n in range(stale[0], stale[-1] + 1):
            sheets[n] = _kept(sheets[n], loaded[dates[n]])
            cache.put_sheet(keys[n], sheets[n])
    return _merged(cache, location.id, tuple(sheets))


def _day(minute: int) -> date:
    return datetime.fromtimestamp(minute * 60, UTC).date()


def _resources(location: LocationInfo) -> frozenset[Key]:
    return frozenset(
        [(ResourceKind.CLINICIAN.value, c.id) for c in location.clinicians]
        + [(ResourceKind.ROOM.value, r.id) for r in location.rooms]
        + [(ResourceKind.DEVICE.value, u.id) for u in location.units]
    )


def _merged(cache: _Cache, location_id: int, sheets: tuple[DaySheet, ...]) -> Merged:
    """The sheets' busy time as one set per resource; the same days read again reuse it."""
    key = (location_id, sheets)
    found = cache.merged.get(key)
    if found is not None:
        return found
    parts: dict[Key, list[Intervals]] = {}
    for sheet in sheets:
        for resource, spans in sheet.firm.items():
            parts.setdefault(resource, []).append(spans)
    firm = {resource: cache.joined(lists) for resource, lists in parts.items()}
    merged = Merged(firm, tuple(hold for sheet in sheets for hold in sheet.holds))
    cache.put_merged(key, merged)
    return merged


def _kept(old: DaySheet | None, new: DaySheet) -> DaySheet:
    """The reloaded day, keeping the old list of each resource whose busy time did not change.

    A booking changes a few resources' days; the others keep their list objects, so their merged week and
    everything computed from it (``search_memo``: the resource's free time) is reused.
    """
    if old is None:
        return new
    firm = {key: old.firm[key] if old.firm.get(key) == spans else spans for key, spans in new.firm.items()}
    return DaySheet(new.token, firm, new.holds)


def _joined(lists: list[Intervals]) -> Intervals:
    """Day after day of one resource's busy time as one set: they only meet where a span crosses midnight."""
    joined = list(lists[0])
    for spans in lists[1:]:
        if joined and spans and spans[0][0] <= joined[-1][1]:
            joined = normalize(joined + spans)
        else:
            joined.extend(spans)
    return joined


def _load(session: Session, resources: frozenset[Key], first: date, last: date, tokens: dict,
          location_id: int) -> dict[date, DaySheet]:
    """One query for the days ``[first, last]``: every live allocation of the resources starting then."""
    table = Allocation.__table__.c
    by_kind: dict[str, list[int]] = {}
    for kind, ident in resources:
        by_kind.setdefault(kind, []).append(ident)
    start = datetime.combine(first, time(), UTC)
    end = datetime.combine(last + timedelta(days=1), time(), UTC)
    rows = session.execute(select(
        type_coerce(table.resource_kind, String), table.resource_id, epoch_minute(table.starts_at),
        epoch_minute(table.ends_at), table.hold_expires_at,
    ).where(
        table.live, table.starts_at >= start, table.starts_at < end,
        or_(*(and_(table.resource_kind == kind, table.resource_id.in_(sorted(ids))) for kind, ids in by_kind.items())),
    )).all() if by_kind else []
    firm: dict[int, dict[Key, list]] = {}  # by UTC day number (whole days since the epoch)
    holds: dict[int, list] = {}
    for kind, ident, starts, ends, expires in rows:
        if expires is None:
            firm.setdefault(starts // DAY, {}).setdefault((kind, ident), []).append((starts, ends))
        else:
            holds.setdefault(starts // DAY, []).append(((kind, ident), starts, ends, expires))
    number = (first - EPOCH).days
    return {first + timedelta(days=n): DaySheet(
                tokens.get((location_id, first + timedelta(days=n))),
                {key: normalize(spans) for key, spans in firm.get(number + n, {}).items()},
                tuple(holds.get(number + n, ())))
            for n in range((last - first).days + 1)}
