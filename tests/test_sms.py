"""Patient texts through Twilio's SDK against a local server speaking Twilio's Messages API, and the STOP webhook.

The fake (a threaded http.server on a free port) answers like Twilio: 201 with the message's JSON, or an error
body ``{code, message, more_info, status}``; it keeps every request exactly as the SDK sent it. The service
points the SDK at it with ``CLINIC_TWILIO_BASE_URL``: nothing leaves the machine. Incoming texts are signed here
by hand (HMAC-SHA1 over the public URL and the sorted form fields, as Twilio documents it), not with the SDK the
service checks them with.
"""

import base64
import hashlib
import hmac
import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from pydantic import SecretStr
from sqlmodel import Session

from data.enums import Channel, MessageStatus
from data.tables import Patient
from scheduler.channels import channel_senders
from scheduler.delivery import deliver_due
from scheduler.sms_channel import TwilioSender
from tests.clinic_world import at
from tests.factories import API
from tests.servers import free_port
from tests.test_messages import BOTH, Clinic, book, clinic  # noqa: F401 (the clinic fixture)

SID, TOKEN, CLINIC_NUMBER = "AC" + "0123456789abcdef" * 2, "twilio-test-auth-token", "+12125550199"
PHONES = ["+1 (212) 555-0101", "212.555.0101", "+44 212 555 0101"]  # Ann and Ben share a phone; Cy is in the UK
INBOUND = f"{API}/public/sms/inbound"
HANG_UP = "hang up"  # take the request, then close the connection without answering


@dataclass
class Refusal:
    status: int
    code: int
    message: str


@dataclass
class Received:
    path: str
    authorization: str
    content_type: str
    form: dict


@dataclass
class FakeTwilio:
    """What the fake was sent, and what it answers next (an empty list: 201, the message queued)."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    answers: list = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)


class MessagesApi(BaseHTTPRequestHandler):
    def do_POST(self):
        twilio: FakeTwilio = self.server.twilio
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        form = parse_qs(body, keep_blank_values=True, strict_parsing=True)
        twilio.received.append(Received(self.path, self.headers.get("Authorization", ""),
                                        self.headers.get("Content-Type", ""), form))
        answer = twilio.answers.pop(0) if twilio.answers else None
        if answer == HANG_UP:
            return  # HTTP/1.0: the connection closes with no answer written
        if self.headers.get("Authorization") != basic(SID, TOKEN):
            answer = Refusal(401, 20003, "Authenticate")
        if isinstance(answer, Refusal):
            return self.reply(answer.status, {"code": answer.code, "message": answer.message, "status": answer.status,
                                              "more_info": f"https://www.twilio.com/docs/errors/{answer.code}"})
        sid = f"SM{len(twilio.received):032x}"
        twilio.accepted.append(sid)
        self.reply(201, {
            "account_sid": SID, "api_version": "2010-04-01", "body": form["Body"][0],
            "date_created": "Mon, 01 Mar 2027 13:00:00 +0000", "date_updated": "Mon, 01 Mar 2027 13:00:00 +0000",
            "date_sent": None, "direction": "outbound-api", "error_code": None, "error_message": None,
            "from": form["From"][0], "messaging_service_sid": None, "num_media": "0", "num_segments": "1",
            "price": None, "price_unit": "USD", "sid": sid, "status": "queued", "to": form["To"][0],
            "uri": f"/2010-04-01/Accounts/{SID}/Messages/{sid}.json",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{SID}/Messages/{sid}/Media.json"}})

    def reply(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def twilio():
    fake = FakeTwilio()
    server = ThreadingHTTPServer(("127.0.0.1", 0), MessagesApi)
    server.twilio = fake
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def texting(clinic, twilio, tmp_path) -> Clinic:
    """The clinic with Twilio configured (pointed at the fake) and phone numbers for its patients."""
    with Session(clinic.engine) as session:
        for patient, phone in zip(clinic.world.patients, PHONES):
            session.get(Patient, patient.id).phone = phone
        session.commit()
    app = clinic.client.app
    app.state.settings = app.state.settings.model_copy(update={
        "twilio_account_sid": SID, "twilio_auth_token": SecretStr(TOKEN), "sms_from": CLINIC_NUMBER,
        "twilio_base_url": twilio.url, "message_templates": str(tmp_path)})
    return clinic


def text(clinic: Clinic, worker: str = "w1"):
    """One delivery round for texts, with the senders the service's settings make."""
    senders = channel_senders(clinic.client.app.state.settings)
    assert set(senders) == {Channel.SMS}, "Twilio settings give an SMS sender (and no SMTP host: no e-mail)"
    try:
        return deliver_due(clinic.engine, senders=senders, clock=clinic.now, worker=worker)
    finally:
        senders[Channel.SMS].close()


