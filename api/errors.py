"""Turning domain errors into answers, all shaped ``{"detail": ...}``.

Database-backed validation failures (an unknown location, too few device
units) come back exactly like FastAPI's own 422s, naming the field and the
reason, so a client handles one error shape.
"""

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, TimeoutError

from data.errors import Conflict, Forbidden, Gone, Invalid, NotFound


def validation_error_from(exc: ValidationError) -> RequestValidationError:
    """Report a pydantic error found after merging an update as if it were in the request body."""
    return RequestValidationError(
        [{"loc": ["body", *error["loc"]], "msg": error["msg"], "type": error["type"]} for error in exc.errors()]
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_404_NOT_FOUND)

    @app.exception_handler(Gone)
    async def _gone(_: Request, exc: Gone) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_410_GONE)

    @app.exception_handler(Forbidden)
    async def _forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_403_FORBIDDEN)

    @app.exception_handler(Invalid)
    async def _invalid(_: Request, exc: Invalid) -> JSONResponse:
        error = {"loc": [exc.source, *exc.loc], "msg": exc.msg, "type": "value_error"}
        return JSONResponse({"detail": [error]}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.exception_handler(Conflict)
    async def _conflict(_: Request, exc: Conflict) -> JSONResponse:
        body = {"detail": exc.msg, **({"blockers": exc.blockers} if exc.blockers else {})}
        return JSONResponse(body, status_code=status.HTTP_409_CONFLICT)

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        """A constraint caught what the checks above it missed (usually a race): a conflict, never a 500."""
        reason = str(exc.orig).splitlines()[0] if exc.orig else "a database constraint"
        return JSONResponse(
            {"detail": f"the change conflicts with existing data ({reason})"}, status_code=status.HTTP_409_CONFLICT
        )

    @app.exception_handler(DataError)
    async def _unstorable(_: Request, exc: DataError) -> JSONResponse:
        """A value the schemas let through but the database cannot store: the client's input, so 422."""
        reason = str(exc.orig).splitlines()[0] if exc.orig else "a value is out of range"
        error = {"loc": ["body"], "msg": f"a value cannot be stored: {reason}", "type": "value_error"}
        return JSONResponse({"detail": [error]}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.exception_handler(OperationalError)
    @app.exception_handler(TimeoutError)
    async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            {"detail": "the database is unavailable; try again shortly"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
