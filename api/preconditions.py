"""``If-Match``: a write made on the version of a record the client read, or refused with 412 and nothing written.

FHIR clients send the ETag (``W/"3"``) they were given; the web app sends the version of each appointment it
shows, so a screen left open cannot cancel or move a session a colleague changed meanwhile (a stale tab
cancelled a session just moved to another time; found by a probe). The check runs on the locked, fresh row.
"""

import re
from typing import Annotated

from fastapi import Header, HTTPException, status

from api.openapi import also_answers

IfMatch = Annotated[str | None, Header(
    alias="If-Match", max_length=200,
    description='W/"<version>" (the ETag, FHIR\'s meta.versionId, the REST version): change the record only if it '
                'is still that version, else 412 and nothing is written')]
CONDITIONAL = also_answers(400, 412)
"""What a write taking ``If-Match`` may answer besides the rest: a header that names no version, a version gone."""
_ENTITY_TAG = re.compile(r'(?:W/)?"([0-9]{1,10})"|([0-9]{1,10})')  # fhirpy sends the bare versionId


class PreconditionFailed(HTTPException):
    """A 412: the client's view of the record is not the stored one."""

    def __init__(self, detail: str):
        super().__init__(status.HTTP_412_PRECONDITION_FAILED, detail)


def versions_named(header: str, name: str) -> set[str] | None:
    """The versions a header names (a comma-separated list of entity tags), None for ``*`` (any version)."""
    if header.strip() == "*":
        return None
    versions = set()
    for tag in header.split(","):
        match = _ENTITY_TAG.fullmatch(tag.strip())
        if match is None:
            raise HTTPException(status.HTTP_400_BAD_REQUEST,
                                f'{name} must name a version as W/"<version>", e.g. W/"3" (from the ETag)')
        versions.add(str(int(match.group(1) or match.group(2))))
    return versions


def require_version(if_match: str | None, version: int, what: str) -> None:
    """Refuse (412) a write made on another version than ``version``, the locked row's."""
    if if_match is None:
        return
    wanted = versions_named(if_match, "If-Match")
    if wanted is not None and str(version) not in wanted:
        named = ", ".join(sorted(wanted, key=int))
        raise PreconditionFailed(f"{what} is at version {version}, not {named}: it was changed since you read it, "
                                 "so nothing was written; read it again and make your change on what it is now")