def texts(clinic: Clinic):
    return [message for message in clinic.messages() if message.channel == Channel.SMS]


@BOTH
def test_a_booking_is_texted_through_twilio_s_messages_api_with_exactly_to_from_body_and_the_account(texting, twilio):
    book(texting, texting.world.patients[0], at(3, 9))
    (message,) = texts(texting)
    assert text(texting).sent == 1
    (request,) = twilio.received
    assert request.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert request.authorization == basic(SID, TOKEN)
    assert request.content_type == "application/x-www-form-urlencoded"
    assert request.form == {"To": ["+12125550101"], "From": [CLINIC_NUMBER], "Body": [message.body_text]}
    assert "Wednesday, March 3 at 9:00 AM" in message.body_text and "Reply STOP" in message.body_text
    (sent,) = texts(texting)
    assert sent.status == MessageStatus.SENT and sent.provider_ref == twilio.accepted[0]
    assert text(texting).sent == 0 and len(twilio.received) == 1, "sent once"


def test_a_text_names_no_service_and_neither_its_words_nor_the_number_reach_the_logs(texting, twilio, tmp_path,
                                                                                    caplog):
    # A clinic's own template that would name the service: texts still say 'visit' unless told otherwise.
    own = tmp_path / str(texting.world.midtown.id)
    own.mkdir()
    (own / "booked.j2").write_text('{% extends "booked.j2" %}{% block sms %}{{ clinic }}: your {{ service }} is '
                                   '{{ when }}. {{ link }}{% endblock %}')
    with caplog.at_level(logging.DEBUG):
        book(texting, texting.world.patients[0], at(3, 9))
        assert text(texting).sent == 1
    body = twilio.received[0].form["Body"][0]
    assert body.startswith("World Midtown: your visit is Wednesday, March 3 at 9:00 AM.")
    assert "Shockwave" not in body and texting.world.eswt.name not in body
    secret = body.split("/me/")[1].split()[0]
    logged = "\n".join(f"{record.name} {record.getMessage()}" for record in caplog.records)
    assert "clinic.delivery" in logged and "twilio.http_client" in logged, "the capture saw the delivery"
    for private in ("2125550101", "555-0101", "555 0101", body, body[:30], secret, "Wednesday, March 3", TOKEN):
        assert private not in logged

    texting.client.app.state.settings = texting.client.app.state.settings.model_copy(
        update={"sms_names_service": True})
    book(texting, texting.world.patients[1], at(4, 9))
    text(texting)
    assert "your Shockwave therapy is Thursday" in twilio.received[-1].form["Body"][0], "the setting names it"


@pytest.mark.parametrize("busy", [Refusal(503, 20503, "Service Unavailable"), Refusal(429, 20429, "Too Many Requests")],
                         ids=["503", "429"])
def test_twilio_busy_is_retried_with_backoff_and_the_text_goes_once(texting, twilio, busy):
    book(texting, texting.world.patients[0], at(3, 9))
    twilio.answers = [busy, busy]
    assert text(texting).retried == 1
    (waiting,) = texts(texting)
    assert waiting.status == MessageStatus.PENDING and waiting.attempts == 1
    assert f"HTTP {busy.status}, error {busy.code}" in waiting.last_error
    assert waiting.next_attempt_at == texting.now() + timedelta(minutes=1)
    assert text(texting).retried == 0 and len(twilio.received) == 1, "not before its backoff"
    texting.clock[0] += timedelta(minutes=1)
    assert text(texting).retried == 1
    texting.clock[0] += timedelta(minutes=2)
    assert text(texting).sent == 1
    (sent,) = texts(texting)
    assert sent.status == MessageStatus.SENT and sent.attempts == 3 and sent.provider_ref == twilio.accepted[0]
    assert len(twilio.accepted) == 1 and len(twilio.received) == 3


