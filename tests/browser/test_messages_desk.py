"""Patients' messages in the web app: the desk reads a patient's messages (masked, in the clinic's time, the words
on demand), turns a channel off as the patient asks, retries or dismisses what did not arrive (patient page, Today
page), sees a session's messages in the schedule's panel; a patient unsubscribes from the link in an e-mail, and
only the page's button (not opening the link) changes anything.

The served clinic has no mail server, so messages wait in the outbox; a refusal by the mail server is written into
the served database as the delivery worker writes it.
"""

from datetime import datetime, timedelta

import httpx
from sqlmodel import Session, select

from data.db import make_engine
from data.enums import MessageStatus
from data.tables import PatientMessage
from tests.browser.arrange import NY, desk_post, first_slot, new_patient, unique
from tests.browser.conftest import api_token, assert_accessible, playwright_api, sign_in, visit
from tests.browser.test_schedule import open_schedule, session_box

expect = playwright_api.expect
REFUSAL = "the mail server refused the address: 550 5.1.1 no such mailbox"


def patient_with_a_refused_e_mail(site) -> tuple[dict, dict]:
    """A patient (e-mail and phone) booked a week ahead, whose confirmation e-mail the mail server refused."""
    base_url, world, server = site
    patient = new_patient(base_url, "Mira", email=f"{unique('mira')}@example.org", phone="+1 212 555 0142")
    day = (datetime.now(NY) + timedelta(days=7)).date().isoformat()
    slot = first_slot(base_url, world.msus.id, patient["id"], day)
    appointment = desk_post(base_url, "appointments", {"service_id": world.msus.id, "patient_id": patient["id"],
                                                       "start": slot["start"], "clinician_id": slot["clinician"]["id"]})
    engine = make_engine(f"sqlite:///{server.log.parent / 'clinic.db'}")
    try:
        with Session(engine) as session:
            mail = session.exec(select(PatientMessage).where(PatientMessage.appointment_id == appointment["id"],
                                                             PatientMessage.channel == "email")).one()
            mail.status, mail.attempts, mail.last_error = MessageStatus.FAILED, 1, REFUSAL
            session.commit()
    finally:
        engine.dispose()
    return patient, appointment


def stored(base_url: str, patient: dict) -> dict:
    return httpx.get(f"{base_url}/api/v1/patients/{patient['id']}", headers=api_token(base_url, "desk")).json()


def test_the_patient_page_shows_the_messages_and_the_desk_turns_texts_off_and_retries(site, page):
    base_url, _, _ = site
    patient, _ = patient_with_a_refused_e_mail(site)
    sign_in(page, base_url, "desk")
    visit(page, f"{base_url}/app/patients?id={patient['id']}")
    listed = page.locator("#messages-list")
    expect(listed.locator("th").first).to_have_text("Written (America/New York time)")
    mail = listed.locator("tr[data-status=failed]")
    expect(mail).to_contain_text("Booking confirmed")
    expect(mail).to_contain_text("m***@example.org")
    expect(mail).to_contain_text(f"given up after 1 attempt: {REFUSAL}")
    text = listed.locator("tr", has_text="•••• 0142")
    expect(text).to_contain_text("waiting, goes")
    assert patient["email"] not in listed.inner_text(), "the address is masked"
    mail.get_by_text("Read").click()
    expect(mail.locator("details p")).to_contain_text("Hello Mira,")
    assert_accessible(page)

    choices = page.locator("#channel-choices")
    choices.get_by_label("Text messages").uncheck()
    expect(page.locator("#notice")).to_contain_text(f"Mira {patient['family_name']} gets no more text messages")
    assert stored(base_url, patient)["sms_messages"] is False
    assert stored(base_url, patient)["email_messages"] is True

    mail.get_by_role("button", name="Retry").click()
    expect(page.locator("#notice")).to_contain_text("goes again")
    expect(listed.locator("tr", has_text="m***@example.org")).to_contain_text("waiting, goes")
    visit(page, f"{base_url}/app/patients?id={patient['id']}")
    expect(page.locator("#channel-choices").get_by_label("Text messages")).not_to_be_checked()


def test_today_lists_messages_that_did_not_reach_patients_until_dismissed(site, page):
    base_url, world, _ = site
    patient, _ = patient_with_a_refused_e_mail(site)
    name = f"Mira {patient['family_name']}"
    sign_in(page, base_url, "desk")
    visit(page, f"{base_url}/app/today?location_id={world.midtown.id}")
    problems = page.locator("#message-problems-list")
    expect(problems.locator("th").first).to_have_text("Written (America/New York time)")
    row = problems.locator("tr", has_text=name)
    expect(row).to_contain_text(REFUSAL)
    expect(row.get_by_role("link", name=name)).to_have_attribute("href", f"/app/patients?id={patient['id']}")
    assert_accessible(page)
    row.get_by_role("button", name="Dismiss").click()
    expect(page.locator("#notice")).to_contain_text(f"Dismissed the booking confirmed message to {name}")
    expect(problems.locator("tr", has_text=name)).to_have_count(0)


def test_the_schedule_panel_shows_what_the_patient_was_told_about_the_session(site, page):
    base_url, world, _ = site
    patient, appointment = patient_with_a_refused_e_mail(site)
    day = datetime.fromisoformat(appointment["start"]).astimezone(NY).date()
    open_schedule(page, base_url, world, day)
    clinician = {world.dana.id: "Dana", world.max.id: "Max"}[appointment["clinician_id"]]  # MSUS-certified
    block, _, _ = session_box(page, appointment["id"], clinician)
    block.click()
    told = page.locator("#panel").get_by_label("Messages to the patient")
    expect(told).to_contain_text("Messages (America/New York time)")
    expect(told).to_contain_text("Booking confirmed · E-mail m***@example.org · given up after 1 attempt")
    expect(told).to_contain_text("Booking confirmed · Text •••• 0142 · waiting, goes")
    assert_accessible(page)


def test_the_unsubscribe_page_changes_nothing_until_its_button_is_pressed_and_can_be_undone(site, page):
    base_url, _, _ = site
    patient, _ = patient_with_a_refused_e_mail(site)
    link = desk_post(base_url, f"patients/{patient['id']}/link")["url"]
    token = link.rsplit("/", 1)[1]
    visit(page, f"{base_url}/me/{token}/stop?channel=email")
    expect(page.get_by_role("heading", level=1)).to_have_text("E-mails from World Midtown")
    assert stored(base_url, patient)["email_messages"] is True, "opening the link changes nothing"
    assert_accessible(page)
    page.get_by_role("button", name="Stop e-mails").click()
    expect(page.locator("#stopped")).to_have_text("You will get no more e-mails from World Midtown.")
    assert stored(base_url, patient)["email_messages"] is False
    assert_accessible(page)
    page.get_by_role("button", name="Undo").click()
    expect(page.get_by_role("button", name="Stop e-mails")).to_be_visible()
    assert stored(base_url, patient)["email_messages"] is True
    expect(page.get_by_role("link", name="See your upcoming sessions")).to_have_attribute("href", f"/me/{token}")
