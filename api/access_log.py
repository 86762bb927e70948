"""The access log without patient data or secrets.

Uvicorn logs each request line. Query strings can hold patient data (a
search by name) and some paths carry secrets (calendar feeds, request status
links, patients' pages), so the line keeps the path with long random-looking
segments masked, and drops the query string.
"""

import logging
import re

SECRET_SEGMENT = re.compile(r"(?<=/)[A-Za-z0-9_\-]{20,}(?=\.ics$|/|$)")


def scrub(path: str) -> str:
    return SECRET_SEGMENT.sub("…", path.split("?", 1)[0])


class ScrubbedAccessLog(logging.Filter):
    """Rewrites uvicorn's access-log record (client, method, path, version, status) in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3:
            args = list(record.args)
            args[2] = scrub(str(args[2]))
            record.args = tuple(args)
        return True


def install() -> None:
    logging.getLogger("uvicorn.access").addFilter(ScrubbedAccessLog())
