"""FHIR search: what one search asks (the query string, and for ``POST [type]/_search`` its form too) and the
searchset Bundle it gets back.

- Parameters: an unknown one is a 400, or left out (of the search and of its links) when the client sends
  ``Prefer: handling=lenient``.
- Dates: the prefixes ``eq ne gt ge lt le sa eb`` over a year, month, day (the clinic's local day), minute,
  second or finer, matched against an instant such as ``Slot.start`` or ``Appointment.start``; ``ap`` is refused.
- Result parameters: ``_count`` (0: the total only), ``_total``, ``_summary``, ``_elements``, ``_sort`` where a
  search offers one, ``_format`` (JSON only, see ``common.speaks_json``).
- Paging: the directory is small and built whole, so it pages by ``_offset``. Slots are computed, not stored,
  and appointments come and go while a client pages, so those page by ``_cursor``: the start and id of the
  last entry shown. The next page lists what comes after it, so entries that appear or vanish before it
  neither shift the rest (skipping or repeating some) nor hide it.
"""

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Annotated
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Request, status
from fhir.resources.R4B import get_fhir_model_class
from sqlmodel import Session

from api.fhir.common import check_format
from api.schemas.common import on_calendar, schedulable
from api.urls import absolute_url
from data.config import Settings
from data.errors import Invalid
from scheduler.catalog_snapshot import catalog

DEFAULT_COUNT, MAX_COUNT = 50, 200
MOST_FORM_FIELDS = 100
TOTALS = ("none", "estimate", "accurate")
SUMMARIES = ("true", "text", "data", "count", "false")
SEARCH_SUPPORT = (
    "Searches (GET, or POST [type]/_search with a form) take _count (0: the total only), _total, _summary (count, "
    "true, text, data, false), _elements and _format=json; Slot sorts by _sort=start, Appointment by date or -date. "
    "Dates take eq, ne, gt, ge, lt, le, sa and eb at any precision from a year down (a bare date is the clinic's local "
    "day); ap is refused. An unknown parameter is a 400 unless Prefer: handling=lenient. Slot and Appointment pages "
    "go on by _cursor (follow the next link), the directory's by _offset. A clinician's free time: "
    "Slot?schedule.actor=Practitioner/<id>&status=free.")
SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED",
             "display": "subsetted"}


class SearchError(Invalid):
    """A search parameter the server cannot use; answered as a 400 OperationOutcome."""

    def __init__(self, msg: str):
        super().__init__((), msg, source="query")


async def search_form(request: Request) -> list[tuple[str, str]]:
    """The search's parameters: the query string's, and for ``POST [type]/_search`` the form body's after them."""
    found = list(request.query_params.multi_items())
    if request.method != "POST":
        return found
    body = await request.body()
    if not body:
        return found
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                            "send the search parameters as a form (application/x-www-form-urlencoded)")
    try:
        return found + parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MOST_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise SearchError(f"the form must be UTF-8 text of at most {MOST_FORM_FIELDS} fields") from None


SearchForm = Annotated[list[tuple[str, str]], Depends(search_form)]


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: its last entry's start and id. The next page lists what comes after it."""

    at: datetime
    ident: str

    def __str__(self) -> str:
        return f"{self.at.astimezone(UTC).isoformat().replace('+00:00', 'Z')}_{self.ident}"

    @classmethod
    def parse(cls, text: str) -> "Cursor":
        moment, _, ident = text.partition("_")
        try:
            at = datetime.fromisoformat(moment) if re.fullmatch(r"[0-9T:.Z-]{20,32}", moment) else None
        except ValueError:
            at = None
        if at is None or at.tzinfo is None or not re.fullmatch(r"[a-z0-9-]{1,64}", ident):
            raise SearchError("_cursor is not one this server gave out; follow the Bundle's next link")
        return cls(at, ident)


