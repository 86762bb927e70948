"""Versions and conditions of FHIR interactions: ETag and Last-Modified, If-Match, If-None-Match, vread, and
conditional create (If-None-Exist).

A resource's ``meta.versionId`` is its row's ``version`` (SQLAlchemy's version_id_col: every update moves it
on). A client that read version 3 and writes with ``If-Match: W/"3"`` changes the record only if nobody changed
it since: the write compares the header with the row it has locked for the change, so a change committed between
the client's read and its write is caught (412, nothing written) instead of being overwritten.

Conditional create runs the resource type's own search on the header's query, under a lock on that type, so two
identical conditional creates at once make one record.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Header, HTTPException, Path, Request, Response, status
from sqlmodel import Session

from api.fhir.common import FHIRResponse, OUTCOME
from api.preconditions import PreconditionFailed, versions_named
from data.locking import serialize_on

VersionId = Annotated[str, Path(pattern=r"^[0-9]{1,10}$", description="A meta.versionId, e.g. 3")]
IfNoneMatch = Annotated[str | None, Header(
    alias="If-None-Match", max_length=200,
    description='W/"<versionId>": 304 Not Modified, without a body, while the resource is still that version')]
IfNoneExist = Annotated[str | None, Header(
    alias="If-None-Exist", max_length=2000,
    description="Search parameters (e.g. identifier=...): create only when nothing matches them; one match is "
                "answered (200) instead, several are a 412")]
NOT_MODIFIED = {304: {"description": "Still the version the If-None-Match header names"}}
PRECONDITION = {412: {**OUTCOME, "description": "A precondition (If-Match, If-None-Exist) does not hold; nothing "
                                                "was written"}}


def version_headers(resource: dict) -> dict[str, str]:
    """ETag (the weak ``W/"<versionId>"`` FHIR uses) and, when the resource says, Last-Modified."""
    meta = resource["meta"]
    headers = {"ETag": f'W/"{meta["versionId"]}"'}
    if "lastUpdated" in meta:
        moment = datetime.fromisoformat(meta["lastUpdated"]).astimezone(UTC)
        headers["Last-Modified"] = format_datetime(moment, usegmt=True)
    return headers


def answer(resource: dict, status_code: int = status.HTTP_200_OK,
           headers: dict[str, str] | None = None) -> FHIRResponse:
    """The resource as FHIR JSON, with its version's headers."""
    return FHIRResponse(resource, status_code=status_code, headers={**version_headers(resource), **(headers or {})})


def not_modified(if_none_match: str | None, resource: dict) -> Response | None:
    """304 Not Modified when the client holds the current version already."""
    if if_none_match is None:
        return None
    held = versions_named(if_none_match, "If-None-Match")
    if held is not None and resource["meta"]["versionId"] not in held:
        return None
    return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=version_headers(resource))


def read(resource: dict, if_none_match: str | None) -> Response:
    """A read's answer: the resource with its version's headers, or 304 while the client's copy is current."""
    return not_modified(if_none_match, resource) or answer(resource)


def version_read(resource: dict, version_id: str) -> FHIRResponse:
    """vread: only the current version is kept (the audit log tells the past, not as FHIR resources)."""
    current = resource["meta"]["versionId"]
    if version_id != current:
        what = f"{resource['resourceType']}/{resource['id']}"
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"{what} version {version_id} is not kept: only the current version, {current}, "
                            f"can be read (GET {what} or {what}/_history/{current})")
    return answer(resource)


def existing(request: Request, session: Session, if_none_exist: str, resource_type: str,
             search: Callable[[Request], dict]) -> dict | None:
    """The one resource the If-None-Exist query finds, None when it finds none; several are a 412.

    ``search`` is the type's own search endpoint, run on the query; the lock taken first is held until the
    create commits, so a concurrent conditional create of the same type finds what this one makes.
    """
    query = if_none_exist.strip().removeprefix("?")
    names = {name for name, _ in parse_qsl(query, keep_blank_values=True)}
    if not names or any(name.startswith("_") and name != "_id" for name in names):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"If-None-Exist takes search criteria of {resource_type} "
                                                         "(e.g. identifier=...), not result parameters like _count")
    serialize_on(session, f"fhir-conditional-create:{resource_type}")
    found = search(Request({**request.scope, "method": "GET", "path": f"/fhir/{resource_type}",
                            "query_string": query.encode("latin-1")}))
    matches = [entry["resource"] for entry in found.get("entry", [])]
    total = found.get("total", len(matches))
    if total > 1:
        raise PreconditionFailed(f"{total} {resource_type} resources match If-None-Exist {query[:200]!r}, so nothing "
                                 "was created; give criteria that single one out")
    return matches[0] if matches else None

