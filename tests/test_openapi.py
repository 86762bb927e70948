"""The OpenAPI document is one a client can be generated from (issue 17): the document itself, read statically.

A generated client (tests/test_generated_client.py drives one) names a class after each schema's title.
"""

import re

import pytest

from api.main import create_app
from data.config import Settings


@pytest.fixture(scope="module")
def app():
    """No database is touched: the document is built from the routes alone."""
    return create_app(Settings(database_url="sqlite://", background_jobs=False))


@pytest.fixture(scope="module")
def document(app) -> dict:
    return app.openapi()


def test_every_schema_is_filed_under_its_own_title(document):
    """Two schemas titled ``Named`` made a generator drop RosterEntry, ClinicianRoster and BoardRow; names such as
    ``Page_AppointmentPublic_`` or ``api__schemas__booking__Named`` are pydantic's mangling, not names. (FastAPI's
    ``Body_<operation id>`` for a form stays: it names its operation.)"""
    schemas = document["components"]["schemas"]
    assert {name for name, schema in schemas.items() if schema.get("title") != name} == set()
    assert [name for name in schemas if not re.fullmatch(r"[A-Z][A-Za-z0-9]*|Body_[a-z0-9_]*[a-z0-9]", name)
            or "__" in name] == []
    assert {"RosterEntry", "ClinicianRoster", "BoardRow", "Named", "AppointmentPage"} <= set(schemas)