@cache
def elements_of(resource_type: str) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """A resource's top-level elements, its mandatory ones and its summary ones, as the R4B model declares them."""
    names, mandatory, summary = {"resourceType"}, {"resourceType", "id", "meta"}, set()
    for name, field in get_fhir_model_class(resource_type).model_fields.items():
        alias = field.alias or name
        if alias.startswith("_") or alias == "fhir_comments":
            continue
        names.add(alias)
        extra = field.json_schema_extra or {}
        if field.is_required() or extra.get("element_required"):
            mandatory.add(alias)
        if extra.get("summary_element_property"):
            summary.add(alias)
    return frozenset(names), frozenset(mandatory), frozenset(summary | mandatory)


def _lenient(request: Request) -> bool:
    """``Prefer: handling=lenient``: the client wants unknown parameters ignored rather than refused."""
    preferences = re.split(r"[,;]", request.headers.get("prefer", ""))
    return any(p.strip().lower().replace(" ", "") == "handling=lenient" for p in preferences)


def _whole(name: str, text: str, low: int, high: int) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 10 and low <= int(text) <= high):
        raise SearchError(f"{name} must be a whole number from {low} to {high}")
    return int(text)


@dataclass(frozen=True)
class Search:
    """One search: the resource's own parameters, and the result parameters that shape the answer."""

    resource_type: str
    base: str
    params: dict[str, list[str]]
    kept: tuple[tuple[str, str], ...]
    paging: str
    count: int = DEFAULT_COUNT
    total: str | None = None
    summary: str | None = None
    elements: frozenset[str] | None = None
    sort: str | None = None
    offset: int = 0
    cursor: Cursor | None = None

    @classmethod
    def read(cls, request: Request, form: list[tuple[str, str]] | None, resource_type: str, allowed: Iterable[str], *,
             sorts: tuple[str, ...] = (), paging: str = "_offset") -> "Search":
        """The search ``form`` asks for (the query string's parameters when None); ``allowed`` are the resource's
        parameters, ``paging`` how pages go on."""
        form = list(request.query_params.multi_items()) if form is None else form
        allowed = set(allowed)
        results = {"_count", "_total", "_summary", "_elements", "_format", paging, *(("_sort",) if sorts else ())}
        lenient = _lenient(request)
        params: dict[str, list[str]] = {}
        control: dict[str, str] = {}
        kept = []
        for name, value in form:
            if name in allowed:
                params.setdefault(name, []).append(value)
            elif name in results:
                control[name] = value
            elif lenient:
                continue
            else:
                known = ", ".join(sorted(allowed | results))
                raise SearchError(f"unknown search parameter {name[:60]!r}; {resource_type} supports {known}")
            if name not in ("_count", paging):
                kept.append((name, value))
        total, summary, sort = control.get("_total"), control.get("_summary"), control.get("_sort")
        if total is not None and total not in TOTALS:
            raise SearchError(f"_total must be one of {', '.join(TOTALS)}")
        if summary is not None and summary not in SUMMARIES:
            raise SearchError(f"_summary must be one of {', '.join(SUMMARIES)}")
        if sort is not None and sort not in sorts:
            raise SearchError(f"{resource_type} can be sorted by _sort={' or _sort='.join(sorts)} only")
        if "_format" in control:
            check_format(control["_format"])
        return cls(
            resource_type, absolute_url(request, "/fhir"), params, tuple(kept), paging,
            count=_whole("_count", control["_count"], 0, MAX_COUNT) if "_count" in control else DEFAULT_COUNT,
            total=total, summary=summary, sort=sort, elements=cls._elements(resource_type, control.get("_elements")),
            offset=_whole("_offset", control["_offset"], 0, 2**31 - 1) if "_offset" in control else 0,
            cursor=Cursor.parse(control["_cursor"]) if "_cursor" in control else None,
        )

    @staticmethod
    def _elements(resource_type: str, text: str | None) -> frozenset[str] | None:
        if text is None:
            return None
        wanted = frozenset(name.strip() for name in text.split(",") if name.strip())
        unknown = sorted(wanted - elements_of(resource_type)[0])
        if unknown:
            raise SearchError(f"{resource_type} has no top-level element {unknown[0][:60]!r} (give _elements as "
                              "top-level element names, e.g. start,status)")
        return wanted

    @property
    def counting_only(self) -> bool:
        """``_count=0`` or ``_summary=count``: the total, no entries."""
        return self.count == 0 or self.summary == "count"

    def shaped(self, resource: dict) -> dict:
        """The resource as ``_elements`` or ``_summary`` asks: only those elements and the mandatory ones, tagged
        SUBSETTED."""
        _, mandatory, summary = elements_of(resource["resourceType"])
        if self.elements is not None:
            keep = self.elements | mandatory
        elif self.summary == "true":
            keep = summary
        elif self.summary == "text":
            keep = mandatory | {"text"}
        else:
            return resource
        subset = {name: value for name, value in resource.items() if name in keep}
        meta = dict(subset.get("meta") or {})
        meta["tag"] = [*meta.get("tag", []), SUBSETTED]
        subset["meta"] = meta
        return subset

    def offset_page(self, found: list[dict]) -> dict:
        """A page of a result built whole, by ``_offset``."""
        page = found[self.offset:self.offset + self.count]
        following = self.offset + self.count if page and self.offset + self.count < len(found) else None
        previous = max(self.offset - self.count, 0) if self.offset > 0 and self.count else None
        return self.bundle(page, total=lambda: len(found), cheap=True, following=following, previous=previous,
                           place=self.offset)

    def bundle(self, page: list[dict], *, total: Callable[[], int], cheap: bool, following: object = None,
               previous: object = None, place: object = None) -> dict:
        """The searchset Bundle of ``page``: links to this page (at ``place``) and the ``following`` one.

        ``total`` counts every match; it is called when asked for, or by default when ``cheap``.
        """
        def link(relation: str, at: object) -> dict:
            query = [*self.kept, ("_count", str(self.count)), *(((self.paging, str(at)),) if at is not None else ())]
            return {"relation": relation, "url": f"{self.base}/{self.resource_type}?{urlencode(query)}"}

        answer: dict = {"resourceType": "Bundle", "type": "searchset"}
        if self.counting_only or self.total in ("estimate", "accurate") or (cheap and self.total != "none"):
            answer["total"] = total()
        answer["link"] = [link("self", place if place is not None else self.cursor)]
        if self.counting_only:
            return answer
        if following is not None:
            answer["link"].append(link("next", following))
        if previous is not None:
            answer["link"].append(link("previous", previous))
        if page:  # FHIR JSON has no empty arrays
            answer["entry"] = [{"fullUrl": f"{self.base}/{r['resourceType']}/{r['id']}", "resource": self.shaped(r),
                                "search": {"mode": "match"}} for r in page]
        return answer


