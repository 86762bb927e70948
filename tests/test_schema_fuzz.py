"""Fuzzing every operation of the OpenAPI document with schemathesis against a real server.

A bounded number of generated requests per operation, signed in as an
administrator, on a served demo clinic (SQLite). No answer may be a 5xx, and
every documented answer must match its schema and content type.
"""

from datetime import date

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance
from sqlmodel import Session

from data.accounts import upsert_user
from data.db import make_engine
from data.demo import load_demo_clinic
from data.enums import Role
from data.migrate import upgrade
from tests.servers import clean_environment, clinic_script, free_port, launch

EXAMPLES_PER_OPERATION = 12
PASSWORD = "fuzzing password 123"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{folder / 'clinic.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as session:
        load_demo_clinic(session, today=date.today())
        upsert_user(session=session, username="fuzz_admin", password=PASSWORD, role=Role.ADMIN)
        session.commit()
    engine.dispose()
    port = free_port()
    server = launch([clinic_script(), "serve", "--host", "127.0.0.1", "--port", str(port)], port=port, cwd=folder,
                    env=clean_environment(CLINIC_DATABASE_URL=url, CLINIC_SECRET_KEY="fuzz-" + "s" * 40,
                                          CLINIC_BACKGROUND_JOBS="false"), log=folder / "server.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin(served) -> dict[str, str]:
    token = httpx.post(f"{served.base_url}/api/v1/auth/token",
                       data={"username": "fuzz_admin", "password": PASSWORD}).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_no_operation_answers_5xx_or_off_schema(served, admin):
    """Each operation in turn; a failure names the operation and the request that broke it."""
    schema = schemathesis.openapi.from_url(f"{served.base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 60, "the whole API is fuzzed"
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case):
            case.call_and_validate(base_url=served.base_url, headers=admin,
                                   checks=[not_a_server_error, response_schema_conformance, content_type_conformance])

        fuzz()
