"""Erasing a patient's personal data: administrators only, the history stays pseudonymous."""

from typing import Annotated

from fastapi import APIRouter, Depends

from api.deps import NowDep, SessionDep, require_role
from api.schemas.common import IdentParam
from api.schemas.people import PatientPublic
from data.enums import Role
from data.tables import User
from scheduler import erasure

router = APIRouter(tags=["patients"])
Admin = Annotated[User, Depends(require_role(Role.ADMIN))]


@router.post("/patients/{ident}/erase", response_model=PatientPublic,
             responses={409: {"description": "Sessions or waitlist entries still to come, named in `blockers`"}})
def erase_patient(ident: IdentParam, session: SessionDep, now: NowDep, user: Admin):
    """Overwrite the patient's name, birth date, contacts and the free text about them; sessions, plans and the
    audit trail stay, pseudonymous. Refused while a hold, a session or a waitlist entry is still to come.
    Erasing an erased patient changes nothing."""
    patient = erasure.erase(session, actor=user, patient_id=ident, now=now)
    session.commit()
    return patient
