"""The slot search in solver/, on plain data: a brute-force oracle, ranking and best fit."""

from hypothesis import given, settings
from hypothesis import strategies as st

from solver.availability import DeviceNeed, Resource, ServiceNeeds, SlotSearch, explain_empty, find_slots
from solver.intervals import normalize

DAY = 24 * 60
windows = st.lists(st.tuples(st.integers(0, DAY), st.integers(0, DAY)).map(sorted).map(tuple), max_size=4).map(
    normalize)


def resource(kind, ident, available, busy=(), cleaning=0):
    return Resource(kind, ident, f"{kind} {ident}", available, list(busy), cleaning)


@st.composite
def searches(draw):
    service = ServiceNeeds("S", duration=draw(st.sampled_from([15, 30, 45])),
                           buffer_before=draw(st.sampled_from([0, 5])), buffer_after=draw(st.sampled_from([0, 10])),
                           room_kind="treatment")
    clinicians = tuple(resource("clinician", i, draw(windows), draw(windows)) for i in range(draw(st.integers(1, 2))))
    rooms = tuple(resource("room", i, [(0, DAY)], draw(windows)) for i in range(draw(st.integers(1, 2))))
    units = tuple(resource("device", i, draw(windows), draw(windows), draw(st.sampled_from([0, 10])))
                  for i in range(draw(st.integers(1, 3))))
    need = DeviceNeed("ultrasound", draw(st.integers(1, 2)), units)
    return SlotSearch(service=service, clinicians=clinicians, rooms=rooms, devices=(need,),
                      open_hours=draw(windows), starts=[(0, DAY)], grid=15)


def free_over(resource_, start, end) -> bool:
    return all(any(a <= m < b for a, b in resource_.available) and not any(a <= m < b for a, b in resource_.busy)
               for m in range(start, end))


def brute_force(search: SlotSearch) -> set[tuple[int, int]]:
    """Every (start, clinician) that minute-by-minute checking allows."""
    service, found = search.service, set()
    for start in range(0, DAY, search.grid):
        if not free_over(resource("open", 0, search.open_hours), start, start + service.duration):
            continue
        def ok(r):
            return free_over(r, *search.span(start, r))
        rooms_ok = any(ok(r) for r in search.rooms)
        units_ok = all(sum(ok(u) for u in need.units) >= need.count for need in search.devices)
        for clinician in search.clinicians:
            if rooms_ok and units_ok and ok(clinician):
                found.add((start, clinician.id))
    return found


@settings(max_examples=150, deadline=None)
@given(searches())
def test_search_finds_exactly_what_checking_every_minute_finds(search):
    slots = find_slots(search, limit=10_000)
    assert {(slot.start, slot.clinician.id) for slot in slots} == brute_force(search)
    for slot in slots:
        assert all(free_over(r, *search.span(slot.start, r)) for r in slot.resources())
        assert len(slot.devices) == search.devices[0].count
    if not slots:
        assert explain_empty(search)


def _simple(clinicians, rooms=None, **kwargs) -> SlotSearch:
    return SlotSearch(
        service=ServiceNeeds("Manual therapy", duration=30, room_kind="treatment"),
        clinicians=tuple(clinicians), rooms=tuple(rooms or [resource("room", 1, [(0, DAY)])]), devices=(),
        open_hours=[(0, DAY)], starts=[(0, DAY)], **kwargs,
    )


def test_preferred_then_continuity_then_earliest():
    early, late = resource("clinician", 1, [(480, 960)]), resource("clinician", 2, [(600, 960)])
    assert [s.clinician.id for s in find_slots(_simple([early, late]), limit=1)] == [1]
    assert find_slots(_simple([early, late], continuity_clinician=2), limit=1)[0].clinician.id == 2
    both = find_slots(_simple([early, late], preferred_clinician=1, continuity_clinician=2), limit=100)
    assert both[0].clinician.id == 1 and both[-1].clinician.id == 2


def test_best_fit_room_leaves_no_unusable_gap():
    """At 10:00 room 1 would strand 10 minutes before a 10:40 booking; room 2 fits snugly."""
    rooms = [resource("room", 1, [(0, DAY)], [(640, 700)]), resource("room", 2, [(0, DAY)], [(630, 700)])]
    search = _simple([resource("clinician", 1, [(600, 630)])], rooms=rooms, unusable_gap=30)
    (slot,) = find_slots(search, limit=1)
    assert slot.start == 600 and slot.room.id == 2 and slot.waste == 0


def test_explanations_name_the_single_resource():
    unit = resource("device", 7, [(0, 100)])
    search = SlotSearch(service=ServiceNeeds("ESWT", 30, room_kind=None),
                        clinicians=(resource("clinician", 1, [(0, DAY)]),), rooms=(),
                        devices=(DeviceNeed("shockwave", 1, (unit,)),), open_hours=[(600, 900)], starts=[(0, DAY)])
    (reason,) = explain_empty(search, "Midtown")
    assert reason.code == "devices_unavailable" and reason.message.startswith("device 7 is in maintenance")
