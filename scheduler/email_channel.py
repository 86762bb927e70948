"""E-mail over SMTP (the standard library's client): plain text, HTML and an .ics for confirmations.

The Message-ID is the outbox row's (``<patient-message-N@domain>``), so a
message sent again after a worker died mid-send is the same message to the
mail systems that drop duplicates. A 4xx reply or a lost connection is a
temporary failure, a 5xx reply a permanent one.
"""

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr

from data.tables import PatientMessage
from scheduler.delivery import PermanentFailure, TemporaryFailure

TIMEOUT_SECONDS = 30


class SmtpSender:
    def __init__(self, *, host: str, port: int, sender: str, sender_name: str = "", starttls: bool = True,
                 username: str | None = None, password: str | None = None, domain: str = "clinic.invalid"):
        self.host, self.port, self.starttls = host, port, starttls
        self.username, self.password = username, password
        self.sender, self.sender_name, self.domain = sender, sender_name, domain

    def compose(self, message: PatientMessage) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = formataddr((self.sender_name, self.sender)) if self.sender_name else self.sender
        mail["To"] = message.recipient
        mail["Subject"] = message.subject
        mail["Message-ID"] = f"<patient-message-{message.id}@{self.domain}>"
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(message.body_text)
        if message.body_html:
            mail.add_alternative(message.body_html, subtype="html")
        if message.calendar:
            mail.add_attachment(message.calendar.encode(), maintype="text", subtype="calendar",
                                filename="appointment.ics", params={"method": "PUBLISH"})
        return mail

    def send(self, message: PatientMessage) -> str:
        mail = self.compose(message)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=TIMEOUT_SECONDS) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as refused:
            code, reason = next(iter(refused.recipients.values()))
            raise (TemporaryFailure if 400 <= code < 500 else PermanentFailure)(
                f"the mail server refused the address: {code} {reason.decode(errors='replace')}") from None
        except smtplib.SMTPResponseException as reply:
            raise (TemporaryFailure if 400 <= reply.smtp_code < 500 else PermanentFailure)(
                f"the mail server answered {reply.smtp_code} {reply.smtp_error.decode(errors='replace')}") from None
        except (OSError, smtplib.SMTPException) as trouble:
            raise TemporaryFailure(f"the mail server could not be reached: {type(trouble).__name__}") from None
        return mail["Message-ID"]

