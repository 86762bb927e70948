"""Answering a repeated availability search from memory, before the framework does any work.

Front desks, patients' pages and slot finders ask the same search again and
again while nothing changes. The search itself is fast from the process's
caches (``scheduler.free_time``, ``scheduler.search_memo``), but a request
through the framework still costs a database round trip for the caller's
account, one for the schedule's versions, routing among a hundred routes,
dependency solving and validating and serializing the answer: about ten times
a trivial request. This ASGI middleware keeps, per process:

- each answer's bytes by its exact query string, with the change counts it was
  made under (``data.change_feed``) and the moment the clock alone would
  change it (``Availability.good_until``: the earliest bookable start moving,
  a hold lapsing);
- each bearer token that the route accepted, with its expiry and the counts of
  account changes it was accepted under.

A request whose token and query are both known and still good is answered with
the kept bytes; any other goes to the route, and a 200 it gives is kept for the
next (an answer depends on nothing of the caller's but their being signed in:
only a patient's search would, and it is never kept). Requests for the same
search that arrive while the route is making it wait for that one answer, so a
change does not send every waiting client to the database at once.

What is never answered from memory: a search for a patient (their own sessions
carry no version), a request asking ``Cache-Control: no-cache``, and anything
while the change feed is not listening (SQLite, or the connection lost). An answer served from memory was the route's answer under the same
counts; a change committed by another process reaches this one within the
notification's delay, and the booking path's own check still refuses a slot
taken meanwhile, as it refuses one taken between any search and a booking.
"""

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs

from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import get_now
from api.security import InvalidToken, read_token
from scheduler.metrics import AVAILABILITY_ANSWERS

PATH = "/api/v1/availability"
GOOD_UNTIL = "availability_good_until"  # request.state: the route's Availability.good_until
ANSWERS_KEPT = 1024
CALLERS_KEPT = 4096


@dataclass(frozen=True)
class _Answer:
    stamp: tuple
    good_until: datetime
    headers: list[tuple[bytes, bytes]]
    body: bytes


@dataclass(frozen=True)
class _Caller:
    stamp: tuple
    expires: datetime


class AvailabilityShortcut:
    """ASGI middleware for ``GET /api/v1/availability``; every other request passes straight through."""

    def __init__(self, app: ASGIApp, host) -> None:
        self.app, self.host = app, host  # host: the FastAPI app (its state, routes and dependency overrides)
        self.answers: dict[bytes, _Answer] = {}
        self.callers: dict[str, _Caller] = {}
        self.flights: dict[tuple[bytes, tuple], asyncio.Future] = {}  # searches under way, by query and counts
        self._route: Route | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "GET":
            return await self.app(scope, receive, send)
        feed = getattr(self.host.state, "change_feed", None)
        token, revalidate = _request_headers(scope)
        query = scope["query_string"]
        if feed is None or not feed.live or token is None or b"patient_id" in query:
            AVAILABILITY_ANSWERS.labels(source="route").inc()
            return await self.app(scope, receive, send)
        answers_stamp, callers_stamp = feed.answers_stamp(_location_id(query)), feed.callers_stamp()
        now = await self._now()
        caller = self.callers.get(token)
        if (not revalidate and caller is not None and caller.stamp == callers_stamp
                and datetime.now(UTC) < caller.expires):  # a token expires by the wall clock, as jwt checks it
            answer = self.answers.get(query)
            flight = self.flights.get((query, answers_stamp))
            if not _good(answer, answers_stamp, now) and flight is not None:
                answer = await asyncio.shield(flight)  # the search another request is making for the same state
            if _good(answer, answers_stamp, now):
                scope["route"] = self._availability_route()  # counted under its route, as if the route had answered
                AVAILABILITY_ANSWERS.labels(source="memory").inc()
                await send({"type": "http.response.start", "status": 200, "headers": answer.headers})
                await send({"type": "http.response.body", "body": answer.body})
                return
        AVAILABILITY_ANSWERS.labels(source="route").inc()
        await self._search(scope, receive, send, feed, token, answers_stamp, callers_stamp)

    async def _search(self, scope: Scope, receive: Receive, send: Send, feed, token: str, answers_stamp: tuple,
                      callers_stamp: tuple) -> None:
        """The route's answer, kept if it is a 200 that says how long it holds; requests for the same search under
        the same counts that arrive meanwhile wait for it instead of each searching (after a change, all at once)."""
        query = scope["query_string"]
        flight_key = (query, answers_stamp)
        flight = None if flight_key in self.flights else asyncio.get_running_loop().create_future()
        if flight is not None:
            self.flights[flight_key] = flight
        start: Message = {}
        body: list[bytes] = []

        async def kept(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif start.get("status") == 200:
                body.append(message.get("body", b""))
            await send(message)

        answer = None
        try:
            await self.app(scope, receive, kept)
            good_until = scope.get("state", {}).get(GOOD_UNTIL)
            if start.get("status") == 200 and good_until is not None and feed.live:
                answer = _Answer(answers_stamp, good_until, list(start["headers"]), b"".join(body))
                _keep(self.answers, query, answer, ANSWERS_KEPT)
                with suppress(InvalidToken):  # expired since the route read it: not kept
                    expires = read_token(token, key=self.host.state.token_key).expires
                    _keep(self.callers, token, _Caller(callers_stamp, expires), CALLERS_KEPT)
        finally:
            if flight is not None:
                del self.flights[flight_key]
                flight.set_result(answer)

    async def _now(self) -> datetime:
        """The route's clock: ``get_now``, or what a test stood the clinic at instead."""
        clock: Callable[[], datetime | Awaitable[datetime]] = self.host.dependency_overrides.get(get_now, get_now)
        moment = clock()
        return await moment if inspect.isawaitable(moment) else moment

    def _availability_route(self) -> Route | None:
        if self._route is None:
            self._route = next((route for route in self.host.routes if getattr(route, "path", None) == PATH), None)
        return self._route


def _request_headers(scope: Scope) -> tuple[str | None, bool]:
    """The bearer token, and whether the client asked for a fresh answer (``Cache-Control: no-cache``)."""
    token, revalidate = None, False
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            token = credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None
        elif name == b"cache-control" or name == b"pragma":
            revalidate = revalidate or b"no-cache" in value
    return token, revalidate


def _location_id(query: bytes) -> int | None:
    """The searched location, or None for every location (a malformed one is the route's to refuse)."""
    given = parse_qs(query.decode("latin-1")).get("location_id")
    try:
        return int(given[-1]) if given else None
    except ValueError:
        return None


def _good(answer: _Answer | None, stamp: tuple, now: datetime) -> bool:
    return answer is not None and answer.stamp == stamp and now < answer.good_until


def _keep(store: dict, key, value, limit: int) -> None:
    store.pop(key, None)
    store[key] = value
    if len(store) > limit:
        del store[next(iter(store))]
