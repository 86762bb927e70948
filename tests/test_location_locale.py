"""A location's locale: what the web app formats its dates and times with (defect 8: British dates in New York)."""

from tests.factories import API, create, location_body


def test_a_location_defaults_to_us_english_and_takes_a_language_tag(client, as_admin):
    location = create(client, as_admin, "locations", location_body("Locale Midtown"))
    assert location["locale"] == "en-US"
    changed = client.patch(f"{API}/locations/{location['id']}", headers=as_admin, json={"locale": "en-GB"})
    assert changed.status_code == 200 and changed.json()["locale"] == "en-GB"
    assert client.get(f"{API}/locations/{location['id']}", headers=as_admin).json()["locale"] == "en-GB"


def test_a_locale_that_is_not_a_language_tag_is_refused_and_nothing_changes(client, as_admin):
    location = create(client, as_admin, "locations", location_body("Locale Uptown"))
    for bad in ("english", "EN_us", "en-US; DROP TABLE", ""):
        refused = client.patch(f"{API}/locations/{location['id']}", headers=as_admin, json={"locale": bad})
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.json()["detail"][0]["loc"][-1] == "locale"
    assert client.get(f"{API}/locations/{location['id']}", headers=as_admin).json()["locale"] == "en-US"
