"""Third-party browser packages, served from the npm install next to the project (``npm ci``), never from a CDN.

Only the files named here are reachable, under ``/vendor/<name>``: the calendar
component of the schedule screen, Swagger UI and ReDoc for ``/docs`` and
``/redoc`` (so they work without internet), and axe-core for the accessibility
checks. ``package.json`` and its lockfile pin the versions; nothing third-party
is committed. A missing install is a clear 503 that says what to run.
"""

import os
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

FILES = {
    "event-calendar.js": "@event-calendar/build/dist/event-calendar.min.js",
    "event-calendar.css": "@event-calendar/build/dist/event-calendar.min.css",
    "swagger-ui.js": "swagger-ui-dist/swagger-ui-bundle.js",
    "swagger-ui.css": "swagger-ui-dist/swagger-ui.css",
    "redoc.js": "redoc/bundles/redoc.standalone.js",
    "axe.js": "axe-core/axe.min.js",
    "luxon.js": "luxon/build/es6/luxon.mjs",
}
MEDIA_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css"}
ONE_DAY = "public, max-age=86400"

router = APIRouter(include_in_schema=False)


def packages_folder() -> Path:
    """``CLINIC_WEB_PACKAGES``, or the ``node_modules`` beside this checkout's ``package.json``."""
    configured = os.environ.get("CLINIC_WEB_PACKAGES")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "node_modules"


def installed() -> bool:
    return all((packages_folder() / relative).is_file() for relative in FILES.values())


@router.get("/vendor/{name}")
def vendor_file(name: str) -> FileResponse:
    relative = FILES.get(name)
    if relative is None:
        raise HTTPException(404, f"no vendored file {name!r}")
    path = packages_folder() / relative
    if not path.is_file():
        raise HTTPException(503, "the web app's packages are not installed: run `npm ci` in the project folder "
                                 "(or point CLINIC_WEB_PACKAGES at a node_modules folder)")
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers={"Cache-Control": ONE_DAY})
