"""Probes for load balancers and orchestrators."""

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from data.migrate import SchemaBehindError, ensure_current
from scheduler.metrics import engine_queue_exists

router = APIRouter(tags=["health"])


@router.get("/health")
def health():
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/ready")
def ready(request: Request):
    """Readiness: the database answers, its schema is the one this code expects, and on PostgreSQL the task
    engine's queue is there (background work would fail without it)."""
    engine = request.app.state.engine
    try:
        ensure_current(engine)
        if engine.dialect.name == "postgresql":
            with engine.connect() as connection:
                if not engine_queue_exists(connection):
                    return _not_ready("task engine schema missing: no procrastinate_jobs table; run `clinic db "
                                      "upgrade`")
    except SchemaBehindError as exc:
        return _not_ready(str(exc))
    except SQLAlchemyError as exc:
        return _not_ready(f"database unreachable: {type(exc).__name__}")
    return {"status": "ready"}


def _not_ready(reason: str) -> JSONResponse:
    return JSONResponse({"status": "not ready", "reason": reason}, status.HTTP_503_SERVICE_UNAVAILABLE)