@pytest.mark.parametrize("code, reason", [
    (21211, "not a valid number"),
    (21610, "texted STOP to the clinic's number"),
    (21999, "Some refusal Twilio has words for"),
])
def test_a_refused_number_is_given_up_with_the_reason_and_never_tried_again(texting, twilio, code, reason):
    book(texting, texting.world.patients[0], at(3, 9))
    twilio.answers = [Refusal(400, code, "Some refusal Twilio has words for")]
    assert text(texting).failed == 1
    (given_up,) = texts(texting)
    assert given_up.status == MessageStatus.FAILED and f"error {code}" in given_up.last_error
    assert reason in given_up.last_error
    texting.clock[0] += timedelta(days=1)
    assert text(texting).uncertain == 0 and len(twilio.received) == 1
    with Session(texting.engine) as session:
        assert session.get(Patient, texting.world.patients[0].id).sms_messages, (
            "a refusal is not the patient's word: consent changes only with their STOP (the webhook)")


def test_wrong_credentials_wait_for_the_operator_and_an_unreachable_twilio_is_retried(texting, twilio):
    book(texting, texting.world.patients[0], at(3, 9))
    (message,) = texts(texting)
    wrong = TwilioSender(account_sid=SID, auth_token="not-the-token", sender=CLINIC_NUMBER, base_url=twilio.url)
    assert deliver_due(texting.engine, senders={Channel.SMS: wrong}, clock=texting.now, worker="w1").retried == 1
    assert "check CLINIC_TWILIO_ACCOUNT_SID and CLINIC_TWILIO_AUTH_TOKEN" in texts(texting)[0].last_error
    nobody = TwilioSender(account_sid=SID, auth_token=TOKEN, sender=CLINIC_NUMBER,
                          base_url=f"http://127.0.0.1:{free_port()}")
    texting.clock[0] += timedelta(minutes=1)
    assert deliver_due(texting.engine, senders={Channel.SMS: nobody}, clock=texting.now, worker="w1").retried == 1
    assert "Twilio could not be reached" in texts(texting)[0].last_error
    texting.clock[0] += timedelta(minutes=2)
    assert text(texting).sent == 1 and len(twilio.accepted) == 1


def test_an_answer_lost_after_twilio_took_the_text_is_not_sent_again(texting, twilio):
    book(texting, texting.world.patients[0], at(3, 9))
    twilio.answers = [HANG_UP]
    assert text(texting).uncertain == 1
    (lost,) = texts(texting)
    assert lost.status == MessageStatus.UNCERTAIN and "it may have been sent" in lost.last_error
    texting.clock[0] += timedelta(days=1)
    assert text(texting).uncertain == 0 and len(twilio.received) == 1


@BOTH
def test_a_worker_killed_mid_send_leaves_the_text_uncertain_and_it_is_never_sent_again(texting, twilio):
    book(texting, texting.world.patients[0], at(3, 9))

    class KilledAfterHandingOver(TwilioSender):
        def send(self, message):
            super().send(message)
            raise KeyboardInterrupt  # the process dies before the outcome is recorded

    dying = KilledAfterHandingOver(account_sid=SID, auth_token=TOKEN, sender=CLINIC_NUMBER, base_url=twilio.url)
    with pytest.raises(KeyboardInterrupt):
        deliver_due(texting.engine, senders={Channel.SMS: dying}, clock=texting.now, worker="dies")
    assert [m.status for m in texts(texting)] == [MessageStatus.SENDING]
    assert text(texting, "w2") == text(texting, "w2") and len(twilio.received) == 1, "the lease still holds it"
    texting.clock[0] += timedelta(minutes=6)
    assert text(texting, "w2").sent == 0
    (uncertain,) = texts(texting)
    assert uncertain.status == MessageStatus.UNCERTAIN and "may or may not have been sent" in uncertain.last_error
    texting.clock[0] += timedelta(days=1)
    text(texting, "w2")
    assert len(twilio.received) == 1 and texts(texting)[0].status == MessageStatus.UNCERTAIN


