"""What patients text back to the clinic's Twilio number: STOP ends texts, START brings them back.

Twilio posts each incoming text here (configure the number's "A message comes
in" webhook as ``{CLINIC_PUBLIC_BASE_URL}/api/v1/public/sms/inbound``, HTTP
POST), signed with the account's auth token. An unsigned or wrongly signed
request is refused before anything is read from or written to the database.

A STOP (or STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, OPTOUT, REVOKE) turns
``sms_messages`` off for every patient whose phone is that number, and the
texts still waiting for them are given up; START or UNSTOP turns it back on.
Any other text changes nothing. The answer is always an empty TwiML response:
Twilio itself confirms STOP and START to the patient. Neither the number nor
the text is logged.
"""

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from sqlmodel import Session, select
from starlette.datastructures import FormData

from api.deps import NowDep, SessionDep, SettingsDep
from api.routes.catalog import digits_of, phone_digits
from data.enums import Channel
from data.tables import Patient
from scheduler.consent import give_up_waiting
from scheduler.sms_channel import NOTHING_TO_SAY, consent_in_reply, signed_by_twilio

log = logging.getLogger("clinic.sms")
router = APIRouter(prefix="/public/sms", tags=["public"])
FORM = "application/x-www-form-urlencoded"
LONGEST_COUNTRY_CODE, SHORTEST_NATIONAL_NUMBER = 3, 7
INBOUND_FORM = {"type": "object", "required": ["From", "Body"], "additionalProperties": {"type": "string"},
                "properties": {"From": {"type": "string", "description": "The patient's number, E.164"},
                               "Body": {"type": "string", "description": "What they texted"}}}


async def signed_text(request: Request, settings: SettingsDep) -> FormData:
    """The posted form, once it is known to come from Twilio; nothing is read from the database before."""
    if settings.twilio_auth_token is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "texts are not set up on this service "
                                                       "(CLINIC_TWILIO_AUTH_TOKEN is unset)")
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, f"Twilio posts texts as {FORM}")
    form = await request.form()
    url = f"{settings.public_base_url}{request.url.path}" + (f"?{request.url.query}" if request.url.query else "")
    if not signed_by_twilio(settings.twilio_auth_token.get_secret_value(), url, form,
                            request.headers.get("x-twilio-signature", "")):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this request is not signed by Twilio for this service's "
                                                       "auth token and public address")
    return form


@router.post(
    "/inbound", response_class=Response,
    openapi_extra={"requestBody": {"required": True, "content": {FORM: {"schema": INBOUND_FORM}}}},
    responses={200: {"content": {"text/xml": {}}, "description": "An empty TwiML response"},
               403: {"description": "Not signed by Twilio for this service"},
               404: {"description": "Texts are not set up on this service"},
               415: {"description": f"Not {FORM}"}})
def text_received(form: Annotated[FormData, Depends(signed_text)], session: SessionDep, settings: SettingsDep,
                  now: NowDep):
    """Twilio's webhook for texts to the clinic's number (signed with ``X-Twilio-Signature``)."""
    agrees = consent_in_reply(str(form.get("Body", "")))
    if agrees is not None:
        changed = texts_agreed(session, str(form.get("From", "")), agrees, clinic_number=settings.sms_from or "",
                               now=now)
        session.commit()
        log.info("a patient texted %s: texts %s for %d patient record(s)", "START" if agrees else "STOP",
                 "on" if agrees else "off", changed)
    return Response(NOTHING_TO_SAY, media_type="text/xml")


def texts_agreed(session: Session, number: str, agrees: bool, *, clinic_number: str, now: datetime) -> int:
    """Set ``sms_messages`` for every patient with this number; on STOP their waiting texts are given up too."""
    patients = same_number(session, number, clinic_number)
    for patient in patients:
        patient.sms_messages = agrees
        if not agrees:
            give_up_waiting(session, patient_id=patient.id, channel=Channel.SMS, now=now)
    return len(patients)


def same_number(session: Session, number: str, clinic_number: str) -> list[Patient]:
    """Patients whose phone is this E.164 number, however the desk wrote it.

    Matched on digits. Written internationally (+1 212 555 0100, 001 212 ...) it must be the same number. Written
    nationally (212-555-0100, 020 7946 0018) it is taken to be in the clinic's country, that of its own number
    (CLINIC_SMS_FROM): the texting number must be it, trunk 0 dropped, behind a country code of 1 to 3 digits that
    the clinic's number starts with too.
    """
    theirs = digits_of(number)
    if len(theirs) < SHORTEST_NATIONAL_NUMBER:
        return []
    home = digits_of(clinic_number) if clinic_number.startswith("+") else theirs  # a sender id has no country
    national = [theirs[cut:] for cut in range(1, LONGEST_COUNTRY_CODE + 1)
                if theirs[:cut] == home[:cut] and len(theirs) - cut >= SHORTEST_NATIONAL_NUMBER]
    spellings = {theirs, f"00{theirs}", *national, *(f"0{rest}" for rest in national)}
    found = session.exec(select(Patient).where(Patient.erased_at.is_(None), Patient.phone.is_not(None),
                                               phone_digits(Patient.phone).in_(spellings))).all()
    return [patient for patient in found
            if not patient.phone.strip().startswith("+") or digits_of(patient.phone) == theirs]