def parameters(request: Request, allowed: set[str]) -> dict[str, list[str]]:
    """The query's search parameters, for a search answered with ``bundle``."""
    return Search.read(request, None, _searched(request), allowed).params


def bundle(request: Request, resources: list[dict], params: dict[str, list[str]]) -> dict:
    """A page, by ``_offset``, of a result built whole from the ``params`` that ``parameters`` read."""
    return Search.read(request, None, _searched(request), params).offset_page(resources)


def _searched(request: Request) -> str:
    return request.url.path.removesuffix("/_search").rsplit("/", 1)[-1]


def reference_id(value: str, resource_type: str) -> str:
    """``Practitioner/3`` or ``3`` -> ``3``; another type's reference is an error."""
    if "/" in value:
        kind, _, ident = value.rpartition("/")
        if kind.rsplit("/", 1)[-1] != resource_type:
            raise SearchError(f"{value[:60]!r} is not a reference to a {resource_type}")
        return ident
    return value


PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
DATE = re.compile(r"(?P<year>[0-9]{4})(?:-(?P<month>[0-9]{2})(?:-(?P<day>[0-9]{2})(?P<time>T[0-9]{2}:[0-9]{2}"
                  r"(?P<second>:[0-9]{2}(?P<fraction>\.[0-9]{1,9})?)?(?P<offset>Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?"
                  r")?)?)?")