def twilio_signature(url: str, form: dict, token: str = TOKEN) -> str:
    """Twilio's X-Twilio-Signature: HMAC-SHA1 of the URL followed by each field's name and value, sorted by name."""
    signed = url + "".join(name + value for name, value in sorted(form.items()))
    return base64.b64encode(hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()).decode()


def texted(clinic: Clinic, body: str, number: str = "+12125550101", signature: str | None = None, **extra):
    form = {"MessageSid": "SM" + "f" * 32, "AccountSid": SID, "From": number, "To": CLINIC_NUMBER, "Body": body,
            "NumSegments": "1", **extra}
    signature = signature or twilio_signature(f"https://clinic.example.org{INBOUND}", form)
    return clinic.client.post(INBOUND, data=form, headers={"X-Twilio-Signature": signature})


def agreeing(clinic: Clinic) -> list[bool]:
    with Session(clinic.engine) as session:
        return [session.get(Patient, patient.id).sms_messages for patient in clinic.world.patients]


@BOTH
def test_stop_ends_texts_for_everyone_at_that_number_and_start_brings_them_back(texting, caplog):
    book(texting, texting.world.patients[0], at(3, 9))
    with caplog.at_level(logging.DEBUG):
        stopped = texted(texting, "  Stop \n")
    assert stopped.status_code == 200, stopped.text
    assert stopped.headers["content-type"] == "text/xml; charset=utf-8"
    assert stopped.text == '<?xml version="1.0" encoding="UTF-8"?><Response />'
    assert agreeing(texting) == [False, False, True], "Ann and Ben share the number; Cy's is the UK's +44 212..."
    (given_up,) = texts(texting)
    assert given_up.status == MessageStatus.FAILED and "turned text messages off" in given_up.last_error
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "texts off for 2 patient record(s)" in logged and "555" not in logged and "0101" not in logged
    assert texted(texting, "unstop").status_code == 200
    assert agreeing(texting) == [True, True, True]
    for word in ["STOPALL", "unsubscribe", "Cancel", "END", "quit", "optout", "revoke"]:
        texted(texting, word).raise_for_status()
        assert agreeing(texting) == [False, False, True], word
        texted(texting, "START").raise_for_status()
        assert agreeing(texting) == [True, True, True]
    for chatter in ["stop please", "Thanks!", "yes", ""]:
        assert texted(texting, chatter).status_code == 200
        assert agreeing(texting) == [True, True, True], chatter
    assert texted(texting, "STOP", number="+442125550101").status_code == 200
    assert agreeing(texting) == [True, True, False]
    assert texted(texting, "STOP", number="+15555550100").status_code == 200, "no patient: nothing to change"


def test_a_text_not_signed_by_twilio_for_this_service_is_refused_and_changes_nothing(texting):
    form = {"From": "+12125550101", "To": CLINIC_NUMBER, "Body": "STOP"}
    forged = [
        None,  # no signature at all
        twilio_signature(f"https://clinic.example.org{INBOUND}", form, token="someone-elses-token"),
        twilio_signature(f"http://testserver{INBOUND}", form),  # the Host the request came in on, not the public URL
        twilio_signature(f"https://clinic.example.org{INBOUND}", {**form, "Body": "Thanks"}),  # body changed
    ]
    for signature in forged:
        headers = {"X-Twilio-Signature": signature} if signature else {}
        refused = texting.client.post(INBOUND, data=form, headers=headers)
        assert refused.status_code == 403, refused.text
        assert "not signed by Twilio" in refused.json()["detail"]
    assert agreeing(texting) == [True, True, True]
    as_json = texting.client.post(INBOUND, json=form, headers={
        "X-Twilio-Signature": twilio_signature(f"https://clinic.example.org{INBOUND}", form)})
    assert as_json.status_code == 415 and "x-www-form-urlencoded" in as_json.json()["detail"]
    assert texted(texting, "STOP").status_code == 200 and agreeing(texting) == [False, False, True], "signed: taken"


def test_without_twilio_settings_the_webhook_answers_that_texts_are_not_set_up(clinic):
    answer = clinic.client.post(INBOUND, data={"From": "+12125550101", "Body": "STOP"},
                                headers={"X-Twilio-Signature": "anything"})
    assert answer.status_code == 404 and "CLINIC_TWILIO_AUTH_TOKEN" in answer.json()["detail"]
