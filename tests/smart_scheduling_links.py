"""What the SMART Scheduling Links specification requires of a slot publisher, checked from the outside.

Written from the spec (github.com/smart-on-fhir/smart-scheduling-links, specification.md: the Manifest,
Location, Schedule and Slot tables, "Timestamps" and the Slot extensions), not from our mapping code, so a
mistake in the mapping cannot hide in the check. Each function raises AssertionError naming the line at fault.
"""

import re
from datetime import datetime
from urllib.parse import urlsplit

# "YYYY-MM-DDThh:mm:ss.sss+zz:zz": at least to the second, always with an offset (Z allowed for UTC).
TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})")
# "up to 64 alphanumeric characters and may include - and ."
RESOURCE_ID = re.compile(r"[A-Za-z0-9.\-]{1,64}")
OUTPUT_TYPES = {"Location", "Schedule", "Slot"}
REGISTRY = "http://fhir-registry.smarthealthit.org/StructureDefinition"
SLOT_EXTENSIONS = {f"{REGISTRY}/booking-deep-link": "valueUrl", f"{REGISTRY}/booking-phone": "valueString",
                   f"{REGISTRY}/slot-capacity": "valueInteger"}


def _text(value, what: str) -> None:
    assert isinstance(value, str) and value.strip(), f"{what} must be a non-empty string, not {value!r}"


def _url(value, what: str, scheme: str) -> None:
    _text(value, what)
    parts = urlsplit(value)
    assert parts.scheme == scheme and parts.netloc, f"{what} must be a full {scheme} URL, not {value!r}"


def _timestamp(value, what: str) -> None:
    assert isinstance(value, str) and TIMESTAMP.fullmatch(value), f"{what} is not a spec timestamp: {value!r}"


def check_manifest(manifest: dict, *, url: str, scheme: str) -> None:
    """The manifest's transactionTime, request (its own full URL) and outputs of the three types."""
    _timestamp(manifest.get("transactionTime"), "transactionTime")
    assert manifest.get("request") == url and url.endswith("$bulk-publish"), manifest.get("request")
    assert isinstance(manifest.get("output"), list) and manifest["output"], "output must list the files"
    assert isinstance(manifest.get("error"), list), "error must be an array"
    for output in manifest["output"]:
        assert output.get("type") in OUTPUT_TYPES, output
        _url(output.get("url"), f"the {output.get('type')} output's url", scheme)
        if "extension" in output:
            states = output["extension"].get("state")
            assert isinstance(states, list) and all(isinstance(s, str) and s for s in states), output


def check_location(location: dict) -> None:
    assert location.get("resourceType") == "Location", location
    what = f"Location {location.get('id')!r}"
    assert isinstance(location.get("id"), str) and RESOURCE_ID.fullmatch(location["id"]), what
    _text(location.get("name"), f"{what} name")
    telecom = location.get("telecom")
    assert isinstance(telecom, list) and telecom, f"{what} needs at least one telecom contact point"
    for point in telecom:
        assert point.get("system") in ("phone", "url"), f"{what} telecom system {point.get('system')!r}"
        _text(point.get("value"), f"{what} telecom value")
    address = location.get("address")
    assert isinstance(address, dict), f"{what} needs an address object"
    lines = address.get("line")
    assert isinstance(lines, list) and lines, f"{what} address.line must be an array of lines"
    for line in lines:
        _text(line, f"{what} address line")
    for field in ("city", "state", "postalCode"):
        _text(address.get(field), f"{what} address.{field}")
    identifiers = location.get("identifier")
    assert isinstance(identifiers, list) and identifiers, f"{what} needs an identifier array"
    for identifier in identifiers:
        _text(identifier.get("system"), f"{what} identifier system")
        _text(identifier.get("value"), f"{what} identifier value")


def check_schedule(schedule: dict, location_ids: set[str]) -> None:
    assert schedule.get("resourceType") == "Schedule", schedule
    what = f"Schedule {schedule.get('id')!r}"
    assert isinstance(schedule.get("id"), str) and RESOURCE_ID.fullmatch(schedule["id"]), what
    actor = schedule.get("actor")
    assert isinstance(actor, list) and len(actor) == 1, f"{what}: actor must be an array with one object: {actor}"
    reference = actor[0].get("reference", "")
    assert reference.startswith("Location/") and reference.removeprefix("Location/") in location_ids, (
        f"{what}: its actor {reference!r} is not a Location of the Location file")
    concepts = schedule.get("serviceType")
    assert isinstance(concepts, list) and concepts, f"{what} needs a serviceType"
    for concept in concepts:
        assert concept.get("coding"), f"{what}: each serviceType is a coded concept"
        for coding in concept["coding"]:
            _text(coding.get("system"), f"{what} serviceType system")
            _text(coding.get("code"), f"{what} serviceType code")


def check_slot(slot: dict, schedule_ids: set[str], *, scheme: str) -> None:
    assert slot.get("resourceType") == "Slot", slot
    what = f"Slot {slot.get('id')!r}"
    assert isinstance(slot.get("id"), str) and RESOURCE_ID.fullmatch(slot["id"]), what
    reference = (slot.get("schedule") or {}).get("reference", "")
    assert reference.startswith("Schedule/") and reference.removeprefix("Schedule/") in schedule_ids, (
        f"{what}: its schedule {reference!r} is not a Schedule of the Schedule file")
    assert slot.get("status") in ("free", "busy"), f"{what} status {slot.get('status')!r}"
    _timestamp(slot.get("start"), f"{what} start")
    _timestamp(slot.get("end"), f"{what} end")
    assert datetime.fromisoformat(slot["end"]) > datetime.fromisoformat(slot["start"]), f"{what} ends before it starts"
    for extension in slot.get("extension", []):
        value = SLOT_EXTENSIONS.get(extension.get("url"))
        if value == "valueUrl":
            _url(extension.get(value), f"{what} booking-deep-link", scheme)
        elif value == "valueString":
            _text(extension.get(value), f"{what} booking-phone")
        elif value == "valueInteger":
            assert isinstance(extension.get(value), int), f"{what} slot-capacity"
