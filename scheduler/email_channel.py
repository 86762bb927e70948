"""E-mail over SMTP (the standard library's client): plain text, HTML and an .ics for confirmations.

One connection per thread is kept open between messages (a batch of reminders is one SMTP session, not
one per message) and opened again when the server has closed it. The Message-ID is the outbox row's (``<patient-message-N@domain>``), so a
message sent again after a worker died mid-send is the same message to the
mail systems that drop duplicates. A 4xx reply or a lost connection is a
temporary failure, a 5xx reply a permanent one.
"""

import smtplib
import ssl
import threading
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
        self._local = threading.local()

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

    def _connect(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(self.host, self.port, timeout=TIMEOUT_SECONDS)
        if self.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if self.username:
            smtp.login(self.username, self.password or "")
        return smtp

    def _hand_over(self, mail: EmailMessage) -> None:
        smtp = getattr(self._local, "smtp", None)
        if smtp is not None:
            try:
                smtp.send_message(mail)
                return
            except smtplib.SMTPServerDisconnected:
                pass  # the server closed the idle connection before this message: open a new one
        self._local.smtp = None
        smtp = self._connect()
        self._local.smtp = smtp
        smtp.send_message(mail)

    def close(self) -> None:
        smtp, self._local.smtp = getattr(self._local, "smtp", None), None
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass

    def send(self, message: PatientMessage) -> str:
        mail = self.compose(message)
        try:
            self._hand_over(mail)
        except smtplib.SMTPRecipientsRefused as refused:
            code, reason = next(iter(refused.recipients.values()))
            raise (TemporaryFailure if 400 <= code < 500 else PermanentFailure)(
                f"the mail server refused the address: {code} {reason.decode(errors='replace')}") from None
        except smtplib.SMTPResponseException as reply:
            raise (TemporaryFailure if 400 <= reply.smtp_code < 500 else PermanentFailure)(
                f"the mail server answered {reply.smtp_code} {reply.smtp_error.decode(errors='replace')}") from None
        except (OSError, smtplib.SMTPException) as trouble:
            self._local.smtp = None
            raise TemporaryFailure(f"the mail server could not be reached: {type(trouble).__name__}") from None
        return mail["Message-ID"]

