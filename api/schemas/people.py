"""Request and response schemas of patients and staff users."""

from datetime import date, datetime
from typing import Annotated

from pydantic import (AfterValidator, BeforeValidator, EmailStr, Field, StrictBool, StringConstraints,
                      field_validator, model_validator)

from api.schemas.common import Day, Ident, Schema, SingleLine, partial, spelled
from data.enums import Role

PersonName = Annotated[SingleLine, StringConstraints(min_length=1, max_length=80)]
PHONE_PATTERN = r"^\+?[0-9 ()\-.]{7,32}$"


# Said in words: pydantic's own message would show the desk (and the public request page) a regular expression.
Phone = Annotated[str, *spelled(PHONE_PATTERN, "write the number with digits, spaces, brackets, dots or dashes "
                                               "(7 to 32 of them, an optional + first), e.g. +1 212 555 0100")]


def _folded(value):
    return value.strip().lower() if isinstance(value, str) else value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("a password cannot be only spaces")
    return value


Username = Annotated[str, BeforeValidator(_folded), *spelled(
    r"^[a-z0-9_.\-]{3,64}$", "use 3 to 64 letters, digits, dots, dashes or _, e.g. 'front.desk'")]
Password = Annotated[
    str, StringConstraints(min_length=8, max_length=128, strip_whitespace=False), AfterValidator(_not_blank)
]


class PatientFields(Schema):
    """Kept to what scheduling needs (minimal PHI)."""

    given_name: PersonName
    family_name: PersonName
    birth_date: Day
    phone: Phone | None = None
    email: EmailStr | None = None

    @field_validator("birth_date")
    @classmethod
    def _plausible_birth_date(cls, value: date) -> date:
        if value > date.today():
            raise ValueError(f"{value.isoformat()} is in the future")
        return value


EMAIL_CONSENT = "The patient agrees to messages by e-mail (off: none are written; the unsubscribe link turns it off)"
SMS_CONSENT = "The patient agrees to text messages (off: none are written; replying STOP turns it off)"


class MessageConsent(Schema):
    """How the patient wants to hear from the clinic; the desk records what the patient asks. Not part of the
    public request form: a visitor's contact details are for answering the request."""

    email_messages: StrictBool = Field(default=True, description=EMAIL_CONSENT)
    sms_messages: StrictBool = Field(default=True, description=SMS_CONSENT)


class PatientCreate(MessageConsent, PatientFields):
    pass


class PatientUpdate(partial(PatientFields, "PatientFieldsUpdate")):
    # Left out: unchanged. Never null: a patient either agrees or does not.
    email_messages: StrictBool = Field(default=None, description=EMAIL_CONSENT)
    sms_messages: StrictBool = Field(default=None, description=SMS_CONSENT)


class PatientPublic(MessageConsent, PatientFields):
    id: int
    erased_at: datetime | None = Field(default=None, description="Set once the personal data was erased")


class UserFields(Schema):
    username: Username
    role: Role
    clinician_id: Ident | None = Field(default=None, description="Required for, and only for, the clinician role")
    is_active: StrictBool = True

    @model_validator(mode="after")
    def _clinician_link(self):
        if self.role == Role.CLINICIAN and self.clinician_id is None:
            raise ValueError("a clinician user must name its clinician_id")
        if self.role != Role.CLINICIAN and self.clinician_id is not None:
            raise ValueError(f"only clinician users link to a clinician; role is {self.role.value}")
        return self


class UserCreate(UserFields):
    password: Password


class UserUpdate(partial(UserFields, "UserFieldsUpdate")):
    password: Password | None = None


class UserPublic(UserFields):
    id: int


class Token(Schema):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds until the token expires")
