"""What the front desk reads of patients' messages, and the patient's own channel choices."""

from datetime import datetime

from pydantic import Field, StrictBool

from api.schemas.common import Schema
from data.enums import Channel, MessageKind, MessageStatus


class MessageOut(Schema):
    """One message as lists show it: the address masked, no words; times in the location's zone (its offset)."""

    id: int
    patient_id: int
    patient: str = Field(description="The patient's name, for the desk's list of problems")
    appointment_id: int | None
    location_id: int | None
    kind: MessageKind
    channel: Channel
    recipient: str = Field(description="Masked: 'a***@example.org', '•••• 0142'")
    subject: str = Field(description="E-mail only; a text message has none")
    status: MessageStatus
    attempts: int
    last_error: str = Field(description="Why the last try failed, or why it was not sent; empty if none")
    created_at: datetime
    next_attempt_at: datetime | None = Field(description="While waiting: not sent before (quiet hours, backoff)")
    sent_at: datetime | None
    dismissed_at: datetime | None = Field(description="Taken off the desk's list (the status stays what happened)")
    dismissed_by: str | None = Field(description="Who dismissed it; none when it settled itself")


class MessageRead(MessageOut):
    body_text: str = Field(description="The words: an e-mail's plain-text part, or the text message")


class RetryIn(Schema):
    not_received: StrictBool = Field(default=False, description=(
        "For an uncertain text: the patient says it did not arrive (a second text cannot be taken back)"))


class ChoicesOut(Schema):
    """What the patient's unsubscribe page shows."""

    clinic: str = Field(description="Who writes to the patient (the location's name)")
    email_messages: bool
    sms_messages: bool
