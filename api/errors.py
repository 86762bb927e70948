"""Turning domain errors into answers, all shaped ``{"detail": ...}``.

Database-backed validation failures (an unknown location, too few device
units) come back exactly like FastAPI's own 422s, naming the field and the
reason, so a client handles one error shape.

An error answer never echoes the input: each error keeps its ``loc``, ``msg``
and ``type`` (no ``input``, no ``ctx``), texts are clipped and made encodable,
and only the first errors are listed. The input may be a megabyte, or hold
what JSON cannot carry back (a lone surrogate, an infinite number).
"""

from typing import Literal

from fastapi import FastAPI, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, TimeoutError
from sqlalchemy.orm.exc import StaleDataError

from api.access_log import route_template
from data.errors import Conflict, Forbidden, Gone, Invalid, NotFound, RateLimited
from scheduler.metrics import CONFLICTS


MAX_ERRORS, MAX_TEXT = 20, 300


def clipped(text: str) -> str:
    """``text`` short enough to answer with and encodable as UTF-8 (lone surrogates escaped)."""
    text = text if len(text) <= MAX_TEXT else f"{text[:MAX_TEXT]}..."
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def reported(errors: list[dict]) -> list[dict]:
    """Pydantic errors as answered: where, what and which kind, never the offending input."""
    shown = [_unreadable(error) or {"loc": [clipped(part) if isinstance(part, str) else part for part in error["loc"]],
                                    "msg": clipped(str(error["msg"])), "type": error["type"]}
             for error in errors[:MAX_ERRORS]]
    if len(errors) > MAX_ERRORS:
        shown.append({"loc": list(errors[MAX_ERRORS]["loc"][:1]), "type": "too_many_errors",
                      "msg": f"and {len(errors) - MAX_ERRORS} more errors; fix these first"})
    return shown


def _unreadable(error: dict) -> dict | None:
    """A body that is not JSON, said so: FastAPI reports it at ``["body", <character offset>]`` as "JSON decode
    error", which read as an element named by a number."""
    if error["type"] != "json_invalid" or len(error["loc"]) != 2:
        return None
    why = (error.get("ctx") or {}).get("error", "")
    return {"loc": ["body"], "type": "json_invalid",
            "msg": clipped(f"the body is not valid JSON at character {error['loc'][1]}" + (f": {why}" if why else ""))}


def validation_error_from(exc: ValidationError) -> RequestValidationError:
    """Report a pydantic error found after merging an update as if it were in the request body."""
    return RequestValidationError(
        [{"loc": ["body", *error["loc"]], "msg": error["msg"], "type": error["type"]} for error in exc.errors()]
    )


class Answered(BaseModel):
    """What an error answer holds, key for key: nothing else is ever written (tests validate answers with these)."""

    model_config = ConfigDict(extra="forbid")


class FieldError(Answered):
    """One thing wrong with the input: where (``loc``, e.g. ``["body", "start"]``), what and which kind."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorAnswer(Answered):
    """Every error answer outside /fhir, as :func:`answer` and FastAPI's handler write it."""

    detail: str | list[FieldError] = Field(
        description="A sentence saying what is wrong, or (422) the list of what is wrong with the input")
    blockers: list[str] = Field(default=[], description="A 409's records standing in the way, when it names them")


class OutcomeIssue(Answered):
    severity: Literal["fatal", "error", "warning", "information"]
    code: str = Field(description="A FHIR IssueType code: invalid, login, forbidden, not-found, conflict, ...")
    diagnostics: str | None = None
    expression: list[str] = Field(default=[], description="The FHIRPath of the element in error, if one is")
    location: list[str] = Field(default=[], description="R4's older XPath form; this server writes expression")


class OperationOutcome(Answered):
    """Every error answer under /fhir, as :func:`answer` writes it (FHIR R4 OperationOutcome)."""

    resourceType: Literal["OperationOutcome"]
    issue: list[OutcomeIssue] = Field(min_length=1)


FHIR_PREFIX = "/fhir"
CONCURRENT_WRITE_STATES = {"40P01", "40001"}  # PostgreSQL: deadlock detected, serialization failure
ISSUE_CODES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
               406: "not-supported", 409: "conflict", 410: "expired", 412: "conflict", 415: "not-supported",
               422: "invalid", 429: "throttled", 503: "transient"}


