"""Strong ETags for documents generated on each request, and ``If-None-Match`` against them.

The tag is a digest of the exact bytes, so it is strong (RFC 9110 8.8.3) and needs no stored state: a
document that did not change gives the same bytes and the same tag, and a client polling with it is
answered 304 without a body.
"""

import hashlib
import re

from fastapi import Request

ENTITY_TAG = re.compile(r'(?:W/)?("[^"]*")')


def of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def held(request: Request, etag: str) -> bool:
    """Whether If-None-Match names ``etag`` or is ``*``, compared weakly as RFC 9110 13.1.2 says."""
    header = request.headers.get("if-none-match")
    return header is not None and (header.strip() == "*" or etag in ENTITY_TAG.findall(header))
