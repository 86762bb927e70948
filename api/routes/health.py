"""Probes for load balancers and orchestrators."""

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from data.migrate import SchemaBehindError, ensure_current

router = APIRouter(tags=["health"])


@router.get("/health")
def health():
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/ready")
def ready(request: Request):
    """Readiness: the database answers and its schema is the one this code expects."""
    try:
        ensure_current(request.app.state.engine)
    except SchemaBehindError as exc:
        return JSONResponse({"status": "not ready", "reason": str(exc)}, status.HTTP_503_SERVICE_UNAVAILABLE)
    except SQLAlchemyError as exc:
        reason = f"database unreachable: {type(exc).__name__}"
        return JSONResponse({"status": "not ready", "reason": reason}, status.HTTP_503_SERVICE_UNAVAILABLE)
    return {"status": "ready"}
