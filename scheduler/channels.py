"""The senders this process has, from its settings: e-mail when an SMTP host is set, texts when Twilio is."""

import os
import socket

from data.config import Settings
from data.enums import Channel
from scheduler.delivery import Sender
from scheduler.email_channel import SmtpSender
from scheduler.sms_channel import TwilioSender

WORKER = f"{socket.gethostname()}:{os.getpid()}"


def channel_senders(settings: Settings) -> dict[Channel, Sender]:
    senders: dict[Channel, Sender] = {}
    if settings.smtp_host:
        senders[Channel.EMAIL] = SmtpSender(
            host=settings.smtp_host, port=settings.smtp_port, starttls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            sender=settings.mail_from, sender_name=settings.mail_from_name,
            domain=settings.mail_from.rpartition("@")[2] or "clinic.invalid")
    if settings.sends_texts:
        senders[Channel.SMS] = TwilioSender(
            account_sid=settings.twilio_account_sid, auth_token=settings.twilio_auth_token.get_secret_value(),
            sender=settings.sms_from, base_url=settings.twilio_base_url)
    return senders
