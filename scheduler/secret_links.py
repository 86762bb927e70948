"""Links whose URL carries a random secret (calendar feeds, patients' pages, request status pages).

The URL is the only credential, so the secret is random and stored only as
its SHA-256. A table of owner links has one row per owner (clinician,
patient): issuing replaces the previous secret, revoking deletes the row.
"""

import hashlib
import secrets

from sqlmodel import Session, SQLModel, select


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def issue(session: Session, table: type[SQLModel], owner: str, owner_id: int, **values) -> str:
    """A new secret for the owner's link; the previous one stops working."""
    revoke(session, table, owner, owner_id)
    secret = new_secret()
    session.add(table(**{owner: owner_id, "secret_hash": digest(secret), **values}))
    session.flush()
    return secret


def revoke(session: Session, table: type[SQLModel], owner: str, owner_id: int) -> bool:
    """Whether there was a link to revoke."""
    link = session.exec(select(table).where(getattr(table, owner) == owner_id)).first()
    if link is None:
        return False
    session.delete(link)
    session.flush()
    return True


def holder(session: Session, table: type[SQLModel], secret: str):
    """The row behind a secret, or None."""
    return session.exec(select(table).where(table.secret_hash == digest(secret))).first()
