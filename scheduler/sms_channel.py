"""Text messages through Twilio (its maintained SDK): sending, and reading what a patient texts back.

Sending is one ``POST /2010-04-01/Accounts/{sid}/Messages.json`` with To, From
and Body; Twilio answers with the message's SID, which becomes the outbox
row's ``provider_ref``. Twilio has no idempotency key for messages, so what a
failure means decides whether the text may go again:

- the request never left (connection refused, TLS or connect timeout), or
  Twilio answered 429 (too many requests), 5xx or 401 (the account's
  credentials, which the operator can fix): temporary, tried again later;
- Twilio answered another 4xx (21211 not a valid number, 21610 the patient
  texted STOP, 21614 not a mobile number ...): permanent, given up with the
  reason in words for the front desk;
- the request left but no answer came back (read timeout, connection dropped):
  Twilio may have the text, so it is given up too, saying so, rather than sent
  a second time.

A 21610 refusal does not change the patient's consent: consent changes only
when the patient's own STOP or START reaches the clinic (the inbound webhook,
``api.routes.sms``), and Twilio keeps its block until then anyway.
The SDK logs requests' URLs and headers, never the form fields (number, body).
"""

from urllib.parse import urlsplit

import requests
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse
from urllib3.exceptions import NewConnectionError

from data.tables import PatientMessage
from scheduler.delivery import PermanentFailure, TemporaryFailure, UncertainOutcome

TIMEOUT_SECONDS = 30
# What Twilio's refusals mean for the front desk (https://www.twilio.com/docs/errors/<code>).
REFUSALS = {
    21211: "the patient's phone number is not a valid number",
    21408: "texts to this country are not enabled on the clinic's Twilio account",
    21610: "the patient texted STOP to the clinic's number; Twilio sends them nothing until they text START",
    21612: "Twilio cannot reach this number from the clinic's number",
    21614: "the number cannot receive text messages (a landline?)",
}
# Whole replies (trimmed, any case) that end or restart texts: Twilio's own keywords for long codes, so the
# clinic's record agrees with what Twilio blocks. YES, which Twilio also counts as START, is not taken as consent.
OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"})
OPT_IN = frozenset({"START", "UNSTOP"})
NOTHING_TO_SAY = str(MessagingResponse())  # the TwiML answer to an incoming text that sends no reply


class _TwilioHttp(TwilioHttpClient):
    """The SDK's own HTTP client, with a timeout, sending to ``origin`` instead of api.twilio.com when given."""

    def __init__(self, origin: str | None):
        super().__init__(timeout=TIMEOUT_SECONDS)
        self.origin = origin

    def request(self, method, url, *args, **kwargs):
        if self.origin:
            parts = urlsplit(url)
            url = f"{self.origin}{parts.path}" + (f"?{parts.query}" if parts.query else "")
        return super().request(method, url, *args, **kwargs)


class TwilioSender:
    """The SMS channel's :class:`scheduler.delivery.Sender`: ``send`` returns Twilio's message SID."""

    def __init__(self, *, account_sid: str, auth_token: str, sender: str, base_url: str | None = None):
        self.sender, self.http = sender, _TwilioHttp(base_url)
        self.client = Client(account_sid, auth_token, http_client=self.http)

    def send(self, message: PatientMessage) -> str:
        try:
            sent = self.client.messages.create(to=twilio_number(message.recipient), from_=self.sender,
                                               body=message.body_text)
        except (TwilioRestException, TwilioServiceException) as refusal:
            raise _failure(refusal) from None
        except requests.RequestException as trouble:
            if _never_left(trouble):
                raise TemporaryFailure(f"Twilio could not be reached: {type(trouble).__name__}") from None
            raise UncertainOutcome(
                f"Twilio took the text but its answer was lost ({type(trouble).__name__}): it may have been sent, so "
                "it is not sent again on its own") from None
        return sent.sid

    def close(self) -> None:
        """Let go of the round's connection to Twilio (kept open between its texts)."""
        self.http.session.close()


def twilio_number(phone: str) -> str:
    """The number as Twilio reads it: its digits, and the + of an international number (spaces, dashes gone)."""
    digits = "".join(char for char in phone if char.isdigit())
    return f"+{digits}" if phone.strip().startswith("+") else digits


def consent_in_reply(text: str) -> bool | None:
    """What a patient's text says about texts: False for STOP and its kin, True for START, None otherwise."""
    word = text.strip().upper()
    return False if word in OPT_OUT else True if word in OPT_IN else None


def signed_by_twilio(auth_token: str, url: str, form, signature: str) -> bool:
    """Whether ``X-Twilio-Signature`` is Twilio's for this URL (as Twilio called it) and these form fields."""
    return bool(signature) and RequestValidator(auth_token).validate(url, form, signature)


def _failure(refusal: TwilioRestException | TwilioServiceException) -> Exception:
    status, code = refusal.status, refusal.code
    if status == 429 or status >= 500:
        return TemporaryFailure(f"Twilio is busy or unavailable for now (HTTP {status}, error {code})")
    if status == 401:
        return TemporaryFailure(f"Twilio refused the clinic's credentials (error {code}): check "
                                "CLINIC_TWILIO_ACCOUNT_SID and CLINIC_TWILIO_AUTH_TOKEN")
    said = getattr(refusal, "msg", None) or getattr(refusal, "detail", None) or ""
    reason = REFUSALS.get(code) or str(said).removeprefix("Unable to create record: ")
    return PermanentFailure(f"Twilio refused the text (error {code}): {reason}")


def _never_left(trouble: requests.RequestException) -> bool:
    """True when the request cannot have reached Twilio: no connection was ever made."""
    if isinstance(trouble, (requests.ConnectTimeout, requests.exceptions.SSLError, requests.exceptions.ProxyError)):
        return True
    cause = trouble.args[0] if trouble.args else None
    return isinstance(getattr(cause, "reason", None), NewConnectionError)