@dataclass(frozen=True)
class Instants:
    """The instants a set of date parameters allows: from ``low`` up to (not including) ``high``, minus ``holes``."""

    low: datetime | None = None
    high: datetime | None = None
    holes: tuple[tuple[datetime, datetime], ...] = ()

    def admits(self, moment: datetime) -> bool:
        return ((self.low is None or moment >= self.low) and (self.high is None or moment < self.high)
                and not any(start <= moment < end for start, end in self.holes))


def instants(values: list[str], zone: ZoneInfo) -> Instants:
    """Which instants (a Slot's or an Appointment's start) date parameters such as ``ge2027-03`` or
    ``lt2027-03-04T12:00:00-05:00`` allow, all of them together.

    A value stands for the range its precision spans (``2027`` a year, ``2027-03-04`` the clinic's local day,
    ``...T09:00-05:00`` a minute); an instant is ``gt`` or ``sa`` it from the range's end on, ``lt`` or ``eb``
    it before its start.
    """
    low = high = None
    holes = []
    for value in values:
        prefix, text = (value[:2], value[2:]) if value[:2] in PREFIXES else ("eq", value)
        if prefix == "ap":
            raise SearchError("the ap (approximately) prefix is not supported; give a range with ge and lt")
        start, end = _span(text, zone)
        if prefix == "ne":
            holes.append((start, end))
        lower = {"eq": start, "ge": start, "gt": end, "sa": end}.get(prefix)
        upper = {"eq": end, "le": end, "lt": start, "eb": start}.get(prefix)
        if lower is not None:
            low = max(low, lower) if low else lower
        if upper is not None:
            high = min(high, upper) if high else upper
    return Instants(low, high, tuple(holes))


def date_range(values: list[str], zone: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    """The one span of instants date parameters allow (``ne`` leaves a hole, so it is refused here)."""
    found = instants(values, zone)
    if found.holes:
        raise SearchError("the ne prefix is not supported here")
    return found.low, found.high


def _span(text: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The range of instants a FHIR date or dateTime spans, by its precision; a bare date is a local day."""
    shown = repr(text[:40])
    match = DATE.fullmatch(text)
    if match is None:
        raise SearchError(f"{shown} is not a FHIR date or dateTime (e.g. 2027, 2027-03, 2027-03-04 or "
                          "2027-03-04T09:00:00-05:00)")
    try:
        if match["time"] is None:
            year, month, day = int(match["year"]), int(match["month"] or 1), int(match["day"] or 1)
            first = on_calendar(date(year, month, day))
            if match["day"]:
                after = first + timedelta(days=1)
            elif match["month"]:
                after = date(year + month // 12, month % 12 + 1, 1)
            else:
                after = date(year + 1, 1, 1)
            return datetime.combine(first, time(0), zone), datetime.combine(after, time(0), zone)
        if match["offset"] is None:
            raise SearchError(f"{shown} needs an offset, e.g. -05:00 or Z")
        moment = schedulable(datetime.fromisoformat(text))
        digits = len(match["fraction"] or ".") - 1
        step = (timedelta(microseconds=10 ** (6 - min(digits, 6))) if digits else
                timedelta(seconds=1) if match["second"] else timedelta(minutes=1))
        return moment, moment + step
    except ValueError as exc:
        raise SearchError(f"{shown}: {exc}") from None


def local_zone(session: Session, settings: Settings, *, locations: Iterable[int | None] = (),
               clinicians: Iterable[int | None] = ()) -> ZoneInfo:
    """The zone a search's bare dates are read in: the clinic's the search names (by Location, or a Practitioner
    working there), else the one every clinic shares, else the server's (``CLINIC_TIME_ZONE``) when the clinics
    named or kept lie in different zones."""
    snapshot = catalog(session)
    named = {snapshot.locations[i].zone.key for i in locations if i in snapshot.locations}
    named |= {snapshot.locations[snapshot.clinicians[c].location_id].zone.key for c in clinicians
              if c in snapshot.clinicians and snapshot.clinicians[c].location_id in snapshot.locations}
    zones = named or {location.zone.key for location in snapshot.locations.values()}
    return ZoneInfo(zones.pop()) if len(zones) == 1 else ZoneInfo(settings.time_zone)
