"""Slowing down password guessing: failed sign-ins are counted per username and per client address.

The counts live in the database, so every API process sees the same ones.
Beyond the limit within the window a sign-in is refused before the password
is even checked (429, with when to try again); a success clears the
username's failures. Keys are hashes: the table holds no usernames or
addresses.
"""

import hashlib
from datetime import datetime, timedelta

from sqlmodel import Session, delete, func, select

from data.config import Settings
from data.errors import RateLimited
from data.tables import SignInFailure


def keys(username: str, address_key: str) -> tuple[str, str]:
    return hashlib.sha256(f"user:{username.strip().lower()}".encode()).hexdigest(), address_key


def client_keys(client_id: str, address_key: str) -> tuple[str, str]:
    """A backend client's sign-ins (``scheduler.client_sign_in``) count like an account's, under its client_id."""
    return hashlib.sha256(f"client:{client_id}".encode()).hexdigest(), address_key


def check(session: Session, *, username_key: str, address_key: str, now: datetime, settings: Settings) -> None:
    since = now - timedelta(minutes=settings.sign_in_window_minutes)
    for key, limit, whose in ((username_key, settings.sign_in_failures_per_user, "this account"),
                              (address_key, settings.sign_in_failures_per_address, "this network")):
        failures, oldest = session.exec(select(func.count(), func.min(SignInFailure.at))
                                        .where(SignInFailure.key == key, SignInFailure.at > since)).one()
        if failures >= limit:
            wait = int((oldest + timedelta(minutes=settings.sign_in_window_minutes) - now).total_seconds()) + 1
            raise RateLimited(f"too many failed sign-ins for {whose}; try again in {max(wait, 1) // 60 + 1} minutes",
                              max(wait, 1))


def failed(session: Session, *, username_key: str, address_key: str, now: datetime) -> None:
    session.add_all([SignInFailure(key=username_key, at=now), SignInFailure(key=address_key, at=now)])
    session.commit()


def succeeded(session: Session, *, username_key: str) -> None:
    session.exec(delete(SignInFailure).where(SignInFailure.key == username_key))
    session.commit()
