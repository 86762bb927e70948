"""``/docs`` (Swagger UI) and ``/redoc`` with their scripts served by this process (see :mod:`api.web.vendor`).

FastAPI's defaults load both from a CDN, so on a clinic network without
internet (or behind a strict proxy) the pages were blank.
"""

from fastapi import APIRouter
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

OPENAPI_URL = "/openapi.json"
FAVICON = "/static/favicon.svg"

router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(openapi_url=OPENAPI_URL, title="Clinic scheduling API",
                               swagger_js_url="/vendor/swagger-ui.js", swagger_css_url="/vendor/swagger-ui.css",
                               swagger_favicon_url=FAVICON)


@router.get("/redoc", response_class=HTMLResponse)
def redoc() -> HTMLResponse:
    return get_redoc_html(openapi_url=OPENAPI_URL, title="Clinic scheduling API", redoc_js_url="/vendor/redoc.js",
                          redoc_favicon_url=FAVICON, with_google_fonts=False)
