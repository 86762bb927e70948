"""The clinic's catalog and people as SQLModel tables.

Every rule the database can hold (positive durations, ends after starts,
known enum values, a clinician user linked to exactly one clinician, unique
names) is a constraint here, so a bug above cannot write nonsense. API input is
validated separately by the schemas in ``api.schemas``: table models skip
validation.
"""

import secrets
from datetime import date, datetime, time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import Field, Relationship, SQLModel

from data.enums import (
    AppointmentStatus,
    Certification,
    Channel,
    ExceptionKind,
    LinkKind,
    MessageKind,
    MessageStatus,
    PlanStatus,
    RequestKind,
    RequestStatus,
    ResourceKind,
    Role,
    RoomKind,
    RunStatus,
    RunTrigger,
    SameClinicianRule,
    WaitlistStatus,
    checked_enum,
)
from data.types import UTCDateTime

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Child rows are owned by their parent and always shown with it: load them in one query per level.
CASCADE_CHILDREN = {"cascade": "all, delete-orphan", "passive_deletes": True, "lazy": "selectin"}

# Ids that leave the database (API, FHIR, links, tokens, audit) or that other rows refer to are never handed out
# twice: SQLite would otherwise reuse the highest id after a delete (PostgreSQL's sequences never do).
NEVER_REUSED_IDS = {"sqlite_autoincrement": True}


def instant(**kwargs) -> datetime:
    return Field(sa_type=UTCDateTime, **kwargs)


def version_column() -> sa.Column:
    """A row's version: 1 when written, +1 on every ORM update (the mapper's ``version_id_col``).

    It is FHIR's ``meta.versionId``, the ETag ``If-Match`` is checked against and an iCalendar SEQUENCE; an
    update whose row changed since it was read fails (``StaleDataError``, answered 409) instead of losing
    the other change. Each table needs its own Column object, hence a function.
    """
    return sa.Column("version", sa.Integer, nullable=False, server_default="1")


def archived() -> datetime | None:
    """When a record with history was taken out of service: kept for history, no longer offered or booked."""
    return instant(default=None, nullable=True, description="Set when archived: kept for history, no longer booked")


def weekday_check() -> sa.CheckConstraint:
    return sa.CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range")


class Location(SQLModel, table=True):
    __tablename__ = "location"
    __table_args__ = (sa.CheckConstraint("length(locale) >= 2", name="locale_not_blank"), NEVER_REUSED_IDS)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    address: str = Field(default="", max_length=300, description="The address as written, one free text")
    # The address in parts and the front desk's contacts: what a slot finder (SMART Scheduling Links) publishes.
    address_line: str | None = Field(default=None, max_length=120, description="Street and number")
    city: str | None = Field(default=None, max_length=80)
    state: str | None = Field(default=None, max_length=3, description="Postal abbreviation, e.g. NY")
    postal_code: str | None = Field(default=None, max_length=12)
    phone: str | None = Field(default=None, max_length=40, description="The front desk's number")
    website: str | None = Field(default=None, max_length=300, description="The location's web page")
    time_zone: str = Field(max_length=64)
    locale: str = Field(default="en-US", max_length=35, sa_column_kwargs={"server_default": "en-US"}, description=(
        "BCP 47 language tag the web app formats dates and times with (en-US: 'Tue, Dec 1'; en-GB: 'Tue 1 Dec')"))
    quiet_from: time | None = Field(default=None, description="No patient message is sent from this local time...")
    quiet_until: time | None = Field(default=None, description="...until this one (e.g. 21:00 to 08:00)")

    opening_hours: list["LocationHours"] = Relationship(
        sa_relationship_kwargs={**CASCADE_CHILDREN, "order_by": "(LocationHours.weekday, LocationHours.starts)"}
    )


class LocationHours(SQLModel, table=True):
    """Opening hours for one weekday, in the location's local wall-clock time."""

    __tablename__ = "location_hours"
    __table_args__ = (weekday_check(), sa.CheckConstraint("ends > starts", name="ends_after_starts"))

    id: int | None = Field(default=None, primary_key=True)
    location_id: int = Field(foreign_key="location.id", ondelete="CASCADE", index=True)
    weekday: int = Field(description="0 = Monday ... 6 = Sunday")
    starts: time = Field(description="Opening time")
    ends: time = Field(description="Closing time")


