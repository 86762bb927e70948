"""A token speaks for one account as it was when signed in: never for a later account, role or password."""

import threading

import jwt
import pytest
from sqlalchemy import text
from sqlmodel import Session

from data import catalog, entities
from data.accounts import keep_an_active_admin, upsert_user
from data.db import make_engine, session_scope
from data.enums import Role
from data.errors import Conflict
from data.migrate import upgrade
from data.tables import Clinician, User
from tests.conftest import PASSWORD, bearer
from tests.factories import API, create, location_body, patient_body, user_body
from tests.lock_waits import someone_waits_on_a_lock

# Tables whose ids leave the database (API, FHIR, links, tokens, audit) or are referenced by other rows.
NEVER_REUSED = ("location", "clinician", "device_type", "device", "room", "service", "patient", "app_user",
                "appointment", "audit_entry", "plan_template", "treatment_plan", "waitlist_request",
                "optimization_run", "visit_request")


def signed_in(client, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post(f"{API}/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_a_deleted_users_token_never_acts_as_the_next_user(client, as_admin):
    """The reported attack: a front-desk token, its user deleted, an admin created; the old token is dead."""
    desk = create(client, as_admin, "users", user_body(username="leaving", password=PASSWORD))
    old_token = signed_in(client, "leaving")
    assert client.delete(f"{API}/users/{desk['id']}", headers=as_admin).status_code == 204

    admin = create(client, as_admin, "users", user_body(username="newadmin", role="admin"))
    assert admin["id"] != desk["id"]
    me = client.get(f"{API}/auth/me", headers=old_token)
    assert me.status_code == 401, me.text
    attempt = client.post(f"{API}/locations", json=location_body("Taken over"), headers=old_token)
    assert attempt.status_code == 401
    names = [site["name"] for site in client.get(f"{API}/locations", headers=as_admin).json()["items"]]
    assert "Taken over" not in names


@pytest.mark.parametrize("collection, body", [
    ("users", lambda n: user_body(username=f"temp{n}")),
    ("patients", lambda n: patient_body(given_name=f"Temp{n}")),
    ("locations", lambda n: location_body(f"Site {n}")),
])
def test_ids_are_never_reused_after_a_delete(client, as_admin, collection, body):
    first = create(client, as_admin, collection, body(1))
    assert client.delete(f"{API}/{collection}/{first['id']}", headers=as_admin).status_code == 204
    second = create(client, as_admin, collection, body(2))
    assert second["id"] > first["id"]


def test_every_referenced_table_counts_its_ids(session):
    """SQLite reuses the highest rowid unless the table is AUTOINCREMENT; PostgreSQL's sequences never hand one out
    twice, so there every such table must draw its ids from one."""
    if session.get_bind().dialect.name == "sqlite":
        schemas = dict(session.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")).all())
        assert [table for table in NEVER_REUSED if "AUTOINCREMENT" not in schemas[table]] == []
    else:
        assert [table for table in NEVER_REUSED if session.execute(
            text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table}).scalar_one() is None] == []


def change_role(client, as_admin, user):
    return client.patch(f"{API}/users/{user.id}", json={"role": "admin"}, headers=as_admin)


def change_password(client, as_admin, user):
    return client.patch(f"{API}/users/{user.id}", json={"password": "a brand new password"}, headers=as_admin)


def deactivate_and_reactivate(client, as_admin, user):
    assert client.patch(f"{API}/users/{user.id}", json={"is_active": False}, headers=as_admin).status_code == 200
    return client.patch(f"{API}/users/{user.id}", json={"is_active": True}, headers=as_admin)


@pytest.mark.parametrize("change", [change_role, change_password, deactivate_and_reactivate])
def test_changing_what_a_token_vouches_for_revokes_it(client, app, as_admin, staff, change):
    desk = staff[Role.FRONT_DESK]
    headers = bearer(app, desk)
    assert client.get(f"{API}/auth/me", headers=headers).status_code == 200
    response = change(client, as_admin, desk)
    assert response.status_code == 200, response.text
    answer = client.get(f"{API}/auth/me", headers=headers)
    assert answer.status_code == 401 and "sign in again" in answer.json()["detail"]
    password = "a brand new password" if change is change_password else PASSWORD
    assert client.get(f"{API}/auth/me", headers=signed_in(client, "t_desk", password)).status_code == 200


def test_relinking_a_clinician_user_revokes_its_tokens(client, app, as_admin, staff, session):
    user = staff[Role.CLINICIAN]
    headers = bearer(app, user)
    location_id = session.get(Clinician, user.clinician_id).location_id
    other = create(client, as_admin, "clinicians", {"name": "Other", "location_id": location_id})
    response = client.patch(f"{API}/users/{user.id}", json={"clinician_id": other["id"]}, headers=as_admin)
    assert response.status_code == 200, response.text
    assert client.get(f"{API}/auth/me", headers=headers).status_code == 401


def test_renaming_an_account_keeps_its_tokens(client, app, as_admin, staff):
    desk = staff[Role.FRONT_DESK]
    headers = bearer(app, desk)
    response = client.patch(f"{API}/users/{desk.id}", json={"username": "t_desk_renamed"}, headers=as_admin)
    assert response.status_code == 200, response.text
    assert client.get(f"{API}/auth/me", headers=headers).json()["username"] == "t_desk_renamed"


def test_a_password_reset_from_the_command_line_revokes_tokens(client, app, staff, session):
    desk = staff[Role.FRONT_DESK]
    headers = bearer(app, desk)
    upsert_user(session=session, username="t_desk", password="reset by the operator", role=Role.FRONT_DESK)
    session.commit()
    assert client.get(f"{API}/auth/me", headers=headers).status_code == 401


def test_a_token_without_the_accounts_stamp_is_refused(client, app, staff):
    """Tokens signed before stamps existed (or forged from an id alone) name no stamp: sign in again."""
    token = jwt.encode({"sub": str(staff[Role.ADMIN].id), "exp": 4102444800}, app.state.token_key, algorithm="HS256")
    response = client.get(f"{API}/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


@pytest.mark.parametrize("change", [{"is_active": False}, {"role": "front_desk"}])
def test_the_last_active_admin_cannot_be_deactivated_or_demoted(client, as_admin, staff, change):
    admin = staff[Role.ADMIN]
    response = client.patch(f"{API}/users/{admin.id}", json=change, headers=as_admin)
    assert response.status_code == 409, response.text
    assert "last active admin" in response.json()["detail"]
    assert client.get(f"{API}/users/{admin.id}", headers=as_admin).json()["is_active"] is True

    other = create(client, as_admin, "users", user_body(username="second", role="admin"))
    assert client.patch(f"{API}/users/{admin.id}", json=change, headers=as_admin).status_code == 200
    second = signed_in(client, "second", "long enough pw")
    response = client.patch(f"{API}/users/{other['id']}", json=change, headers=second)
    assert response.status_code == 409 and "last active admin" in response.json()["detail"]


def test_an_inactive_admin_does_not_count(client, as_admin, staff):
    dormant = create(client, as_admin, "users", user_body(username="dormant", role="admin", is_active=False))
    admin = staff[Role.ADMIN]
    response = client.patch(f"{API}/users/{admin.id}", json={"role": "front_desk"}, headers=as_admin)
    assert response.status_code == 409, response.text
    assert client.patch(f"{API}/users/{dormant['id']}", json={"is_active": True}, headers=as_admin).status_code == 200
    assert client.delete(f"{API}/users/{dormant['id']}", headers=as_admin).status_code == 204


@pytest.mark.postgres
def test_two_admins_removing_each_other_at_once_leave_one(postgres_databases):
    """Each checks that another active admin remains; the check holds the admins' rows, so the second one waits."""
    engine = make_engine(postgres_databases())
    upgrade(engine)
    with session_scope(engine) as session:
        first, second = (upsert_user(session=session, username=name, password=PASSWORD, role=Role.ADMIN).id
                         for name in ("first", "second"))
    outcome: list[BaseException | None] = []

    def deactivate(ident: int) -> None:
        with Session(engine) as session:
            user = session.get(User, ident)
            try:
                catalog.save(session, entities.USERS, user, {"username": user.username, "role": Role.ADMIN,
                                                             "clinician_id": None, "is_active": False}, {"is_active"})
                outcome.append(None)
            except Conflict as exc:
                outcome.append(exc)

    with Session(engine) as holding:
        user = holding.get(User, first)
        keep_an_active_admin(holding, user, {"role": Role.ADMIN, "is_active": False})
        waiting = threading.Thread(target=deactivate, args=(second,))
        waiting.start()
        someone_waits_on_a_lock(engine, unless=lambda: not waiting.is_alive())
        user.is_active = False
        holding.commit()
    waiting.join()
    engine.dispose()
    assert len(outcome) == 1 and isinstance(outcome[0], Conflict), outcome
