"""An immutable copy of the catalog, kept per process and reloaded only when it changed.

Every availability search needs the clinicians with their certifications and
weekly patterns, the rooms, the device units and the services. They change
rarely, so each process keeps one snapshot and checks the catalog token (one
tiny query) before using it; a change anywhere (see ``data.catalog_version``)
makes the next search reload.

Archived clinicians, rooms, units and services stay in the snapshot, marked
``archived``, so past sessions still show their names; only what is in service
is offered (see ``availability.build_search``).
"""

import threading
from dataclasses import dataclass
from datetime import time
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from data import catalog_version
from data.enums import Certification, ExceptionKind, ResourceKind, RoomKind
from data.tables import Clinician, Device, Location, Room, Service
from scheduler.clock import instants
from solver.intervals import Intervals

Weekly = tuple[tuple[int, time, time], ...]


@dataclass(frozen=True)
class ClinicianInfo:
    id: int
    name: str
    location_id: int
    certifications: frozenset[Certification]
    shifts: Weekly
    breaks: Weekly
    extra_shifts: Intervals
    time_off: Intervals
    archived: bool = False


@dataclass(frozen=True)
class UnitInfo:
    id: int
    name: str
    device_type_id: int
    cleaning: int
    maintenance: Intervals
    archived: bool = False


@dataclass(frozen=True)
class RoomInfo:
    id: int
    name: str
    kind: RoomKind
    archived: bool = False


@dataclass(frozen=True)
class LocationInfo:
    id: int
    name: str
    zone: ZoneInfo
    opening_hours: Weekly
    clinicians: tuple[ClinicianInfo, ...]
    rooms: tuple[RoomInfo, ...]
    units: tuple[UnitInfo, ...]
    locale: str = "en-US"


@dataclass(frozen=True)
class DeviceNeedInfo:
    device_type_id: int
    type_name: str
    count: int


@dataclass(frozen=True)
class ServiceInfo:
    id: int
    name: str
    duration: int
    buffer_before: int
    buffer_after: int
    certification: Certification | None
    room_kind: RoomKind | None
    device_needs: tuple[DeviceNeedInfo, ...]
    archived: bool = False


@dataclass(frozen=True)
class CatalogSnapshot:
    token: str
    locations: dict[int, LocationInfo]
    services: dict[int, ServiceInfo]
    clinicians: dict[int, ClinicianInfo]

    @property
    def shortest_service(self) -> int:
        return min((service.duration for service in self.services.values() if not service.archived), default=30)

    def where_now(self, kind: ResourceKind, ident: int) -> tuple[LocationInfo | None, ClinicianInfo | UnitInfo |
                                                                 RoomInfo | None]:
        """A clinician, unit or room and the location it belongs to now, wherever that is: a session keeps what it
        was booked with when one of them moves to another location (None, None for an unknown id)."""
        if kind == ResourceKind.CLINICIAN:
            clinician = self.clinicians.get(ident)
            return (self.locations.get(clinician.location_id), clinician) if clinician else (None, None)
        for location in self.locations.values():
            for item in location.units if kind == ResourceKind.DEVICE else location.rooms:
                if item.id == ident:
                    return location, item
        return None, None

    def name_of(self, kind: ResourceKind, ident: int) -> str:
        """Its name wherever it is now; "room 7" for one the catalog does not know."""
        _place, item = self.where_now(kind, ident)
        return item.name if item else f"{kind.value} {ident}"


_lock = threading.Lock()
_snapshots: dict[str, CatalogSnapshot] = {}


def catalog(session: Session, token: str | None = None) -> CatalogSnapshot:
    """The catalog as the session's transaction sees it, from the cache when unchanged.

    ``token``: the catalog's token if the caller just read it (an availability search reads it together with
    the schedule's versions, in one query).
    """
    token = token or catalog_version.current(session)
    key = str(session.get_bind().engine.url)
    cached = _snapshots.get(key)
    if cached is not None and cached.token == token:
        return cached
    snapshot = _load(session, token)
    with _lock:
        _snapshots[key] = snapshot
    return snapshot


def _load(session: Session, token: str) -> CatalogSnapshot:
    def fresh(table):
        """Rows as the database has them now, child collections included, even if the session holds them."""
        return session.exec(select(table).order_by(table.id).execution_options(populate_existing=True))

    clinicians = {c.id: _clinician(c) for c in fresh(Clinician)}
    rooms, units = list(fresh(Room)), list(fresh(Device))
    locations = {
        location.id: LocationInfo(
            id=location.id, name=location.name, zone=ZoneInfo(location.time_zone), locale=location.locale,
            opening_hours=tuple((h.weekday, h.starts, h.ends) for h in location.opening_hours),
            clinicians=tuple(c for c in clinicians.values() if c.location_id == location.id),
            rooms=tuple(RoomInfo(r.id, r.name, r.kind, r.archived_at is not None)
                        for r in rooms if r.location_id == location.id),
            units=tuple(
                UnitInfo(u.id, u.name, u.device_type_id, u.cleaning_minutes,
                         instants((m.starts_at, m.ends_at) for m in u.maintenance), u.archived_at is not None)
                for u in units if u.location_id == location.id
            ),
        )
        for location in fresh(Location)
    }
    services = {
        s.id: ServiceInfo(
            id=s.id, name=s.name, duration=s.duration_minutes, buffer_before=s.buffer_before_minutes,
            buffer_after=s.buffer_after_minutes, certification=s.required_certification, room_kind=s.room_kind,
            device_needs=tuple(DeviceNeedInfo(n.device_type_id, n.device_type.name, n.count) for n in s.device_needs),
            archived=s.archived_at is not None,
        )
        for s in fresh(Service)
    }
    return CatalogSnapshot(token, locations, services, clinicians)


def _clinician(clinician: Clinician) -> ClinicianInfo:
    def dated(kind: ExceptionKind) -> Intervals:
        return instants((e.starts_at, e.ends_at) for e in clinician.exceptions if e.kind == kind)

    return ClinicianInfo(
        id=clinician.id, name=clinician.name, location_id=clinician.location_id,
        certifications=frozenset(clinician.certifications),
        shifts=tuple((s.weekday, s.starts, s.ends) for s in clinician.shifts),
        breaks=tuple((s.weekday, b.starts, b.ends) for s in clinician.shifts for b in s.breaks),
        extra_shifts=dated(ExceptionKind.EXTRA_SHIFT), time_off=dated(ExceptionKind.TIME_OFF),
        archived=clinician.archived_at is not None,
    )
