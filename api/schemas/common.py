"""Building blocks shared by the request and response schemas."""

import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Annotated, Any, Generic, TypeVar
from zoneinfo import available_timezones

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    create_model,
)
from pydantic.fields import FieldInfo

T = TypeVar("T")


class Schema(BaseModel):
    """Base of every API schema: strict about unknown fields, readable from table rows."""

    model_config = ConfigDict(from_attributes=True, extra="forbid", str_strip_whitespace=True)


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def _known_time_zone(value: str) -> str:
    """A name from the IANA database; looked up in its list, since ZoneInfo() takes any string as a file path."""
    if value not in _zone_names():
        raise ValueError(f"unknown IANA time zone {value[:60]!r}; use a name like 'America/New_York'")
    return value


def _wall_clock(value: time) -> time:
    """A local time of day in whole minutes: the schedule counts minutes, and a shift or window starting at
    08:00:30 was read as 08:00, so a session was placed half a minute before the time stated (found by a probe)."""
    if value.tzinfo is not None:
        raise ValueError("give a local wall-clock time without an offset, e.g. '09:30'")
    if value.second or value.microsecond:
        raise ValueError(f"give whole minutes, e.g. '{value:%H:%M}'")
    return value


FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2200, 12, 31)
EARLIEST = datetime.combine(FIRST_DAY, time(0), UTC)
END_OF_CALENDAR = datetime.combine(LAST_DAY + timedelta(days=1), time(0), UTC)
INSTANTS = f"from {EARLIEST:%Y-%m-%dT%H:%M:%SZ} up to {END_OF_CALENDAR:%Y-%m-%dT%H:%M:%SZ} (in UTC)"
DAYS = f"from {FIRST_DAY} to {LAST_DAY}"
CALENDAR = (f"The calendar the API accepts: instants {INSTANTS}, judged after conversion to UTC whatever offset "
            f"they carry (that is how they are stored), and dates {DAYS}.")
MAX_IDENT = 2**31 - 1


def schedulable(value: datetime) -> datetime:
    """An instant on the product's calendar, judged in UTC: what is stored must also read back and convert."""
    try:
        stored = value.astimezone(UTC)
    except OverflowError:
        stored = None
    if stored is None or not EARLIEST <= stored < END_OF_CALENDAR:
        raise ValueError(f"give an instant {INSTANTS}")
    return value


def on_calendar(value: date) -> date:
    """A date on the product's calendar, so every local day built from it is a range of valid instants."""
    if not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(f"give a date {DAYS}")
    return value


def _printable(value: str) -> str:
    if any(unicodedata.category(char) == "Cc" and char not in "\t\n" for char in value):
        raise ValueError("control characters are not allowed")
    return value


def _one_line(value: str) -> str:
    """Names appear in headers, calendar titles and one-line lists: no line breaks or other control characters."""
    if any(unicodedata.category(char) in ("Cc", "Zl", "Zp") for char in value):
        raise ValueError("give a single line without control characters")
    return value


