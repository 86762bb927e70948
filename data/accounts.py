"""Staff accounts: password hashing, sign-in checks and the security stamp that binds tokens to an account."""

import sqlalchemy as sa
from pwdlib import PasswordHash
from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, select

from data.enums import Role
from data.errors import Conflict
from data.tables import User, new_security_stamp

_hasher = PasswordHash.recommended()
# Verified against when the username is unknown, so a wrong name costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def authenticate(*, session: Session, username: str, password: str) -> User | None:
    """The active user with this username and password, or None."""
    # PostgreSQL text holds no NUL, so no user name has one: such a name is no user on either database (PostgreSQL
    # answered 422 "a value cannot be stored" where SQLite answered 401; found by a probe)
    user = None if "\x00" in username else session.exec(select(User).where(User.username == username.lower())).first()
    if user is None:
        _hasher.verify(password, _DUMMY_HASH)
        return None
    if not _hasher.verify(password, user.password_hash) or not user.is_active:
        return None
    return user


def upsert_user(
    *, session: Session, username: str, password: str, role: Role, clinician_id: int | None = None
) -> User:
    """Create the user, or reset its password and role when it exists (used by demo mode and the CLI)."""
    user = session.exec(select(User).where(User.username == username)).first() or User(username=username)
    user.password_hash = hash_password(password)
    user.role = role
    user.clinician_id = clinician_id
    user.is_active = True
    session.add(user)
    session.flush()
    return user


def keep_an_active_admin(session: Session, user: User, values: dict | None) -> None:
    """Refuse to demote, deactivate or delete (``values`` None) the last active admin: nobody could manage users.

    The active admins' rows are locked in id order, so two admins removing each other at once are serialized
    and the second sees that the first is gone.
    """
    if user.id is None or user.role != Role.ADMIN or not user.is_active:
        return
    if values is not None and values["role"] == Role.ADMIN and values["is_active"]:
        return
    admins = session.exec(select(User.id).where(User.role == Role.ADMIN, User.is_active)
                          .order_by(User.id).with_for_update()).all()
    if not set(admins) - {user.id}:
        raise Conflict(f"{user.username} is the last active admin; make another user an admin first")


# What a token vouches for: changing any of these renews the account's stamp, which revokes every earlier token.
VOUCHED_FOR = ("role", "clinician_id", "is_active", "password_hash")


@event.listens_for(OrmSession, "before_flush")
def _renew_security_stamps(session: OrmSession, _context, _instances) -> None:
    """Every path that changes an account (API, CLI, demo loader) goes through a flush, so none can forget this."""
    for user in session.dirty:
        if isinstance(user, User) and any(sa.inspect(user).attrs[name].history.has_changes() for name in VOUCHED_FOR):
            user.security_stamp = new_security_stamp()