class Clinician(SQLModel, table=True):
    __tablename__ = "clinician"
    __table_args__ = NEVER_REUSED_IDS

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    title: str = Field(default="", max_length=80)
    email: str | None = Field(default=None, max_length=254)
    location_id: int = Field(foreign_key="location.id", ondelete="RESTRICT", index=True)
    archived_at: datetime | None = archived()

    location: Location = Relationship(sa_relationship_kwargs={"lazy": "joined", "innerjoin": True})
    certification_links: list["ClinicianCertification"] = Relationship(sa_relationship_kwargs=CASCADE_CHILDREN)
    shifts: list["ClinicianShift"] = Relationship(
        sa_relationship_kwargs={**CASCADE_CHILDREN, "order_by": "(ClinicianShift.weekday, ClinicianShift.starts)"}
    )
    exceptions: list["ClinicianException"] = Relationship(
        sa_relationship_kwargs={**CASCADE_CHILDREN, "order_by": "ClinicianException.starts_at"}
    )

    @property
    def certifications(self) -> list[Certification]:
        return sorted(link.certification for link in self.certification_links)


class ClinicianCertification(SQLModel, table=True):
    __tablename__ = "clinician_certification"

    clinician_id: int = Field(foreign_key="clinician.id", ondelete="CASCADE", primary_key=True)
    certification: Certification = Field(sa_type=checked_enum(Certification), primary_key=True)


class ClinicianShift(SQLModel, table=True):
    """A weekly recurring shift in local wall-clock time of the clinician's location."""

    __tablename__ = "clinician_shift"
    __table_args__ = (weekday_check(), sa.CheckConstraint("ends > starts", name="ends_after_starts"))

    id: int | None = Field(default=None, primary_key=True)
    clinician_id: int = Field(foreign_key="clinician.id", ondelete="CASCADE", index=True)
    weekday: int
    starts: time
    ends: time

    breaks: list["ShiftBreak"] = Relationship(
        sa_relationship_kwargs={**CASCADE_CHILDREN, "order_by": "ShiftBreak.starts"}
    )


class ShiftBreak(SQLModel, table=True):
    __tablename__ = "shift_break"
    __table_args__ = (sa.CheckConstraint("ends > starts", name="ends_after_starts"),)

    id: int | None = Field(default=None, primary_key=True)
    shift_id: int = Field(foreign_key="clinician_shift.id", ondelete="CASCADE", index=True)
    starts: time
    ends: time


class ClinicianException(SQLModel, table=True):
    """Time off or an extra shift on given dates, as absolute instants."""

    __tablename__ = "clinician_exception"
    __table_args__ = (sa.CheckConstraint("ends_at > starts_at", name="ends_after_starts"),)

    id: int | None = Field(default=None, primary_key=True)
    clinician_id: int = Field(foreign_key="clinician.id", ondelete="CASCADE", index=True)
    kind: ExceptionKind = Field(sa_type=checked_enum(ExceptionKind))
    starts_at: datetime = instant()
    ends_at: datetime = instant()
    note: str = Field(default="", max_length=200)


class DeviceType(SQLModel, table=True):
    __tablename__ = "device_type"
    __table_args__ = NEVER_REUSED_IDS

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=120)