def spelled(pattern: str, words: str) -> tuple:
    """A string matching ``pattern``, refused in ``words``: pydantic's own message would show staff a regular
    expression. The published schema keeps the pattern."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(words)
        return value

    return AfterValidator(check), Field(json_schema_extra={"pattern": pattern})


def _json_integer(value: Any) -> Any:
    """A count or a record id as JSON writes a whole number. Pydantic's lax mode reads ``true`` as 1, ``"7"`` as 7
    and ``7.0`` as 7, so a body another system got wrong (``{"location_id": true}``) was taken for record 1 and a
    count sent as text was quietly accepted (found by probes). Python callers pass ints, which pass."""
    if isinstance(value, bool):
        raise ValueError("give a number, not true or false")
    if not isinstance(value, int):
        raise ValueError("give a whole number, written without quotes or decimals, e.g. 7")
    return value


def _as_text(what: str, example: str, shape: str) -> BeforeValidator:
    """Dates and times come as ISO 8601 text of their own shape: pydantic's lax mode reads a number, or text of
    digits, as seconds since 1970 (or since midnight), so ``{"start": 1700000000}`` held a session in 2023 and
    ``?day=0`` showed 1 January 1970, and takes a date-time at midnight for a date (found by probes). Python callers
    pass date and time objects, which pass."""
    form = re.compile(shape)

    def check(value: Any) -> Any:
        if isinstance(value, int | float) or (isinstance(value, str) and not form.fullmatch(value)):
            raise ValueError(f"give {what} as text like {example!r}")
        return value

    return BeforeValidator(check)


Whole = Annotated[int, BeforeValidator(_json_integer)]
"""A whole number in a request body (minutes, counts, priorities): a JSON integer and nothing else."""
Ident = Annotated[int, Field(ge=1, le=MAX_IDENT, description="A record id"), BeforeValidator(_json_integer)]
"""A record id in a request body: a JSON integer and nothing else."""
def in_digits(value: Any) -> Any:
    """A record id in a path or query string, in ASCII digits: Python reads "1_0" as 10 and "+1" or " 1" as 1, so
    ``DELETE /services/1_0`` deleted service 10 (found by a probe)."""
    if isinstance(value, str) and not re.fullmatch(r"[0-9]{1,10}", value):
        raise ValueError("give the record's id in digits, e.g. 12")
    return value


IdentParam = Annotated[int, BeforeValidator(in_digits), Field(ge=1, le=MAX_IDENT, description="A record id")]
"""A record id in a path or query string, where it is written as digits."""
Instant = Annotated[AwareDatetime, _as_text("a date and time with its offset", "2026-03-03T09:30:00+01:00",
                                            r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d.*"),
                    AfterValidator(schedulable),
                    Field(description=f"With an offset; {INSTANTS}")]
Day = Annotated[date, _as_text("a date", "2026-03-03", r"\d{4}-\d\d-\d\d"), AfterValidator(on_calendar),
                Field(description=f"A date {DAYS}")]
Text = Annotated[str, AfterValidator(_printable)]
SingleLine = Annotated[str, AfterValidator(_one_line)]
Name = Annotated[SingleLine, StringConstraints(min_length=1, max_length=120)]
Code = Annotated[str, *spelled(r"^[a-z][a-z0-9_]{1,39}$",
                               "use 2 to 40 lowercase letters, digits or _, starting with a letter, e.g. 'eswt'")]
TimeZoneName = Annotated[str, AfterValidator(_known_time_zone)]
# A language with an optional script and region (en, en-US, zh-Hant-TW, es-419): what browsers' Intl formats with.
Locale = Annotated[str, StringConstraints(max_length=35), *spelled(
    r"^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$",
    "give a language tag such as 'en-US' or 'en-GB': the language in lowercase, the region in capitals")]
# JSON Schema's "time" format (RFC 3339) requires an offset; a wall-clock time has none, so it is a pattern.
WallClock = Annotated[time, _as_text("a time of day", "09:30", r"\d\d:\d\d(:\d\d(\.\d+)?)?([+-]\d\d:?\d\d|Z)?"),
                      AfterValidator(_wall_clock),
                      WithJsonSchema(
    {"type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:00(\.0+)?)?$",
     "examples": ["09:30"]})]
Weekday = Annotated[int, BeforeValidator(_json_integer), Field(ge=0, le=6, description="0 = Monday ... 6 = Sunday")]


class Page(Schema, Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int

    @classmethod
    def model_parametrized_name(cls, params: tuple[type[Any], ...]) -> str:
        """``Page[AppointmentPublic]`` is ``AppointmentPage``: a name a generated client can use as a class name."""
        return f"{params[0].__name__.removesuffix('Public').removesuffix('Out')}Page"


def overlapping_pair(spans: Iterable[tuple[Any, Any]]) -> tuple[int, int] | None:
    """Indices of the first two spans (in input order) that overlap, if any."""
    indexed = sorted(enumerate(spans), key=lambda item: item[1][0])
    for (i, (_, end)), (j, (start, _)) in zip(indexed, indexed[1:]):
        if start < end:
            return tuple(sorted((i, j)))
    return None


def require_disjoint(spans: Sequence[tuple[Any, Any]], what: str, positions: Sequence[int] | None = None) -> None:
    """Raise naming the two overlapping entries; ``positions`` maps spans back to list indices."""
    pair = overlapping_pair(spans)
    if pair is not None:
        first, second = (positions[i] for i in pair) if positions is not None else pair
        raise ValueError(f"{what} {first} and {second} overlap")


def partial(model: type[BaseModel], name: str) -> type[BaseModel]:
    """The update schema of ``model``: every field optional and unset by default, with its type and constraints
    (so the published schema says what is accepted). Null is accepted only where ``model`` accepts it (it clears
    the field); the update is merged into the stored record and validated again as a whole ``model``."""
    fields = {
        field_name: (field.annotation, FieldInfo.merge_field_infos(field, default=None, default_factory=None))
        for field_name, field in model.model_fields.items()
    }
    return create_model(name, __base__=Schema, **fields)
