def test_health(client):
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready"}


def test_list_locations(client, as_admin):
    r = client.get("/api/v1/locations", headers=as_admin)
    assert r.status_code == 200, r.text
    assert r.json()["total"] == 1