class Device(SQLModel, table=True):
    """One physical unit of a device type, kept at one location."""

    __tablename__ = "device"
    __table_args__ = (
        sa.UniqueConstraint("location_id", "name", name="uq_device_location_name"),
        sa.CheckConstraint("cleaning_minutes >= 0", name="cleaning_minutes_non_negative"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    device_type_id: int = Field(foreign_key="device_type.id", ondelete="RESTRICT", index=True)
    location_id: int = Field(foreign_key="location.id", ondelete="RESTRICT", index=True)
    cleaning_minutes: int = Field(default=0, description="Cleaning/setup time needed between two patients.")
    archived_at: datetime | None = archived()

    maintenance: list["DeviceMaintenance"] = Relationship(
        sa_relationship_kwargs={**CASCADE_CHILDREN, "order_by": "DeviceMaintenance.starts_at"}
    )


class DeviceMaintenance(SQLModel, table=True):
    __tablename__ = "device_maintenance"
    __table_args__ = (sa.CheckConstraint("ends_at > starts_at", name="ends_after_starts"),)

    id: int | None = Field(default=None, primary_key=True)
    device_id: int = Field(foreign_key="device.id", ondelete="CASCADE", index=True)
    starts_at: datetime = instant()
    ends_at: datetime = instant()
    reason: str = Field(default="", max_length=200)


class Room(SQLModel, table=True):
    __tablename__ = "room"
    __table_args__ = (sa.UniqueConstraint("location_id", "name", name="uq_room_location_name"), NEVER_REUSED_IDS)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    kind: RoomKind = Field(sa_type=checked_enum(RoomKind))
    location_id: int = Field(foreign_key="location.id", ondelete="RESTRICT", index=True)
    archived_at: datetime | None = archived()


class Service(SQLModel, table=True):
    __tablename__ = "service"
    __table_args__ = (
        sa.CheckConstraint("duration_minutes > 0", name="duration_positive"),
        sa.CheckConstraint("buffer_before_minutes >= 0", name="buffer_before_non_negative"),
        sa.CheckConstraint("buffer_after_minutes >= 0", name="buffer_after_non_negative"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=120)
    duration_minutes: int
    required_certification: Certification | None = Field(
        default=None, sa_type=checked_enum(Certification), description="None: any clinician may give it."
    )
    room_kind: RoomKind | None = Field(
        default=None, sa_type=checked_enum(RoomKind), description="None: no room (telehealth)."
    )
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0
    archived_at: datetime | None = archived()

    device_needs: list["ServiceDevice"] = Relationship(
        sa_relationship_kwargs={**CASCADE_CHILDREN, "order_by": "ServiceDevice.device_type_id"}
    )


class ServiceDevice(SQLModel, table=True):
    """How many units of one device type a service needs at once."""

    __tablename__ = "service_device"
    __table_args__ = (sa.CheckConstraint("count > 0", name="count_positive"),)

    service_id: int = Field(foreign_key="service.id", ondelete="CASCADE", primary_key=True)
    device_type_id: int = Field(foreign_key="device_type.id", ondelete="RESTRICT", primary_key=True)
    count: int = 1

    device_type: DeviceType = Relationship(sa_relationship_kwargs={"lazy": "selectin"})


_PATIENT_VERSION = version_column()


class Patient(SQLModel, table=True):
    """Only what scheduling needs: who, how to reach them, and a birth date to tell namesakes apart."""

    __tablename__ = "patient"
    __table_args__ = NEVER_REUSED_IDS

    id: int | None = Field(default=None, primary_key=True)
    given_name: str = Field(max_length=80)
    family_name: str = Field(max_length=80, index=True)
    birth_date: date
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)
    erased_at: datetime | None = instant(default=None, nullable=True,
                                         description="When the personal data was erased (pseudonymized in place)")
    email_messages: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()},
                                 description="The patient agrees to messages by e-mail (unsubscribe link: off)")
    sms_messages: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()},
                               description="The patient agrees to text messages (replying STOP: off)")
    version: int = Field(default=1, sa_column=_PATIENT_VERSION)
    __mapper_args__ = {"version_id_col": _PATIENT_VERSION}


def new_security_stamp() -> str:
    return secrets.token_hex(16)


