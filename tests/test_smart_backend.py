"""SMART Backend Services: an EHR registered with its public keys signs a JWT and gets a short-lived token whose
system/ scopes the FHIR API enforces.

Assertions are signed here with PyJWT and the ``cryptography`` keys generated below, and, against a served
instance, by authlib (joserfc) as an EHR's OAuth library would: the server's verifier is never the signer.
"""

import json
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import jwt
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from joserfc.jwk import ECKey
from sqlmodel import Session
from typer.testing import CliRunner

from api.cli import app as cli
from data.config import get_settings
from data.db import make_engine
from data.migrate import upgrade
from scheduler import backend_clients, smart_scopes
from scheduler import published_keys as kept_sets
from tests.booking_helpers import set_clock
from tests.clinic_world import NOW, at, build_world
from tests.factories import API
from tests.servers import served_clinic

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP384R1())
STRANGER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SCOPE = "system/Slot.rs system/Schedule.rs system/Appointment.read"
SLOTS = "/fhir/Slot?schedule=Schedule/practitioner-1"


def public_jwk(private_key, kid: str) -> dict:
    algorithm = jwt.algorithms.RSAAlgorithm if isinstance(private_key, rsa.RSAPrivateKey) else jwt.algorithms.ECAlgorithm
    return {**algorithm.to_jwk(private_key.public_key(), as_dict=True), "kid": kid}


JWKS = {"keys": [public_jwk(RSA_KEY, "rsa-1"), public_jwk(EC_KEY, "ec-1")]}


def signed(client_id: str, audience: str, *, key=RSA_KEY, kid: str = "rsa-1", alg: str = "RS384",
           lifetime: int = 240, **claims) -> str:
    now = int(time.time())
    body = {"iss": client_id, "sub": client_id, "aud": audience, "exp": now + lifetime, "jti": uuid.uuid4().hex}
    return jwt.encode(body | claims, key, algorithm=alg, headers={"kid": kid})


def token_endpoint(app) -> str:
    return f"{app.state.settings.public_base_url}/auth/token"


def ask(client, assertion: str, scope: str | None = "system/Slot.rs", **form):
    data = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion, "scope": scope} | form
    return client.post("/auth/token", data={name: value for name, value in data.items() if value is not None})


def register(client, as_admin, **fields) -> dict:
    response = client.post("/api/v1/backend-clients", headers=as_admin,
                           json={"client_name": "Hospital EHR", "scope": SCOPE, "jwks": JWKS} | fields)
    assert response.status_code == 201, response.text
    return response.json()


def authorized(token_answer) -> dict[str, str]:
    assert token_answer.status_code == 200, token_answer.text
    return {"Authorization": f"Bearer {token_answer.json()['access_token']}"}


def refused(answer, error: str, words: str) -> None:
    assert answer.status_code == (401 if error == "invalid_client" else 400), answer.text
    assert answer.json()["error"] == error and words in answer.json()["error_description"], answer.json()
    assert answer.headers["cache-control"] == "no-store"


@pytest.fixture
def lenient(app):
    """Room for many failed sign-ins in one test (the limit has its own test)."""
    app.state.settings = app.state.settings.model_copy(update={"sign_in_failures_per_user": 100})


