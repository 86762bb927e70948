"""Prometheus' scrape target.

Off unless ``CLINIC_METRICS=true``: operators scrape it without a user's token (Prometheus has none), so it is
served only where they chose to, and with ``CLINIC_METRICS_TOKEN`` set only to a scraper that sends that token.
Labels hold route templates, location ids, channels and outcomes, never patient data. Left out of the OpenAPI
document: it is for the monitoring system, not for API clients.
"""

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import NowDep
from api.errors import answer
from scheduler.metrics import StoredState, counted_here, scrape_allowed

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
def metrics(request: Request, now: NowDep) -> Response:
    """Counters of this process (of every worker, in multiprocess mode) and the states read from the database."""
    settings = request.app.state.settings
    if not settings.metrics:
        return answer(request, 404, "metrics are off; set CLINIC_METRICS=true to serve them")
    if not scrape_allowed(settings, request.headers.get("Authorization", "")):
        return answer(request, 401, "send the metrics token (CLINIC_METRICS_TOKEN) as a bearer token",
                      headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    body = generate_latest(counted_here(settings)) + generate_latest(StoredState(request.app.state.engine, now))
    return Response(body, media_type=CONTENT_TYPE_LATEST)