class User(SQLModel, table=True):
    __tablename__ = "app_user"
    __table_args__ = (
        sa.CheckConstraint(
            "(role = 'clinician') = (clinician_id IS NOT NULL)", name="clinician_role_has_clinician"
        ),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    password_hash: str = Field(max_length=255)
    role: Role = Field(sa_type=checked_enum(Role))
    clinician_id: int | None = Field(default=None, foreign_key="clinician.id", ondelete="RESTRICT", index=True)
    is_active: bool = True
    security_stamp: str = Field(default_factory=new_security_stamp, max_length=32, description=(
        "Carried by every token; renewed when the role, clinician, activity or password changes (see data.accounts)"))


_APPOINTMENT_VERSION = version_column()


class Appointment(SQLModel, table=True):
    """A session for one patient: a hold while ``pending``, then booked, attended or cancelled.

    Which clinician, room and device units serve it is in its allocation rows;
    they, not this row, are what the database checks for double-booking.
    """

    __tablename__ = "appointment"
    __table_args__ = (
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_starts"),
        sa.CheckConstraint("(status = 'pending') = (hold_expires_at IS NOT NULL)", name="holds_expire"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    location_id: int = Field(foreign_key="location.id", ondelete="RESTRICT", index=True)
    service_id: int = Field(foreign_key="service.id", ondelete="RESTRICT", index=True)
    patient_id: int = Field(foreign_key="patient.id", ondelete="RESTRICT", index=True)
    starts_at: datetime = instant(index=True)
    ends_at: datetime = instant()
    status: AppointmentStatus = Field(sa_type=checked_enum(AppointmentStatus), index=True)
    hold_expires_at: datetime | None = instant(default=None, nullable=True)
    cancel_reason: str = Field(default="", max_length=300)
    created_by_id: int | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    created_at: datetime = instant()
    updated_at: datetime = instant()
    patient_confirmed_at: datetime | None = instant(default=None, nullable=True, description=(
        "When the patient confirmed this time from their page; a move clears it (scheduler.reminders)"))
    version: int = Field(default=1, sa_column=_APPOINTMENT_VERSION)
    __mapper_args__ = {"version_id_col": _APPOINTMENT_VERSION}

    allocations: list["Allocation"] = Relationship(
        sa_relationship_kwargs={**CASCADE_CHILDREN, "order_by": "(Allocation.resource_kind, Allocation.resource_id)"}
    )
    location: Location = Relationship(sa_relationship_kwargs={"lazy": "joined", "innerjoin": True})

    def resource_ids(self, kind: ResourceKind) -> list[int]:
        return [a.resource_id for a in self.allocations if a.resource_kind == kind]


class Allocation(SQLModel, table=True):
    """One resource held by one appointment over its whole blocked span (buffers and cleaning included).

    On PostgreSQL an exclusion constraint, written in the migration, forbids two
    live rows for the same resource whose spans overlap. An expired hold stays
    ``live`` until released, so every writer releases expired holds first, in
    the same transaction.
    """

    __tablename__ = "allocation"
    __table_args__ = (
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_starts"),
        sa.UniqueConstraint("appointment_id", "resource_kind", "resource_id", name="uq_allocation_resource"),
        sa.Index("ix_allocation_resource_time", "resource_kind", "resource_id", "starts_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    appointment_id: int = Field(foreign_key="appointment.id", ondelete="CASCADE", index=True)
    resource_kind: ResourceKind = Field(sa_type=checked_enum(ResourceKind))
    resource_id: int
    starts_at: datetime = instant()
    ends_at: datetime = instant()
    live: bool = True
    hold_expires_at: datetime | None = instant(default=None, nullable=True, index=True)


@sa.event.listens_for(OrmSession, "before_flush")
def _count_allocation_changes(session: OrmSession, _context, _instances) -> None:
    """An appointment's version also counts changes to who and what serve it (its allocation rows).

    The mapper bumps ``version`` only when the appointment's own row is updated; a move to another clinician or
    room at the same start, or the nightly run's reassignment, changes allocations only. Marking the row changed
    makes the UPDATE (and the bump) happen, so a FHIR ETag or calendar SEQUENCE never stays the same across it.
    Allocations only deleted do not count: every move deletes the old ones and then adds new ones (which count),
    so a move is one version, not two.
    """
    touched = {row.appointment_id for row in (*session.new, *session.dirty)
               if isinstance(row, Allocation) and row.appointment_id is not None}
    touched |= {row.id for row in session.dirty if isinstance(row, Appointment)
                and sa.inspect(row).attrs.allocations.history.added}
    with session.no_autoflush:
        for ident in touched:
            appointment = session.get(Appointment, ident)
            if (appointment is None or appointment in session.new or appointment in session.deleted
                    or session.is_modified(appointment, include_collections=False)):
                continue
            if "updated_at" not in sa.inspect(appointment).dict:
                session.refresh(appointment, ["updated_at"])
            flag_modified(appointment, "updated_at")


class AuditEntry(SQLModel, table=True):
    """Who changed which appointment, when, and what it looked like before and after."""

    __tablename__ = "audit_entry"
    __table_args__ = NEVER_REUSED_IDS

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = instant(index=True)
    actor_id: int | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL", index=True)
    actor: str = Field(max_length=64, description="Username at the time, or 'system'")
    action: str = Field(max_length=32, index=True)
    appointment_id: int | None = Field(default=None, index=True)
    before: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    after: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)


def ever_booked() -> sa.ColumnElement[bool]:
    """As SQL: the appointment was booked at some time, so a cancelled one is a cancelled session (told to the
    patient, withdrawn from calendars), not a hold given up before anyone relied on it."""
    return sa.exists().where(AuditEntry.appointment_id == Appointment.id, AuditEntry.action == "book")


class IdempotencyRecord(SQLModel, table=True):
    """The answer given to a request sent with an Idempotency-Key, replayed on a retry."""

    __tablename__ = "idempotency_record"
    __table_args__ = (sa.UniqueConstraint("user_id", "key", name="uq_idempotency_record_user_key"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", ondelete="CASCADE")
    key: str = Field(max_length=255)
    fingerprint: str = Field(max_length=64)
    status_code: int
    body: dict[str, Any] = Field(sa_type=sa.JSON)
    created_at: datetime = instant()



class PlanLineFields(SQLModel):
    """One line of a plan or template: a service given ``count`` times, and how consecutive ones are spaced.

    Spacing is counted two ways between the starts of consecutive sessions: in local calendar days
    ("5-10 days apart") and in elapsed whole hours ("at least 48 h apart", as ESWT asks); both hold when both given.
    """

    service_id: int = Field(foreign_key="service.id", ondelete="RESTRICT")
    count: int
    min_gap_days: int | None = None
    max_gap_days: int | None = None
    min_gap_hours: int | None = None
    max_gap_hours: int | None = None
    same_clinician: SameClinicianRule = Field(default=SameClinicianRule.PREFERRED,
                                              sa_type=checked_enum(SameClinicianRule))


def line_checks() -> tuple:
    return (
        sa.CheckConstraint("count BETWEEN 1 AND 30", name="count_range"),
        sa.CheckConstraint("min_gap_days IS NULL OR min_gap_days >= 0", name="min_gap_non_negative"),
        sa.CheckConstraint("max_gap_days IS NULL OR min_gap_days IS NULL OR max_gap_days >= min_gap_days",
                           name="max_gap_at_least_min_gap"),
        sa.CheckConstraint("min_gap_hours IS NULL OR min_gap_hours >= 0", name="min_gap_hours_non_negative"),
        sa.CheckConstraint("max_gap_hours IS NULL OR max_gap_hours >= 0", name="max_gap_hours_non_negative"),
        sa.CheckConstraint("max_gap_hours IS NULL OR min_gap_hours IS NULL OR max_gap_hours >= min_gap_hours",
                           name="max_gap_hours_at_least_min"),
    )


class PlanLinkFields(SQLModel):
    """Two lines linked: ``then`` right after ``first`` in one visit, or every ``first`` before any ``then``."""

    kind: LinkKind = Field(sa_type=checked_enum(LinkKind))
    first_service_id: int = Field(foreign_key="service.id", ondelete="RESTRICT")
    then_service_id: int = Field(foreign_key="service.id", ondelete="RESTRICT")


def link_checks() -> tuple:
    return (sa.CheckConstraint("first_service_id <> then_service_id", name="links_two_services"),)


class PlanTemplate(SQLModel, table=True):
    """A typical course of treatment the clinic offers (e.g. 'ESWT 3-5 sessions 5-10 days apart')."""

    __tablename__ = "plan_template"
    __table_args__ = NEVER_REUSED_IDS

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=120)
    description: str = Field(default="", max_length=500)

    lines: list["TemplateLine"] = Relationship(sa_relationship_kwargs={**CASCADE_CHILDREN, "order_by": "TemplateLine.id"})
    links: list["TemplateLink"] = Relationship(sa_relationship_kwargs={**CASCADE_CHILDREN, "order_by": "TemplateLink.id"})


class TemplateLine(PlanLineFields, table=True):
    __tablename__ = "template_line"
    __table_args__ = (*line_checks(), sa.UniqueConstraint("template_id", "service_id", name="uq_template_line_service"))

    id: int | None = Field(default=None, primary_key=True)
    template_id: int = Field(foreign_key="plan_template.id", ondelete="CASCADE", index=True)


class TemplateLink(PlanLinkFields, table=True):
    __tablename__ = "template_link"
    __table_args__ = link_checks()

    id: int | None = Field(default=None, primary_key=True)
    template_id: int = Field(foreign_key="plan_template.id", ondelete="CASCADE", index=True)


class TreatmentPlan(SQLModel, table=True):
    """One patient's course of sessions, made from a template and edited to fit the patient."""

    __tablename__ = "treatment_plan"
    __table_args__ = (
        sa.CheckConstraint("latest_end >= earliest_start", name="ends_after_starts"),
        sa.CheckConstraint("priority BETWEEN 1 AND 5", name="priority_range"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", ondelete="RESTRICT", index=True)
    location_id: int = Field(foreign_key="location.id", ondelete="RESTRICT")
    template_id: int | None = Field(default=None, foreign_key="plan_template.id", ondelete="SET NULL")
    status: PlanStatus = Field(default=PlanStatus.DRAFT, sa_type=checked_enum(PlanStatus))
    earliest_start: date
    latest_end: date = Field(description="Last day a session may take place on")
    priority: int = 3
    created_by_id: int | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    created_at: datetime = instant()
    updated_at: datetime = instant()

    lines: list["PlanLine"] = Relationship(sa_relationship_kwargs={**CASCADE_CHILDREN, "order_by": "PlanLine.id"})
    links: list["PlanLink"] = Relationship(sa_relationship_kwargs={**CASCADE_CHILDREN, "order_by": "PlanLink.id"})
    windows: list["PlanWindow"] = Relationship(
        sa_relationship_kwargs={**CASCADE_CHILDREN, "order_by": "(PlanWindow.weekday, PlanWindow.starts)"})
    blackouts: list["PlanBlackout"] = Relationship(
        sa_relationship_kwargs={**CASCADE_CHILDREN, "order_by": "PlanBlackout.day"})
    sessions: list["PlanSession"] = Relationship(
        sa_relationship_kwargs={**CASCADE_CHILDREN, "order_by": "(PlanSession.service_id, PlanSession.sequence)"})


class PlanLine(PlanLineFields, table=True):
    __tablename__ = "plan_line"
    __table_args__ = (*line_checks(), sa.UniqueConstraint("plan_id", "service_id", name="uq_plan_line_service"))

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="treatment_plan.id", ondelete="CASCADE", index=True)


class PlanLink(PlanLinkFields, table=True):
    __tablename__ = "plan_link"
    __table_args__ = link_checks()

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="treatment_plan.id", ondelete="CASCADE", index=True)


class PlanWindow(SQLModel, table=True):
    """When the patient can come each week (local wall clock); ``preferred`` ones are liked best."""

    __tablename__ = "plan_window"
    __table_args__ = (weekday_check(), sa.CheckConstraint("ends > starts", name="ends_after_starts"))

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="treatment_plan.id", ondelete="CASCADE", index=True)
    weekday: int
    starts: time
    ends: time
    preferred: bool = False


class PlanBlackout(SQLModel, table=True):
    """A date the patient cannot come at all."""

    __tablename__ = "plan_blackout"
    __table_args__ = (sa.UniqueConstraint("plan_id", "day", name="uq_plan_blackout_day"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="treatment_plan.id", ondelete="CASCADE", index=True)
    day: date


class PlanSession(SQLModel, table=True):
    """The n-th session of a plan line, and the hold or appointment that places it (if any)."""

    __tablename__ = "plan_session"
    __table_args__ = (sa.UniqueConstraint("plan_id", "service_id", "sequence", name="uq_plan_session_sequence"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="treatment_plan.id", ondelete="CASCADE", index=True)
    service_id: int = Field(foreign_key="service.id", ondelete="RESTRICT")
    sequence: int
    appointment_id: int | None = Field(default=None, foreign_key="appointment.id", ondelete="SET NULL", index=True)
    unplaced_reason: str = Field(default="", max_length=500)


class WaitlistRequest(SQLModel, table=True):
    """A patient waiting for a service within dates and a daily time window; higher priority is served first."""

    __tablename__ = "waitlist_request"
    __table_args__ = (
        sa.CheckConstraint("latest_day >= earliest_day", name="days_in_order"),
        sa.CheckConstraint("latest_time > earliest_time", name="times_in_order"),
        sa.CheckConstraint("priority BETWEEN 1 AND 5", name="priority_range"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", ondelete="RESTRICT", index=True)
    service_id: int = Field(foreign_key="service.id", ondelete="RESTRICT", index=True)
    earliest_day: date
    latest_day: date
    earliest_time: time = Field(description="Local time of day a session may start from")
    latest_time: time = Field(description="Local time of day a session must end by")
    priority: int = 3
    status: WaitlistStatus = Field(default=WaitlistStatus.WAITING, sa_type=checked_enum(WaitlistStatus), index=True)
    appointment_id: int | None = Field(default=None, foreign_key="appointment.id", ondelete="SET NULL")
    created_by_id: int | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    created_at: datetime = instant()


class OptimizationRun(SQLModel, table=True):
    """One optimization of one location's coming weeks: what it did and how good it was.

    At most one nightly run per location and local date: the partial unique
    index is what makes the nightly job run once however many workers are up.
    """

    __tablename__ = "optimization_run"
    __table_args__ = (
        sa.Index("uq_optimization_run_nightly", "location_id", "run_date", unique=True,
                 postgresql_where=sa.text("trigger = 'nightly'"), sqlite_where=sa.text("trigger = 'nightly'")),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    location_id: int = Field(foreign_key="location.id", ondelete="CASCADE", index=True)
    run_date: date = Field(description="The local night the run belongs to")
    trigger: RunTrigger = Field(sa_type=checked_enum(RunTrigger))
    status: RunStatus = Field(sa_type=checked_enum(RunStatus))
    started_at: datetime = instant()
    finished_at: datetime | None = instant(default=None, nullable=True)
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    first_solution_seconds: float | None = None
    sessions_placed: int = 0
    changes: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    stages: list[dict[str, Any]] = Field(
        default_factory=list, sa_type=sa.JSON,
        description="The objective's levels in order (placed, sooner, quality): value, CP-SAT's bound, the "
                    "relaxation's bound, the gap and the status of each")
    greedy: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON,
                                   description="The same levels' values for the first-fit answer, the baseline")
    solver_gap: float | None = Field(default=None, description="The placed level's gap to CP-SAT's proven bound")
    relaxation_gap: float | None = Field(default=None, description="The placed level's gap to the relaxation's bound")
    points_waiting: int = Field(default=0, description="Priority points of every session waiting when the run began: "
                                                       "what placing them all would earn")
    waiting: list[dict[str, Any]] = Field(
        default_factory=list, sa_type=sa.JSON,
        description="The sessions left waiting (key, patient, service, priority) with the reason that binds")
    error: str = Field(default="", max_length=2000)
    owner: str = Field(default="", max_length=200, description="host:pid of the worker running it")
    attempts: int = Field(default=1, description="How many times the run was started (a dead worker's run is retried)")

class CatalogVersion(SQLModel, table=True):
    """A token that changes with every catalog write, so processes know when their cached catalog is stale.

    A random token rather than a counter: a rolled-back change must never be
    mistaken for a later one that happens to reach the same number.
    """

    __tablename__ = "catalog_version"
    __table_args__ = (sa.CheckConstraint("id = 1", name="single_row"),)

    id: int = Field(default=1, primary_key=True)
    token: str = Field(max_length=32)


class ScheduleVersion(SQLModel, table=True):
    """A token per location and UTC day that changes with every committed change to who is busy that day.

    Bumped in the transaction that changes an allocation starting that day (``data.schedule_version``), so a
    process's cached busy time (``scheduler.free_time``) is known stale the moment the change is visible. No row:
    the day never changed since the table exists. Random, not a counter, for the reason ``CatalogVersion`` gives.
    """

    __tablename__ = "schedule_version"

    location_id: int = Field(foreign_key="location.id", ondelete="CASCADE", primary_key=True)
    day: date = Field(primary_key=True, description="The UTC date the changed allocations start on")
    token: str = Field(max_length=32)


CATALOG_TABLES = (Location, LocationHours, Clinician, ClinicianCertification, ClinicianShift, ShiftBreak,
                  ClinicianException, DeviceType, Device, DeviceMaintenance, Room, Service, ServiceDevice)


class CalendarFeed(SQLModel, table=True):
    """A clinician's calendar subscription. The URL's secret is stored only as its SHA-256; deleting the row revokes it."""

    __tablename__ = "calendar_feed"

    id: int | None = Field(default=None, primary_key=True)
    clinician_id: int = Field(foreign_key="clinician.id", ondelete="CASCADE", unique=True)
    secret_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = instant()


class VisitRequest(SQLModel, table=True):
    """A time asked for on the public pages: a new visit, or a patient's move of a session.

    The slot is held (``hold_id``, a system hold with a long time to live) until
    the front desk confirms or declines; ``secret_hash`` is the SHA-256 of the
    secret in the visitor's status link. ``contact_key`` and ``client_key`` are
    hashes of the contact and the client address, kept only to rate-limit.
    """

    __tablename__ = "visit_request"
    __table_args__ = (
        sa.CheckConstraint("(kind = 'move') = (moves_appointment_id IS NOT NULL)", name="move_names_appointment"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: RequestKind = Field(sa_type=checked_enum(RequestKind))
    status: RequestStatus = Field(default=RequestStatus.REQUESTED, sa_type=checked_enum(RequestStatus), index=True)
    secret_hash: str = Field(max_length=64, unique=True)
    hold_id: int = Field(foreign_key="appointment.id", ondelete="RESTRICT", unique=True)
    moves_appointment_id: int | None = Field(default=None, foreign_key="appointment.id", ondelete="RESTRICT")
    patient_id: int = Field(foreign_key="patient.id", ondelete="RESTRICT", index=True)
    new_patient: bool = Field(description="The patient record was made from this request (not yet matched)")
    reason: str = Field(default="", max_length=500)
    decline_reason: str = Field(default="", max_length=300)
    contact_key: str = Field(max_length=64, index=True)
    client_key: str = Field(max_length=64, index=True)
    created_at: datetime = instant(index=True)
    decided_at: datetime | None = instant(default=None, nullable=True)


class PatientLink(SQLModel, table=True):
    """A patient's own page: the SHA-256 of the secret in its URL; deleting the row revokes it."""

    __tablename__ = "patient_link"

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", ondelete="CASCADE", unique=True)
    secret_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = instant()


class SignInFailure(SQLModel, table=True):
    """A failed sign-in, counted per username and per client address (as hashes) to slow down guessing."""

    __tablename__ = "sign_in_failure"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, index=True)
    at: datetime = instant(index=True)


class PatientMessage(SQLModel, table=True):
    """The outbox: what a patient must be told, written in the same transaction as the change it tells about.

    ``change_key`` names the change ("audit:812", "request:44:received", "reminder:90:48h:<start>"); one
    message per change and channel, so a change can never be told twice. The delivery worker claims due rows
    (``lease_until``), sends, and records the outcome; the rows go when the patient is erased.
    """

    __tablename__ = "patient_message"
    __table_args__ = (
        sa.UniqueConstraint("change_key", "channel", name="uq_patient_message_change"),
        sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        sa.CheckConstraint("(status = 'sent') = (sent_at IS NOT NULL)", name="sent_when_sent"),
        sa.Index("ix_patient_message_due", "status", "next_attempt_at"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", ondelete="CASCADE", index=True)
    appointment_id: int | None = Field(default=None, foreign_key="appointment.id", ondelete="SET NULL", index=True)
    location_id: int | None = Field(default=None, foreign_key="location.id", ondelete="SET NULL")
    kind: MessageKind = Field(sa_type=checked_enum(MessageKind))
    channel: Channel = Field(sa_type=checked_enum(Channel))
    recipient: str = Field(max_length=254, description="E-mail address or phone number; never logged")
    subject: str = Field(default="", max_length=200)
    body_text: str = Field(sa_type=sa.Text)
    body_html: str | None = Field(default=None, sa_type=sa.Text)
    calendar: str | None = Field(default=None, sa_type=sa.Text, description="An .ics attachment, if any")
    change_key: str = Field(max_length=120)
    link_hash: str | None = Field(default=None, max_length=64, unique=True,
                                  description="SHA-256 of the secret in the message's link to the patient's page")
    status: MessageStatus = Field(default=MessageStatus.PENDING, sa_type=checked_enum(MessageStatus))
    attempts: int = 0
    next_attempt_at: datetime = instant(description="Not sent before this (quiet hours, backoff)")
    lease_until: datetime | None = instant(default=None, nullable=True)
    worker: str | None = Field(default=None, max_length=120)
    last_error: str = Field(default="", max_length=500)
    provider_ref: str | None = Field(default=None, max_length=120)
    created_at: datetime = instant()
    sent_at: datetime | None = instant(default=None, nullable=True)
    dismissed_at: datetime | None = instant(default=None, nullable=True, description=(
        "When a failed or uncertain message was taken off the desk's list (its status stays what happened)"))
    dismissed_by: str | None = Field(default=None, max_length=64, description=(
        "The user who dismissed it; none when it settled itself (the patient turned the channel off)"))


class BackendClient(SQLModel, table=True):
    """A system that connects through SMART Backend Services (an EHR): it signs in with a JWT signed by its own key.

    Its public keys are either held here (``jwks``, a JWK Set) or fetched from ``jwks_uri`` when it asks for a
    token; ``scope`` is what an administrator allowed it (``system/Slot.rs ...``), the most a token can carry.
    ``security_stamp`` is in every token issued to it and renewed on every change, so a narrowed or disabled
    client's tokens stop working at once.
    """

    __tablename__ = "backend_client"
    __table_args__ = (
        sa.CheckConstraint("(jwks IS NULL) != (jwks_uri IS NULL)", name="one_key_source"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    client_id: str = Field(max_length=64, unique=True)
    client_name: str = Field(max_length=120)
    jwks: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON(none_as_null=True))
    jwks_uri: str | None = Field(default=None, max_length=300)
    scope: str = Field(max_length=2000)
    created_at: datetime = instant()
    disabled_at: datetime | None = instant(default=None, nullable=True)
    security_stamp: str = Field(default_factory=new_security_stamp, max_length=32)


class ClientAssertion(SQLModel, table=True):
    """A client's sign-in JWT already used (its ``jti``), kept until it expires so it cannot be used again."""

    __tablename__ = "client_assertion"
    __table_args__ = (sa.UniqueConstraint("client_id", "jti", name="uq_client_assertion_jti"),)

    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="backend_client.id", ondelete="CASCADE")
    jti: str = Field(max_length=255)
    expires_at: datetime = instant(index=True)
