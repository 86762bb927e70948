"""Every endpoint x every role, plus no token and an expired token: the permissions are what docs/api.md says.

The expectations below are written by hand from the table in docs/api.md, not read
from the code, so a route that loses or gains a role check shows up here.
An allowed call may still fail for other reasons (404, 409, 422 on the empty
body); what matters is 403 exactly when the role may not, and 401 without a
valid token.
"""

import re

import pytest

from data.enums import Role
from tests.conftest import bearer

ADMIN, DESK, CLINICIAN = Role.ADMIN, Role.FRONT_DESK, Role.CLINICIAN
EVERYONE, STAFF_DESK, ADMINS = {ADMIN, DESK, CLINICIAN}, {ADMIN, DESK}, {ADMIN}
CATALOG = r"/api/v1/(locations|clinicians|device-types|devices|rooms|services|plan-templates)(/\{ident\}(/restore)?)?$"
OWN = "own"  # admins and the front desk; a clinician only for their own clinician id

# (methods, path pattern, who may) -- first match wins.
RULES = [
    ({"GET"}, CATALOG, EVERYONE),
    ({"POST", "PATCH", "DELETE"}, CATALOG, ADMINS),
    ({"GET"}, r"/api/v1/auth/me$", EVERYONE),
    ({"POST"}, r"/api/v1/auth/renew$", EVERYONE),
    ({"GET", "POST", "PATCH", "DELETE"}, r"/api/v1/users", ADMINS),
    ({"GET", "POST", "PATCH"}, r"/api/v1/backend-clients", ADMINS),
    ({"POST"}, r"/api/v1/patients/\{ident\}/erase$", ADMINS),
    ({"GET", "POST", "PATCH", "DELETE"}, r"/api/v1/patients", STAFF_DESK),
    ({"GET", "POST"}, r"/api/v1/messages", STAFF_DESK),
    ({"GET"}, r"/api/v1/availability$", EVERYONE),
    ({"GET", "POST", "DELETE"}, r"/api/v1/(holds|appointments|plans|waitlist)", STAFF_DESK),
    ({"PATCH"}, r"/api/v1/plans", STAFF_DESK),
    ({"POST"}, r"/api/v1/optimization-runs$", ADMINS),
    ({"GET"}, r"/api/v1/optimization-runs", STAFF_DESK),
    ({"GET"}, r"/api/v1/audit$", ADMINS),
    ({"GET"}, r"/api/v1/(rosters|day-board)/", STAFF_DESK),
    ({"GET"}, r"/api/v1/schedule$", STAFF_DESK),
    ({"GET", "POST", "DELETE"}, r"/api/v1/clinicians/\{clinician_id\}/(roster|calendar-feed)$", OWN),
    ({"GET", "POST"}, r"/api/v1/visit-requests", STAFF_DESK),
    ({"GET", "POST", "PUT", "PATCH"}, r"/fhir/Appointment", STAFF_DESK),
    ({"GET", "POST", "PUT"}, r"/fhir/Patient", STAFF_DESK),
    ({"GET"}, r"/fhir/(Practitioner|PractitionerRole|Location|Device|HealthcareService|Schedule|Slot)", EVERYONE),
    ({"POST"}, r"/fhir/(Practitioner|PractitionerRole|Location|Device|HealthcareService|Schedule|Slot)/_search$",
     EVERYONE),
]
PUBLIC = re.compile(r"^/api/v1/(auth/token|public/)|^/fhir/(metadata|\$bulk-publish|bulk/)")


def allowed(method: str, path: str):
    for methods, pattern, who in RULES:
        if method in methods and re.search(pattern, path):
            return who
    raise AssertionError(f"no rule says who may {method} {path}: add one (and to the table in docs/api.md)")


def concrete(path: str, other_clinician: int) -> str:
    """The path with plausible values, and the query a roster needs (so the answer is about permission)."""
    values = {"day": "2027-03-03", "clinician_id": str(other_clinician)}
    filled = re.sub(r"\{(\w+)\}", lambda match: values.get(match.group(1), "1"), path)
    if filled.endswith("/roster"):
        filled += "?start=2027-03-03T00:00:00-05:00&end=2027-03-04T00:00:00-05:00"
    return filled


def protected_routes(app) -> list[tuple[str, str]]:
    """Every operation of /api/v1 and /fhir but the public ones."""
    operations = [(method.upper(), path) for path, methods in app.openapi()["paths"].items()
                  if path.startswith(("/api/v1/", "/fhir/")) for method in methods]
    return sorted((method, path) for method, path in operations if not PUBLIC.search(path))


@pytest.mark.parametrize("role", [ADMIN, DESK, CLINICIAN], ids=lambda role: role.value)
def test_each_role_reaches_exactly_what_it_may(client, app, staff, role):
    headers = bearer(app, staff[role])
    other_clinician = staff[CLINICIAN].clinician_id + 1000
    wrong = []
    for method, path in protected_routes(app):
        who = allowed(method, path)
        may = role != CLINICIAN if who == OWN else role in who
        response = client.request(method, concrete(path, other_clinician), json={}, headers=headers)
        if (response.status_code == 403) == may or response.status_code == 401 or response.status_code >= 500:
            wrong.append((method, path, response.status_code, response.text[:120]))
    assert wrong == []


def test_a_clinician_reaches_their_own_roster_and_feed(client, app, staff):
    headers = bearer(app, staff[CLINICIAN])
    own = staff[CLINICIAN].clinician_id
    window = {"start": "2027-03-03T00:00:00-05:00", "end": "2027-03-04T00:00:00-05:00"}
    assert client.get(f"/api/v1/clinicians/{own}/roster", params=window, headers=headers).status_code == 200
    assert client.post(f"/api/v1/clinicians/{own}/calendar-feed", headers=headers).status_code == 201
    assert client.delete(f"/api/v1/clinicians/{own}/calendar-feed", headers=headers).status_code == 204


@pytest.mark.parametrize("token", ["none", "expired"])
def test_no_token_or_an_expired_one_is_401_everywhere(client, app, staff, token):
    headers = {} if token == "none" else bearer(app, staff[ADMIN], minutes=-1)
    wrong = []
    for method, path in protected_routes(app):
        response = client.request(method, concrete(path, 1), json={}, headers=headers)
        if response.status_code != 401:
            wrong.append((method, path, response.status_code))
    assert wrong == []
