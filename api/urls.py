"""The absolute URLs the service hands out: status links, patients' pages, calendar feeds, FHIR, deep links.

Every one starts with the configured public base URL (``CLINIC_PUBLIC_BASE_URL``),
never with the ``Host`` header of the request that asked for it: a client may
send any Host, and a link the clinic hands on (to a visitor, a calendar
provider, a FHIR client) must not point at a site of that client's choosing.
"""

from fastapi import Request


def absolute_url(request: Request, path: str, query: str = "") -> str:
    """``path`` (and ``query``, already encoded) under the service's public base URL."""
    return f"{request.app.state.settings.public_base_url}{path}" + (f"?{query}" if query else "")


SMART_TOKEN_PATH = "/auth/token"


def smart_token_endpoint(request: Request) -> str:
    """Where backend clients (SMART Backend Services) trade a signed JWT for a token; that JWT's ``aud``."""
    return absolute_url(request, SMART_TOKEN_PATH)
