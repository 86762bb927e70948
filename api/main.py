"""The FastAPI application: one factory, configured by :class:`data.config.Settings`."""

import secrets
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from sqlalchemy import Engine

from api.access_log import ObservedRequests
from api.availability_shortcut import AvailabilityShortcut
from api.body_limit import BodyLimit
from api.errors import install_error_handlers
from api.openapi import install_openapi
from api.schemas.common import CALENDAR
from api import web
from api.web import api_docs, vendor
from api.fhir import routes as fhir
from api.routes import (
    audit,
    auth,
    backend_clients,
    booking,
    catalog,
    health,
    messages,
    metrics,
    optimization,
    patients,
    plans,
    public,
    rosters,
    schedule,
    sms,
    smart,
    visit_requests,
    waitlist,
)
from data.change_feed import ChangeFeed
from data.config import Settings, get_settings
from data.db import make_engine, session_capacity
from data.migrate import ensure_current
from scheduler.jobs import start_background_jobs

API_PREFIX = "/api/v1"


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the app; it refuses to start on a database whose schema is behind."""
    settings = settings or get_settings()
    engine = engine or make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        ensure_current(engine)
        app.state.session_gate = anyio.Semaphore(session_capacity(engine))
        app.state.jobs = start_background_jobs(engine, settings) if settings.background_jobs else None
        app.state.change_feed = (ChangeFeed(engine).start()
                                 if settings.availability_memory and engine.dialect.name == "postgresql" else None)
        yield
        if app.state.change_feed is not None:
            app.state.change_feed.stop()
        if app.state.jobs is not None:
            app.state.jobs.shutdown(wait=False)

    app = FastAPI(
        title="Clinic scheduling",
        summary="Treatment-plan scheduling and equipment booking for physical-therapy and sports-rehab clinics.",
        description=f"{CALENDAR} A request body over {settings.max_body_bytes} bytes (`CLINIC_MAX_BODY_BYTES`) is "
                    "refused with 413 before it is read, or as soon as that many bytes of it have arrived.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.token_key = (
        settings.secret_key.get_secret_value() if settings.secret_key else secrets.token_urlsafe(32)
    )
    app.add_middleware(AvailabilityShortcut, host=app)  # innermost: its answers still get an id, a count, a limit
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(ObservedRequests)  # outermost: a refused body is counted and carries its request id too
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(auth.router, prefix=API_PREFIX)
    app.include_router(catalog.router, prefix=API_PREFIX)
    app.include_router(booking.router, prefix=API_PREFIX)
    app.include_router(plans.router, prefix=API_PREFIX)
    app.include_router(waitlist.router, prefix=API_PREFIX)
    app.include_router(optimization.router, prefix=API_PREFIX)
    app.include_router(audit.router, prefix=API_PREFIX)
    app.include_router(rosters.router, prefix=API_PREFIX)
    app.include_router(schedule.router, prefix=API_PREFIX)
    app.include_router(rosters.feeds)
    app.include_router(public.router, prefix=API_PREFIX)
    app.include_router(sms.router, prefix=API_PREFIX)
    app.include_router(visit_requests.router, prefix=API_PREFIX)
    app.include_router(patients.router, prefix=API_PREFIX)
    app.include_router(messages.router, prefix=API_PREFIX)
    app.include_router(messages.public, prefix=API_PREFIX)
    app.include_router(backend_clients.router, prefix=API_PREFIX)
    app.include_router(smart.router)
    app.include_router(fhir.router)
    app.include_router(web.router)
    app.include_router(vendor.router)
    app.include_router(api_docs.router)
    app.mount("/static", web.static, name="static")
    install_openapi(app)
    return app