def answer(request: Request, status_code: int, detail, *, headers: dict | None = None,
           extra: dict | None = None) -> JSONResponse:
    """``{"detail": ...}``, or under /fhir the same words as an OperationOutcome."""
    detail = clipped(detail) if isinstance(detail, str) else detail
    if not request.url.path.startswith(FHIR_PREFIX):
        return JSONResponse({"detail": detail, **(extra or {})}, status_code=status_code, headers=headers)
    messages = detail if isinstance(detail, list) else [detail]
    issues = [{"severity": "error", "code": ISSUE_CODES.get(status_code, "processing"),
               "diagnostics": _sentence(message),
               **({"expression": [".".join(map(str, message["loc"][1:]))]} if isinstance(message, dict)
                  and len(message.get("loc", [])) > 1 else {})}
              for message in messages]
    return JSONResponse({"resourceType": "OperationOutcome", "issue": issues}, status_code=status_code,
                        headers=headers, media_type="application/fhir+json")


def _sentence(message) -> str:
    if isinstance(message, dict):
        where = " ".join(str(part) for part in message.get("loc", [])[1:])
        return f"{where}: {message.get('msg')}" if where else str(message.get("msg"))
    return str(message)


def _count_conflict(request: Request, cause: str) -> None:
    """A 409 by route template and why: refused by a check (the slot is taken, the hold is gone), by a database
    constraint (a race the checks missed), a stale version, or a concurrent write the database broke off."""
    CONFLICTS.labels(route=route_template(request.scope), cause=cause).inc()


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if not request.url.path.startswith(FHIR_PREFIX):
            return await http_exception_handler(request, exc)
        return answer(request, exc.status_code, exc.detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(request: Request, exc: RequestValidationError):
        fhir = request.url.path.startswith(FHIR_PREFIX)
        return answer(request, status.HTTP_400_BAD_REQUEST if fhir else status.HTTP_422_UNPROCESSABLE_CONTENT,
                      reported(exc.errors()))

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
        return answer(request, status.HTTP_404_NOT_FOUND, str(exc))

    @app.exception_handler(Gone)
    async def _gone(request: Request, exc: Gone) -> JSONResponse:
        return answer(request, status.HTTP_410_GONE, str(exc))

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> JSONResponse:
        return answer(request, status.HTTP_403_FORBIDDEN, str(exc))

    @app.exception_handler(Invalid)
    async def _invalid(request: Request, exc: Invalid) -> JSONResponse:
        error = {"loc": [exc.source, *exc.loc], "msg": exc.msg, "type": "value_error"}
        bad_search = exc.source == "query" and request.url.path.startswith(FHIR_PREFIX)
        return answer(request, 400 if bad_search else status.HTTP_422_UNPROCESSABLE_CONTENT, reported([error]))

    @app.exception_handler(Conflict)
    async def _conflict(request: Request, exc: Conflict) -> JSONResponse:
        _count_conflict(request, "refused")
        return answer(request, status.HTTP_409_CONFLICT, exc.msg,
                      extra={"blockers": exc.blockers} if exc.blockers else None)

    @app.exception_handler(RateLimited)
    async def _rate_limited(request: Request, exc: RateLimited) -> JSONResponse:
        return answer(request, status.HTTP_429_TOO_MANY_REQUESTS, exc.msg,
                      headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        """A constraint caught what the checks above it missed (usually a race): a conflict, never a 500."""
        reason = str(exc.orig).splitlines()[0] if exc.orig else "a database constraint"
        _count_conflict(request, "constraint")
        return answer(request, status.HTTP_409_CONFLICT, f"the change conflicts with existing data ({reason})")

    @app.exception_handler(StaleDataError)
    async def _stale(request: Request, exc: StaleDataError) -> JSONResponse:
        """A row's version moved between reading and writing it: someone else changed it first."""
        _count_conflict(request, "stale")
        return answer(request, status.HTTP_409_CONFLICT,
                      "someone else changed this record at the same moment; nothing was written, look again and retry")

    @app.exception_handler(DataError)
    async def _unstorable(request: Request, exc: DataError) -> JSONResponse:
        """A value the schemas let through but the database cannot store: the client's input, so 422."""
        reason = str(exc.orig).splitlines()[0] if exc.orig else "a value is out of range"
        error = {"loc": ["body"], "msg": f"a value cannot be stored: {reason}", "type": "value_error"}
        return answer(request, status.HTTP_422_UNPROCESSABLE_CONTENT, reported([error]))

    @app.exception_handler(OperationalError)
    @app.exception_handler(TimeoutError)
    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        if getattr(getattr(exc, "orig", None), "sqlstate", None) in CONCURRENT_WRITE_STATES:
            _count_conflict(request, "concurrent")
            return answer(request, status.HTTP_409_CONFLICT,
                          "another change to the same records was made at the same moment; nothing was written, "
                          "look again and retry")
        return answer(request, status.HTTP_503_SERVICE_UNAVAILABLE, "the database is unavailable; try again shortly",
                      headers={"Retry-After": "5"})
