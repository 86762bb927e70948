"""The front desk's and clinicians' web pages, served by the API process.

Pages are server-rendered shells; JavaScript modules (``static/js/``, one per
page in ``static/js/pages/``) fill them from the same JSON API everyone else uses, with the token the
login page obtained, so the web app has no rules of its own to keep in step.
"""

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

HERE = Path(__file__).parent
STAFF, DESK, ADMIN = "admin front_desk clinician", "admin front_desk", "admin"
# Staff pages: the menu label and the roles whose menu shows it (the API decides what each role may do).
PAGES = {
    "schedule": ("Schedule", DESK),
    "desk": ("Book", DESK),
    "plans": ("Plans", DESK),
    "today": ("Today", DESK),
    "patients": ("Patients", DESK),
    "waitlist": ("Waitlist", DESK),
    "requests": ("Requests", DESK),
    "board": ("Day board", DESK),
    "roster": ("Roster", STAFF),
    "runs": ("Nightly runs", DESK),
    "admin": ("Admin", ADMIN),
}
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)
static = StaticFiles(directory=HERE / "static")

def _page(request: Request, name: str) -> HTMLResponse:
    return templates.TemplateResponse(request, f"{name}.html", {"pages": PAGES, "current": name},
                                      headers=SECURITY_HEADERS)

@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/app/schedule")

@router.get("/app/login", response_class=HTMLResponse)
def login(request: Request):
    return _page(request, "login")

@router.get("/request", response_class=HTMLResponse)
def public_request(request: Request):
    """The public page behind the clinic site's "Request telehealth" and "Request in-office visit" buttons."""
    return _page(request, "request")

@router.get("/request/{token}", response_class=HTMLResponse)
def public_request_status(request: Request, token: str):
    return _page(request, "request_status")

@router.get("/me/{token}", response_class=HTMLResponse)
def patient_page(request: Request, token: str):
    return _page(request, "me")

@router.get("/me/{token}/stop", response_class=HTMLResponse)
def unsubscribe_page(request: Request, token: str):
    """The unsubscribe link of every e-mail: a page with a button; opening it changes nothing."""
    return _page(request, "stop")

@router.get("/app/{name}", response_class=HTMLResponse)
def page(request: Request, name: str):
    if name not in PAGES:
        return templates.TemplateResponse(request, "missing.html", {"pages": PAGES, "current": None},
                                          status_code=404, headers=SECURITY_HEADERS)
    return _page(request, name)
