"""What the data and scheduling layers raise when a request cannot be carried out.

The API turns these into 404, 409 and 422 answers; nothing here knows HTTP.
"""


class NotFound(Exception):
    def __init__(self, what: str, ident: object):
        super().__init__(f"{what} {ident} does not exist")


class Invalid(Exception):
    """Input that is well-formed but wrong against what the database holds."""

    def __init__(self, loc: tuple[str | int, ...], msg: str, *, source: str = "body"):
        super().__init__(msg)
        self.loc, self.msg, self.source = loc, msg, source


class Gone(Exception):
    """The thing asked for existed but has lapsed (an expired hold)."""


class Forbidden(Exception):
    """The signed-in user may not touch this particular record."""


class Conflict(Exception):
    """The request clashes with the current state (a duplicate, a dependent record)."""

    def __init__(self, msg: str, blockers: list[str] | None = None):
        super().__init__(msg)
        self.msg, self.blockers = msg, blockers or []


class RateLimited(Exception):
    """Too many requests from one client or contact; ``retry_after`` seconds until the oldest one counts no more."""

    def __init__(self, msg: str, retry_after: int):
        super().__init__(msg)
        self.msg, self.retry_after = msg, retry_after
