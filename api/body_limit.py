"""A cap on request bodies: one too large is answered 413 and the connection closed, the rest never read.

A body whose Content-Length is over the cap is refused before any of it is
read; a chunked one as soon as the bytes read pass the cap. The 413 closes
the connection, so the server does not go on draining what the client still
sends. (FastAPI's own ``max_body_size`` counts the same way, but answers a
declared size in plain text and keeps the connection open, reading the rest.)
"""

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import answer


class BodyTooLarge(HTTPException):
    """Raised from ``receive``; FastAPI passes HTTP exceptions met while reading a body on unchanged."""

    def __init__(self, limit: int):
        super().__init__(413, detail=f"the request body is larger than the {limit} bytes this service accepts "
                                     "(CLINIC_MAX_BODY_BYTES)", headers={"Connection": "close"})


class BodyLimit:
    def __init__(self, app: ASGIApp, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > self.limit:
            refusal = BodyTooLarge(self.limit)
            response = answer(Request(scope), refusal.status_code, refusal.detail, headers=refusal.headers)
            await response(scope, receive, send)
            return
        read = 0

        async def counted() -> Message:
            nonlocal read
            message = await receive()
            read += len(message.get("body", b""))
            if read > self.limit:
                raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, counted, send)