def test_an_ehr_discovers_the_token_endpoint_signs_in_with_rsa_or_ec_and_searches_slots(client, app, as_admin,
                                                                                       as_desk):
    discovery = client.get("/fhir/.well-known/smart-configuration")
    assert discovery.status_code == 200 and discovery.headers["content-type"] == "application/json"
    configuration = discovery.json()
    assert client.get("/.well-known/smart-configuration").json() == configuration
    assert configuration["token_endpoint"] == token_endpoint(app)
    assert configuration["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert {"RS384", "ES384"} <= set(configuration["token_endpoint_auth_signing_alg_values_supported"])
    assert configuration["grant_types_supported"] == ["client_credentials"]
    assert {"client-confidential-asymmetric", "permission-v2", "permission-v1"} <= set(configuration["capabilities"])
    assert {"system/Slot.rs", "system/Schedule.rs", "system/Appointment.crus"} <= set(
        configuration["scopes_supported"])
    statement = client.get("/fhir/metadata").json()
    CapabilityStatement.model_validate(statement)
    security = statement["rest"][0]["security"]
    [oauth_uris] = [e for e in security["extension"]
                    if e["url"] == "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"]
    assert oauth_uris["extension"] == [{"url": "token", "valueUri": configuration["token_endpoint"]}]
    assert "SMART-on-FHIR" in {coding["code"] for service in security["service"] for coding in service["coding"]}

    ehr = register(client, as_admin)
    assert ehr["scope"] == SCOPE and ehr["token_endpoint_auth_method"] == "private_key_jwt"
    answer = ask(client, signed(ehr["client_id"], configuration["token_endpoint"]),
                 scope="system/Slot.rs system/Patient.rs")
    granted = answer.json()
    assert granted["token_type"] == "bearer" and granted["expires_in"] == 300
    assert granted["scope"] == "system/Slot.rs"  # Patient was not registered: left out, not an error
    assert answer.headers["cache-control"] == "no-store"
    slots = client.get(SLOTS, headers=authorized(answer))
    assert slots.status_code == 200 and slots.json()["resourceType"] == "Bundle"
    schedules = client.get("/fhir/Schedule", headers=authorized(answer))
    assert schedules.status_code == 403 and schedules.json()["resourceType"] == "OperationOutcome"
    assert "system/Schedule.s" in schedules.json()["issue"][0]["diagnostics"]

    by_ec = ask(client, signed(ehr["client_id"], token_endpoint(app), key=EC_KEY, kid="ec-1", alg="ES384"),
                scope="system/*.read")
    assert by_ec.json()["scope"] == "system/Slot.rs system/Schedule.rs system/Appointment.rs"
    assert client.get("/fhir/Schedule", headers=authorized(by_ec)).status_code == 200
    assert client.get("/fhir/Appointment?status=booked", headers=authorized(by_ec)).status_code == 200
    create = client.post("/fhir/Appointment", headers=authorized(by_ec), json={"resourceType": "Appointment"})
    assert create.status_code == 403 and "system/Appointment.c" in create.json()["issue"][0]["diagnostics"]
    assert client.get("/fhir/Practitioner", headers=authorized(by_ec)).status_code == 403
    for staff_only in ("/api/v1/auth/me", "/api/v1/services", "/api/v1/backend-clients"):
        assert client.get(staff_only, headers=authorized(by_ec)).status_code == 403, staff_only
    assert client.get(SLOTS, headers=as_desk).status_code == 200  # staff tokens work as before


def test_assertions_that_do_not_prove_the_client_are_refused(client, app, as_admin, lenient):
    ehr = register(client, as_admin)
    client_id, audience = ehr["client_id"], token_endpoint(app)
    refused(ask(client, signed(client_id, audience, key=STRANGER_KEY)), "invalid_client", "signature")
    refused(ask(client, signed(client_id, audience, lifetime=-120)), "invalid_client", "expired")
    refused(ask(client, signed(client_id, audience, lifetime=600)), "invalid_client", "five minutes")
    refused(ask(client, signed(client_id, "https://elsewhere.example/token")), "invalid_client", "aud")
    refused(ask(client, signed(client_id, audience, sub="someone-else")), "invalid_client", "sub")
    refused(ask(client, signed(str(uuid.uuid4()), audience)), "invalid_client", "no active client")
    refused(ask(client, signed(client_id, audience, kid="ec-1")), "invalid_client", "kid")
    refused(ask(client, jwt.encode({"iss": client_id, "sub": client_id, "aud": audience, "jti": "x",
                                    "exp": int(time.time()) + 60}, "a-shared-secret-of-32-characters!!",
                                   algorithm="HS256", headers={"kid": "rsa-1"})), "invalid_client", "RS384")
    refused(ask(client, "not a jwt"), "invalid_client", "not a JWT")
    refused(ask(client, signed(client_id, audience), client_id="another"), "invalid_client", "issuer")
    once = signed(client_id, audience)
    assert ask(client, once).status_code == 200
    refused(ask(client, once), "invalid_client", "already used")
    refused(ask(client, signed(client_id, audience), scope="system/Practitioner.rs"), "invalid_scope", "allowed")
    refused(ask(client, signed(client_id, audience), scope="patient/Slot.rs"), "invalid_scope", "system/")
    refused(ask(client, signed(client_id, audience), scope=None), "invalid_request", "scope")
    refused(ask(client, signed(client_id, audience), grant_type="password"), "unsupported_grant_type", "client_cr")
    refused(ask(client, signed(client_id, audience), client_assertion_type="secret"), "invalid_client", "assertion")


def test_a_disabled_or_rescoped_client_loses_its_tokens_at_once(client, app, as_admin):
    ehr = register(client, as_admin)
    token = authorized(ask(client, signed(ehr["client_id"], token_endpoint(app))))
    assert client.get(SLOTS, headers=token).status_code == 200
    narrowed = client.patch(f"/api/v1/backend-clients/{ehr['client_id']}", headers=as_admin,
                            json={"scope": "system/Schedule.rs"})
    assert narrowed.status_code == 200 and narrowed.json()["scope"] == "system/Schedule.rs"
    assert client.get(SLOTS, headers=token).status_code == 401
    token = authorized(ask(client, signed(ehr["client_id"], token_endpoint(app)), scope="system/Schedule.rs"))
    disabled = client.patch(f"/api/v1/backend-clients/{ehr['client_id']}", headers=as_admin, json={"disabled": True})
    assert disabled.json()["disabled_at"] is not None
    assert client.get("/fhir/Schedule", headers=token).status_code == 401
    refused(ask(client, signed(ehr["client_id"], token_endpoint(app)), scope="system/Schedule.rs"),
            "invalid_client", "no active client")
    client.patch(f"/api/v1/backend-clients/{ehr['client_id']}", headers=as_admin, json={"disabled": False})
    assert ask(client, signed(ehr["client_id"], token_endpoint(app)), scope="system/Schedule.rs").status_code == 200


def test_failed_client_sign_ins_are_limited_like_staff_sign_ins(client, app, as_admin):
    ehr = register(client, as_admin)
    for _ in range(app.state.settings.sign_in_failures_per_user):
        refused(ask(client, signed(ehr["client_id"], token_endpoint(app), key=STRANGER_KEY)), "invalid_client",
                "signature")
    limited = ask(client, signed(ehr["client_id"], token_endpoint(app)))
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert limited.json()["error"] == "invalid_client"


def test_registration_refuses_keys_and_scopes_that_could_never_work(client, as_admin, as_desk):
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    private = {**public_jwk(RSA_KEY, "rsa-1"), "d": "AQAB"}
    unnamed = {key: value for key, value in public_jwk(EC_KEY, "x").items() if key != "kid"}
    for fields, where in [({"jwks": {"keys": [private]}}, "private"), ({"jwks": {"keys": [unnamed]}}, "kid"),
                          ({"jwks": {"keys": [public_jwk(small, "small")]}}, "2048"),
                          ({"jwks": {"keys": [public_jwk(RSA_KEY, "a"), public_jwk(EC_KEY, "a")]}}, "unique"),
                          ({"jwks": {"keys": []}}, "JWK Set"),
                          ({"jwks_uri": "https://ehr.example/jwks.json"}, "not both"),
                          ({"jwks": None, "jwks_uri": "http://ehr.example/jwks.json"}, "https"),
                          ({"scope": "system/Slot.rs user/Appointment.rs"}, "system/"),
                          ({"scope": "system/Slot.sr"}, "order"), ({"scope": "system/Nothing.rs"}, "resource type")]:
        answer = client.post("/api/v1/backend-clients", headers=as_admin,
                             json={"client_name": "EHR", "scope": SCOPE, "jwks": JWKS} | fields)
        assert answer.status_code == 422 and where in answer.text, (fields, answer.text)
    assert client.get("/api/v1/backend-clients", headers=as_admin).json() == []
    assert client.post("/api/v1/backend-clients", headers=as_desk,
                       json={"client_name": "EHR", "scope": SCOPE, "jwks": JWKS}).status_code == 403


def test_an_ehr_holds_then_books_a_slot_and_the_audit_trail_names_it(client, app, session, as_admin):
    set_clock(app, NOW)
    world = build_world(session)
    ehr = register(client, as_admin, scope="system/Slot.rs system/Appointment.cu")
    token = authorized(ask(client, signed(ehr["client_id"], token_endpoint(app)),
                           scope="system/Slot.rs system/Appointment.cu"))
    free = client.get("/fhir/Slot", headers=token, params=[
        ("schedule", f"Schedule/service-{world.msus.id}"), ("status", "free"),
        ("start", f"ge{at(3, 0).isoformat()}"), ("start", f"lt{at(4, 0).isoformat()}")]).json()
    slot = free["entry"][0]["resource"]
    body = {"resourceType": "Appointment", "status": "pending", "slot": [{"reference": f"Slot/{slot['id']}"}],
            "participant": [{"actor": {"reference": f"Patient/{world.patients[0].id}"}, "status": "accepted"}]}
    keyed = client.post("/fhir/Appointment", headers={**token, "Idempotency-Key": "ehr-1"}, json=body)
    assert keyed.status_code == 422 and "If-None-Exist" in keyed.json()["issue"][0]["diagnostics"]
    hold = client.post("/fhir/Appointment", headers=token, json=body)
    assert hold.status_code == 201, hold.text
    booked = client.put(f"/fhir/Appointment/{hold.json()['id']}", headers=token,
                        json={**hold.json(), "status": "booked"})
    assert booked.status_code == 200 and booked.json()["status"] == "booked"
    assert client.get(f"/fhir/Appointment/{hold.json()['id']}", headers=token).status_code == 403  # no .r
    log = client.get(f"{API}/audit", headers=as_admin, params={"appointment_id": hold.json()["id"]}).json()["items"]
    assert sorted(entry["action"] for entry in log) == ["book", "hold"]
    assert {entry["actor"] for entry in log} == {f"client {ehr['client_id']}"}


NEXT_KEY = ec.generate_private_key(ec.SECP384R1())


class _PublishedKeys(BaseHTTPRequestHandler):
    """Serves ``published`` (its keys and Cache-Control, changed by the tests) and counts the requests."""

    published: ClassVar[dict] = {"keys": [public_jwk(EC_KEY, "ec-published")], "cache_control": None}
    requests = 0

    def do_GET(self):
        type(self).requests += 1
        if self.published.get("redirect"):
            self.send_response(302)
            self.send_header("Location", self.published["redirect"])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps({"keys": self.published["keys"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self.published["cache_control"]:
            self.send_header("Cache-Control", self.published["cache_control"])
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def published_keys():
    """A client's JWK Set published on this machine, as it would be at its https jwks_uri."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PublishedKeys)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()
    server.server_close()


@pytest.fixture
def publisher(published_keys):
    """The publishing server as the test leaves it; every kept set is forgotten before and after."""
    saved = dict(_PublishedKeys.published)
    kept_sets.forget()
    yield _PublishedKeys
    _PublishedKeys.published = saved
    kept_sets.forget()


def test_keys_published_at_a_jwks_uri_are_read_at_sign_in(client, app, as_admin, published_keys, publisher,
                                                          lenient):
    ehr = register(client, as_admin, jwks=None, jwks_uri=published_keys)
    assert ehr["jwks"] is None and ehr["jwks_uri"] == published_keys
    by_uri = ask(client, signed(ehr["client_id"], token_endpoint(app), key=EC_KEY, kid="ec-published", alg="ES384"))
    assert by_uri.status_code == 200, by_uri.text
    jku = signed(ehr["client_id"], token_endpoint(app), key=EC_KEY, kid="ec-published", alg="ES384")
    forged = jwt.encode(jwt.decode(jku, options={"verify_signature": False}) | {"jti": "j2"}, EC_KEY, algorithm="ES384",
                        headers={"kid": "ec-published", "jku": "https://attacker.example/jwks.json"})
    refused(ask(client, forged), "invalid_client", "jku")


def test_a_published_set_is_kept_as_its_cache_control_says_and_read_again_for_a_new_key(client, app, as_admin,
                                                                                       published_keys, publisher,
                                                                                       lenient):
    """Signing in does not wait on the client's server each time; a rotated key signs in at once; a stream of
    unknown key ids costs one more request, not one each; ``no-store`` is read at every sign-in."""
    ehr = register(client, as_admin, jwks=None, jwks_uri=published_keys)

    def sign_in(key=EC_KEY, kid="ec-published"):
        return ask(client, signed(ehr["client_id"], token_endpoint(app), key=key, kid=kid, alg="ES384"))

    before = publisher.requests
    assert [sign_in().status_code for _ in range(3)] == [200, 200, 200]
    assert publisher.requests == before + 1, "the set is kept (no Cache-Control: five minutes)"
    publisher.published = {"keys": [public_jwk(EC_KEY, "ec-published"), public_jwk(NEXT_KEY, "ec-next")],
                           "cache_control": "max-age=600"}
    kept_sets.REREAD_SECONDS, saved = 0, kept_sets.REREAD_SECONDS
    try:
        assert sign_in(NEXT_KEY, "ec-next").status_code == 200, "a key the kept set lacks: read again at once"
    finally:
        kept_sets.REREAD_SECONDS = saved
    assert publisher.requests == before + 2
    for number in range(5):
        refused(sign_in(NEXT_KEY, f"unknown-{number}"), "invalid_client", "no single EC key")
    assert publisher.requests == before + 2, "unknown kids right after a read do not make the client's server work"
    assert sign_in(NEXT_KEY, "ec-next").status_code == 200
    publisher.published = dict(publisher.published, cache_control="no-store")
    kept_sets.forget()
    assert [sign_in().status_code for _ in range(2)] == [200, 200]
    assert publisher.requests == before + 4, "no-store: read at every sign-in"


def test_a_redirect_from_the_published_url_is_not_followed(client, app, as_admin, published_keys, publisher, lenient):
    """The URL checked at registration is the one read: a redirect (to an address inside the clinic's network, say)
    is refused, and the sign-in says the keys could not be read."""
    ehr = register(client, as_admin, jwks=None, jwks_uri=published_keys)
    publisher.published = dict(publisher.published, redirect=published_keys.replace("jwks.json", "elsewhere.json"))
    before = publisher.requests
    refused(ask(client, signed(ehr["client_id"], token_endpoint(app), key=EC_KEY, kid="ec-published", alg="ES384")),
            "invalid_client", "could not be read")
    assert publisher.requests == before + 1, "the redirect's target was not asked"


def test_scopes_are_granted_as_far_as_registered():
    def grant(requested: str, registered: str) -> str:
        return smart_scopes.spelled(smart_scopes.granted(smart_scopes.parse_scopes(requested),
                                                         smart_scopes.parse_scopes(registered)))

    assert grant("system/*.rs", "system/Slot.rs system/Appointment.cruds") == "system/Slot.rs system/Appointment.rs"
    assert grant("system/Appointment.read", "system/*.rs") == "system/Appointment.read"  # v1 stays v1
    assert grant("system/Appointment.write", "system/Appointment.cu") == "system/Appointment.cu"
    assert grant("system/Slot.rs", "system/Slot.r system/Slot.s") == "system/Slot.rs"
    assert grant("system/Slot.c", "system/Slot.rs") == ""
    scopes = smart_scopes.parse_scopes("system/Appointment.write system/*.s")
    assert smart_scopes.allowed(scopes, "Appointment", "u") and smart_scopes.allowed(scopes, "Slot", "s")
    assert not smart_scopes.allowed(scopes, "Appointment", "r")


def test_clients_are_registered_listed_and_disabled_from_the_command_line(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    upgrade(make_engine(url))
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    keys = tmp_path / "jwks.json"
    keys.write_text(json.dumps(JWKS))
    runner = CliRunner()
    try:
        made = runner.invoke(cli, ["clients", "register", "Hospital EHR", "--scope", SCOPE, "--jwks-file", str(keys)])
        assert made.exit_code == 0, made.output
        client_id = made.output.split("client_id: ")[1].split()[0]
        assert "/auth/token" in made.output
        assert client_id in runner.invoke(cli, ["clients", "list"]).output
        assert runner.invoke(cli, ["clients", "disable", client_id]).exit_code == 0
        assert "disabled" in runner.invoke(cli, ["clients", "list"]).output
        bad = runner.invoke(cli, ["clients", "register", "EHR", "--scope", "launch", "--jwks-file", str(keys)])
        assert bad.exit_code == 2 and "system/" in bad.output
    finally:
        get_settings.cache_clear()


@pytest.fixture(scope="module")
def served_ehr(tmp_path_factory):
    """A served clinic (`clinic serve`) with one client registered for Slot searches, its EC key as a PEM."""
    def fill(session: Session) -> str:
        return backend_clients.register(session, client_name="Hospital EHR", jwks=JWKS, jwks_uri=None,
                                        scope="system/Slot.rs", now=datetime.now(UTC)).client_id

    with served_clinic(tmp_path_factory.mktemp("smart"), fill) as (server, client_id):
        yield server, client_id


def test_an_oauth_library_gets_a_token_with_private_key_jwt_and_reads_slots(served_ehr):
    server, client_id = served_ehr
    configuration = httpx.get(f"{server.base_url}/fhir/.well-known/smart-configuration").json()
    endpoint = configuration["token_endpoint"]
    pem = EC_KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())
    # authlib signs with a one-hour exp unless told otherwise; SMART allows five minutes at most.
    auth = PrivateKeyJWT(endpoint, alg="ES384", headers={"kid": "ec-1"},
                         claims={"exp": int(time.time()) + 240})
    with OAuth2Client(client_id, ECKey.import_key(pem), token_endpoint_auth_method=auth, scope="system/Slot.rs") as ehr:
        token = ehr.fetch_token(endpoint, grant_type="client_credentials")
        assert token["scope"] == "system/Slot.rs" and token["expires_in"] == 300
        slots = ehr.get(f"{server.base_url}{SLOTS}")
        assert slots.status_code == 200 and slots.json()["type"] == "searchset"
        assert ehr.get(f"{server.base_url}/fhir/Schedule").status_code == 403
    assert httpx.get(f"{server.base_url}/api/v1/auth/me",
                     headers={"Authorization": f"Bearer {token['access_token']}"}).status_code == 403
