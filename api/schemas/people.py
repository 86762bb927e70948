"""Request and response schemas of patients and staff users."""

from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, EmailStr, Field, StringConstraints, model_validator

from api.schemas.common import Day, Ident, Schema, SingleLine, partial
from data.enums import Role

PersonName = Annotated[SingleLine, StringConstraints(min_length=1, max_length=80)]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()\-.]{7,32}$")]


def _folded(value):
    return value.strip().lower() if isinstance(value, str) else value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("a password cannot be only spaces")
    return value


Username = Annotated[str, BeforeValidator(_folded), StringConstraints(pattern=r"^[a-z0-9_.\-]{3,64}$")]
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

    @model_validator(mode="after")
    def _plausible_birth_date(self):
        if self.birth_date > date.today():
            raise ValueError(f"birth_date {self.birth_date} is in the future")
        return self


class PatientCreate(PatientFields):
    pass


PatientUpdate = partial(PatientFields, "PatientUpdate")


class PatientPublic(PatientFields):
    id: int
    erased_at: datetime | None = Field(default=None, description="Set once the personal data was erased")


class UserFields(Schema):
    username: Username
    role: Role
    clinician_id: Ident | None = Field(default=None, description="Required for, and only for, the clinician role")
    is_active: bool = True

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
