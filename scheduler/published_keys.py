"""The JWK Sets backend clients publish at their jwks_uri, read when needed and kept as long as the client allows.

SMART Backend Services lets a client publish its public keys at a URL
instead of registering them. Reading that URL at every sign-in made each
token request wait on the client's web server (and a slow or unreachable
one fail the sign-in). Each process now keeps a set for as long as its
``Cache-Control: max-age`` says (five minutes when it says nothing, an hour
at most; ``no-store`` or ``no-cache``: not kept), and reads it again at
once when an assertion names a key the kept set lacks, so a client that
rotates its keys signs in with the new one straight away. Such a re-read
happens at most once in ``REREAD_SECONDS`` per URL, so a stream of
assertions naming unknown keys costs one request to the client, not one each.
A key the client withdraws stays usable until the kept copy expires; that
is the time its own Cache-Control asks for.
"""

import json
import re
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

FETCH_SECONDS = 5
DEFAULT_SECONDS = 300
LONGEST_SECONDS = 3600
REREAD_SECONDS = 10
LARGEST_SET_BYTES = 64 * 1024


class KeysUnavailable(Exception):
    """The client's published JWK Set could not be read."""


@dataclass(frozen=True)
class _Kept:
    keys: list[dict]
    until: float
    read_at: float


_kept: dict[str, _Kept] = {}
_lock = threading.Lock()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is refused (answered as the 3xx it is): the URL registered, checked once, is the one read."""

    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def keys_at(uri: str, kid: str | None = None) -> list[dict]:
    """The keys published at ``uri``: the kept copy while it is fresh and (when ``kid`` is given) holds that kid,
    else read now."""
    now = time.monotonic()
    with _lock:
        kept = _kept.get(uri)
    if kept is not None and now < kept.until and (
            kid is None or any(key.get("kid") == kid for key in kept.keys) or now - kept.read_at < REREAD_SECONDS):
        return kept.keys
    keys, seconds = _read(uri)
    with _lock:
        if seconds > 0:
            _kept[uri] = _Kept(keys, time.monotonic() + seconds, time.monotonic())
        else:
            _kept.pop(uri, None)
    return keys


def forget() -> None:
    """Drop every kept set (a test's fresh start)."""
    with _lock:
        _kept.clear()


def _read(uri: str) -> tuple[list[dict], int]:
    request = urllib.request.Request(uri, headers={"Accept": "application/json", "User-Agent": "clinic-scheduler"})
    try:
        with _opener.open(request, timeout=FETCH_SECONDS) as response:
            body = response.read(LARGEST_SET_BYTES + 1)
            seconds = _lifetime(response.headers.get("Cache-Control", ""))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise KeysUnavailable(f"the JWK Set at {uri} could not be read") from exc
    if len(body) > LARGEST_SET_BYTES:
        raise KeysUnavailable(f"the JWK Set at {uri} is larger than {LARGEST_SET_BYTES // 1024} kB")
    try:
        published = json.loads(body)
    except ValueError as exc:
        raise KeysUnavailable(f"the JWK Set at {uri} is not JSON") from exc
    keys = published.get("keys") if isinstance(published, dict) else None
    return ([key for key in keys if isinstance(key, dict)] if isinstance(keys, list) else []), seconds


def _lifetime(cache_control: str) -> int:
    """Seconds to keep a set by its Cache-Control header."""
    directives = cache_control.lower()
    if "no-store" in directives or "no-cache" in directives:
        return 0
    found = re.search(r"max-age\s*=\s*\"?(\d+)", directives)
    return DEFAULT_SECONDS if found is None else min(int(found.group(1)), LONGEST_SECONDS)
