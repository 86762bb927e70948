"""The access log without patient data or secrets, each request's id, and what requests are counted by.

Uvicorn logs each request line. Query strings can hold patient data (a
search by name) and some paths carry secrets (calendar feeds, request status
links, patients' pages), so the line keeps the path with long random-looking
segments masked, and drops the query string.

Every request gets an id: the caller's ``X-Request-ID`` when it is a sane
token (a proxy or client that already named the request), else a new one. It
is answered in ``X-Request-ID`` and stamped on every log line written while
the request is handled, so one request's lines can be found together.
Requests are counted by route template (``/api/v1/patients/{patient_id}``),
never by raw path, so no record id or secret becomes a metric label.
"""

import logging
import re
import sys
import uuid
from contextvars import ContextVar
from time import perf_counter

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scheduler.metrics import HTTP_REQUESTS, HTTP_SECONDS

SECRET_SEGMENT = re.compile(r"(?<=/)[A-Za-z0-9_\-]{20,}(?=\.ics$|/|$)")
REQUEST_ID_HEADER = "X-Request-ID"
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:+=@/-]{1,128}")  # a token: nothing that could forge or split a log line
UNROUTED = "unrouted"  # the label of a request no route took (a 404, a static file)
request_id: ContextVar[str] = ContextVar("request_id", default="-")
HUMAN_FORMAT = "%(levelname)s: %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = "%(levelname)s %(name)s %(request_id)s %(message)s"


def scrub(path: str) -> str:
    return SECRET_SEGMENT.sub("…", path.split("?", 1)[0])


def route_template(scope: Scope) -> str:
    """The path template of the route that took the request, e.g. ``/api/v1/patients/{ident}``.

    The route knows its own path without the prefix of the router it was included with (``/api/v1``); the prefix
    is the literal part of the request's path before the route's own pattern matches.
    """
    route = scope.get("route")
    pattern = getattr(route, "path_regex", None)
    if pattern is None:
        return UNROUTED
    path = scope["path"]
    prefix = next((path[:cut] for cut, char in enumerate(path) if char == "/" and pattern.match(path[cut:])), "")
    return prefix + route.path


class ScrubbedAccessLog(logging.Filter):
    """Rewrites uvicorn's access-log record (client, method, path, version, status) in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3:
            args = list(record.args)
            args[2] = scrub(str(args[2]))
            record.args = tuple(args)
        return True


class RequestIdFilter(logging.Filter):
    """Stamps the id of the request being handled (``-`` outside one) on each record a handler writes."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class ObservedRequests:
    """ASGI middleware: the request's id (kept or made, and answered), then its count and time by route template.

    Each request runs in its own task, so its own context: the id is not reset when the answer is sent, and the
    server's own lines about the request (its access line, a traceback) still carry it.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        ident = given if SANE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        request_id.set(ident)
        answered = 500  # unless an answer starts: an exception the server answers itself
        started = perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = ident
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = route_template(scope)
            HTTP_REQUESTS.labels(method=scope["method"], route=route, status=str(answered)).inc()
            HTTP_SECONDS.labels(method=scope["method"], route=route).observe(perf_counter() - started)


def formatter(log_format: str) -> logging.Formatter:
    """One JSON object per line (UTC ISO time, level, logger, request id, message, exception), or the human line."""
    if log_format == "json":
        return JsonFormatter(JSON_FIELDS, timestamp="time", rename_fields={"levelname": "level", "name": "logger"},
                             reserved_attrs=[*RESERVED_ATTRS, "color_message"])  # uvicorn's ANSI-coloured copy
    return logging.Formatter(HUMAN_FORMAT)


def install(log_format: str = "human") -> None:
    """Configure the served process's logging, after uvicorn's own set-up.

    Uvicorn's access line is scrubbed. Our loggers (``clinic.*``) write INFO and up, everything else WARNING and up,
    through one handler on the root logger. In JSON, uvicorn's handlers write JSON too, so every line is one
    object; in the human format uvicorn's lines stay as they are.
    """
    logging.getLogger("uvicorn.access").addFilter(ScrubbedAccessLog())
    stamp = RequestIdFilter()
    for name in ("uvicorn", "uvicorn.access"):
        for handler in logging.getLogger(name).handlers:
            handler.addFilter(stamp)
            if log_format == "json":
                handler.setFormatter(formatter(log_format))
    ours = logging.StreamHandler(sys.stderr)
    ours.addFilter(stamp)
    ours.setFormatter(formatter(log_format))
    root = logging.getLogger()
    root.addHandler(ours)
    root.setLevel(logging.WARNING)
    logging.getLogger("clinic").setLevel(logging.INFO)
