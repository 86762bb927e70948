"""FHIR search plumbing: searchset Bundles with paging links, references, and date parameters with prefixes."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from fastapi import Request

from api.schemas.common import on_calendar, schedulable
from api.urls import absolute_url
from data.errors import Invalid

PAGING = {"_count", "_offset"}
DEFAULT_COUNT, MAX_COUNT = 50, 200


class SearchError(Invalid):
    """A search parameter the server cannot use; answered as a 400 OperationOutcome."""

    def __init__(self, msg: str):
        super().__init__((), msg, source="query")


def parameters(request: Request, allowed: set[str]) -> dict[str, list[str]]:
    """The query's search parameters (each possibly repeated); an unknown one is an error, not silently ignored."""
    found: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        if name not in allowed | PAGING:
            known = ", ".join(sorted(allowed | PAGING))
            raise SearchError(f"unknown search parameter {name!r}; this resource supports {known}")
        found.setdefault(name, []).append(value)
    return found


def _whole(params: dict[str, list[str]], name: str, default: int, low: int, high: int) -> int:
    values = params.get(name)
    if not values:
        return default
    try:
        number = int(values[-1])
    except ValueError:
        raise SearchError(f"{name} must be a whole number") from None
    if not low <= number <= high:
        raise SearchError(f"{name} must be between {low} and {high}")
    return number


def bundle(request: Request, resources: list[dict], params: dict[str, list[str]]) -> dict:
    """One page of ``resources`` as a searchset Bundle, with self, next and previous links."""
    count = _whole(params, "_count", DEFAULT_COUNT, 1, MAX_COUNT)
    offset = _whole(params, "_offset", 0, 0, 2**31 - 1)
    base = absolute_url(request, "")

    def link(relation: str, at: int) -> dict:
        query = request.url.include_query_params(_offset=at, _count=count).query
        return {"relation": relation, "url": absolute_url(request, request.url.path, query)}

    links = [link("self", offset)]
    if offset + count < len(resources):
        links.append(link("next", offset + count))
    if offset > 0:
        links.append(link("previous", max(offset - count, 0)))
    return {
        "resourceType": "Bundle", "type": "searchset", "total": len(resources), "link": links,
        "entry": [{"fullUrl": f"{base}/fhir/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
                  for r in resources[offset:offset + count]],
    }


def reference_id(value: str, resource_type: str) -> str:
    """``Practitioner/3`` or ``3`` -> ``3``; another type's reference is an error."""
    if "/" in value:
        kind, _, ident = value.rpartition("/")
        if kind.rsplit("/", 1)[-1] != resource_type:
            raise SearchError(f"{value!r} is not a reference to a {resource_type}")
        return ident
    return value


PREFIXES = ("eq", "ge", "gt", "le", "lt")


def date_range(values: list[str], zone: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    """The instants a set of date parameters (``ge2027-03-03``, ``lt2027-03-04T12:00:00-05:00``, ...) allows.

    A bare date means that whole local day (in ``zone``); a date-time must carry an offset.
    """
    low = high = None
    for value in values:
        prefix, text = (value[:2], value[2:]) if value[:2] in PREFIXES else ("eq", value)
        start, end = _instant(text, zone)
        if prefix in ("eq", "ge"):
            low = max(low, start) if low else start
        if prefix == "gt":
            low = max(low, end) if low else end
        if prefix in ("eq", "le"):
            high = min(high, end) if high else end
        if prefix == "lt":
            high = min(high, start) if high else start
    return low, high


def _instant(text: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    shown = repr(text[:40])
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SearchError(f"{shown} is not a FHIR date or dateTime") from None
    try:
        if len(text) == 10:
            day = on_calendar(moment.date())
            return datetime.combine(day, time(0), zone), datetime.combine(day + timedelta(days=1), time(0), zone)
        if moment.tzinfo is None:
            raise SearchError(f"{shown} needs an offset, e.g. -05:00 or Z")
        return schedulable(moment), moment + timedelta(seconds=1)
    except ValueError as exc:
        raise SearchError(f"{shown}: {exc}") from None
