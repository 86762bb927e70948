"""Service configuration, read from the environment in one place.

Nothing else in the code base reads ``os.environ``: every knob an operator may
turn lives here, with the default the embedded single-clinic setup needs.
"""

from datetime import time
from functools import lru_cache
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MAX_REMINDER_HOURS = 30 * 24  # a reminder further ahead than a month reminds of nothing


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLINIC_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./clinic.db",
        validation_alias=AliasChoices("DATABASE_URL", "CLINIC_DATABASE_URL"),
        description="SQLAlchemy URL; the default is an embedded SQLite file in the working directory.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        min_length=32,
        description="Signs access tokens; set it when several processes serve. Unset: a random key per process.",
    )
    access_token_minutes: int = Field(default=60, gt=0, le=24 * 60)
    public_base_url: str = Field(default="http://127.0.0.1:8000", max_length=300, description=(
        "Where clients reach the service (e.g. https://clinic.example.org): every absolute URL it hands out starts "
        "with it, never with a request's Host header. `clinic serve` sets it from --host and --port when unset."))
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, description=(
        "Largest request body accepted; a larger one is answered 413 without being read."))
    demo_password: SecretStr | None = Field(
        default=None,
        description="Password of the demo users; unset: a random one printed at start-up.",
    )
    time_zone: str = Field(default="America/New_York", description="Zone of a new location when none is given.")
    slot_grid_minutes: int = Field(default=15, description="Slot starts lie on this local wall-clock grid.")
    min_notice_minutes: int = Field(default=30, ge=0, description="No slot starts sooner than this from now.")
    hold_minutes: int = Field(default=10, gt=0, le=24 * 60, description="How long a hold lasts by default.")
    hold_sweep_seconds: int = Field(default=60, gt=0, description="How often expired holds are cleaned up.")
    background_jobs: bool = Field(default=True, description="Run periodic jobs (hold sweeper) inside the app.")
    availability_memory: bool = Field(default=True, description=(
        "PostgreSQL: answer a repeated availability search from the process's memory while no change to the "
        "schedule, the catalog or the caller's account was committed since (heard through LISTEN/NOTIFY). Turn "
        "off behind a pooler that cannot keep a LISTEN connection (PgBouncer in transaction mode)."))
    nightly_run_time: time = Field(default=time(2, 0), description="Local wall-clock time of the nightly run.")
    nightly_in_serve: bool = Field(default=False, description="Also schedule the nightly run inside `clinic serve`.")
    engine_in_serve: bool = Field(default=False, description=(
        "PostgreSQL: `clinic serve`'s periodic jobs are only handed to the task engine (procrastinate), whose "
        "`clinic worker` processes do them; off, the web process does them itself."))
    job_heartbeat_seconds: float = Field(default=10.0, gt=0, le=300, description=(
        "How often a task-engine worker tells the database it is alive."))
    job_stalled_seconds: float = Field(default=60.0, gt=0, le=3600, description=(
        "A worker silent this long is dead: the surviving workers retry the job it was doing."))
    freeze_hours: int = Field(default=24, ge=0, le=7 * 24, description="The nightly run never touches this window.")
    horizon_days: int = Field(default=14, ge=1, le=60, description="How far past the freeze window a run plans.")
    smtp_host: str | None = Field(default=None, description="Mail server for patient e-mail; unset: e-mail waits")
    smtp_port: int = Field(default=587, gt=0, lt=65536)
    smtp_starttls: bool = Field(default=True, description="Upgrade the SMTP connection with STARTTLS")
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    mail_from: str = Field(default="clinic@localhost", max_length=254, description="Sender address of patient e-mail")
    mail_from_name: str = Field(default="", max_length=120, description="Sender name, e.g. the clinic's")
    message_attempts: int = Field(default=8, ge=1, le=50, description="Tries before a message is given up")
    delivery_seconds: int = Field(default=15, gt=0, description="How often due messages are sent")
    message_templates: str | None = Field(default=None, description=(
        "Folder of a clinic's own message templates: <location id>/<kind>.j2 replaces the built-in one"))
    sms_names_service: bool = Field(default=False, description=(
        "Name the service in text messages (off: 'your visit', since a phone's lock screen is not private)"))
    twilio_account_sid: str | None = Field(default=None, max_length=64, description=(
        "Twilio account that sends patient texts (with the auth token and CLINIC_SMS_FROM); unset: texts wait"))
    twilio_auth_token: SecretStr | None = Field(default=None, description=(
        "Twilio auth token: authenticates texts sent and checks the signature of texts received (STOP)"))
    sms_from: str | None = Field(default=None, max_length=64, description=(
        "The clinic's Twilio number (E.164, e.g. +12125550100) or sender id that patient texts come from"))
    twilio_base_url: str | None = Field(default=None, max_length=300, description=(
        "Where Twilio's API is reached; unset: Twilio itself (https://api.twilio.com). Tests set a local server"))
    reminder_hours: Annotated[tuple[int, ...], NoDecode] = Field(default=(48, 2), description=(
        "Hours before a booked session its reminders go, largest first, e.g. 48,2 (elapsed hours, so across a "
        "DST change the local clock time differs by an hour); empty: no reminders"))
    reminder_seconds: int = Field(default=300, gt=0, le=600, description="How often reminders coming due are written")
    patient_cancel_hours: int = Field(default=24, ge=0, le=14 * 24, description=(
        "A patient may cancel a session from their page until this many hours before it; later they are asked to "
        "call the clinic"))
    nightly_hold_minutes: int = Field(default=12 * 60, gt=0, le=7 * 24 * 60,
                                      description="Holds the nightly run places for the front desk to confirm.")
    nightly_move_minutes: int = Field(default=0, ge=0, le=120, description=(
        "How far the nightly run may move a booked time to fit more in (the patient is told); 0 keeps every time."))
    nightly_book_directly: bool = Field(default=False, description=(
        "Book what the nightly run places at once, instead of holding it for the front desk to confirm."))
    solver_time_limit_seconds: float = Field(default=10.0, gt=0, description="Nightly optimization budget.")
    proposal_time_limit_seconds: float = Field(default=1.5, gt=0, description="CP-SAT budget of a plan proposal.")
    waitlist_hold_minutes: int = Field(default=120, gt=0, le=7 * 24 * 60,
                                       description="Holds offered to the waitlist after a cancellation.")
    plan_hold_minutes: int = Field(default=30, gt=0, le=24 * 60, description="Holds placed by a plan proposal.")
    solver_workers: int = Field(default=2, ge=1)
    request_hold_hours: int = Field(default=24, gt=0, le=7 * 24,
                                    description="How long a slot requested on the public page stays held.")
    public_telehealth_service: str = Field(default="telehealth", max_length=40,
                                           description="Code of the service 'Request telehealth' books.")
    public_office_service: str = Field(default="msus_diagnosis", max_length=40,
                                       description="Code of the service 'Request in-office visit' books.")
    public_days: int = Field(default=14, ge=1, le=60, description="How far ahead the public pages offer slots.")
    requests_per_address_hour: int = Field(default=10, ge=1, description="Public requests per client address per hour.")
    requests_per_contact_day: int = Field(default=3, ge=1, description="Public requests per phone or e-mail per day.")
    sign_in_failures_per_user: int = Field(default=5, ge=1, description="Failed sign-ins per username per window.")
    sign_in_failures_per_address: int = Field(default=20, ge=1,
                                              description="Failed sign-ins per client address per window.")
    sign_in_window_minutes: int = Field(default=15, ge=1, description="The window failed sign-ins are counted in.")
    open_requests_per_contact: int = Field(default=2, ge=1, description="Undecided requests one contact may have.")
    request_retention_days: int = Field(default=30, ge=1, le=3650, description=(
        "Days a declined or lapsed public request's provisional patient record is kept before it is erased."))
    open_requests_per_address: int = Field(default=3, ge=1,
                                           description="Undecided public requests one client address may have.")
    public_hold_share: float = Field(default=0.25, gt=0, le=1,
                                     description="Share of a day's public times undecided requests may hold at once.")
    metrics: bool = Field(default=False, description=(
        "Serve Prometheus metrics at /metrics (route templates, counts and timings; no patient data)"))
    metrics_token: SecretStr | None = Field(default=None, min_length=16, description=(
        "When set, a scrape of /metrics must send it as 'Authorization: Bearer <token>'"))
    metrics_dir: str | None = Field(default=None, validation_alias="PROMETHEUS_MULTIPROC_DIR", description=(
        "prometheus_client's own multiprocess directory (it reads the variable itself): with `clinic serve --workers "
        "N` every worker counts into it and /metrics sums them. An empty directory, emptied before each start"))
    log_format: Literal["human", "json"] = Field(default="human", description=(
        "Log lines as text for a terminal, or one JSON object per line (with the request id) for a log pipeline"))

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @field_validator("public_base_url", "twilio_base_url")
    @classmethod
    def _absolute_http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        url = urlsplit(value)
        if url.scheme not in ("http", "https") or not url.hostname or url.query or url.fragment:
            raise ValueError("give an absolute http(s) URL without query or fragment, e.g. https://clinic.example.org")
        return value.rstrip("/")

    @field_validator("reminder_hours", mode="before")
    @classmethod
    def _reminder_offsets(cls, value) -> tuple[int, ...]:
        """'48,2' from the environment, or a sequence in code; each a whole hour, distinct, largest first."""
        parts = [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value
        try:
            hours = tuple(int(part) for part in parts)
        except (TypeError, ValueError):
            raise ValueError("give whole hours separated by commas, largest first, e.g. 48,2") from None
        if any(not 0 < hour <= MAX_REMINDER_HOURS for hour in hours):
            raise ValueError(f"each reminder is between 1 and {MAX_REMINDER_HOURS} hours before the session")
        if len(set(hours)) != len(hours):
            raise ValueError("each reminder offset once, e.g. 48,2")
        if list(hours) != sorted(hours, reverse=True):
            raise ValueError("list the reminder hours largest first, e.g. 48,2")
        return hours

    @field_validator("slot_grid_minutes")
    @classmethod
    def _grid_divides_an_hour(cls, value: int) -> int:
        if value <= 0 or 60 % value:
            raise ValueError("the slot grid must divide an hour: 5, 10, 15, 20, 30 or 60 minutes")
        return value

    @model_validator(mode="after")
    def _twilio_all_or_nothing(self) -> "Settings":
        given = [self.twilio_account_sid, self.twilio_auth_token, self.sms_from]
        if any(given) and not all(given):
            raise ValueError("set CLINIC_TWILIO_ACCOUNT_SID, CLINIC_TWILIO_AUTH_TOKEN and CLINIC_SMS_FROM together "
                             "to send texts (or none of them)")
        return self

    @property
    def sends_texts(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.sms_from)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
