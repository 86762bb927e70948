"""Who is busy when, while a generator books a night's current sessions.

The families book their BOOKED sessions against one record like this,
so every ``current`` placement is valid by construction (and then re-checked
with ``check_night``); the families differ in which start and which free
clinician, room and unit they prefer, which ``order`` says.
"""

from collections.abc import Callable, Iterable, Sequence

from solver.intervals import contains
from solver.night_greedy import Book
from solver.plans import Candidate, Placement, SessionKind, blocked

Order = Callable[[Sequence[Candidate]], Iterable[Candidate]]


def as_listed(candidates: Sequence[Candidate]) -> Iterable[Candidate]:
    """The lowest ids first: the front desk that always asks the same people first."""
    return candidates


class Ledger(Book):
    """Busy spans per clinician, room, device unit and patient (the greedy placer's record), and minutes held."""

    def __init__(self) -> None:
        super().__init__()
        self.held: dict[tuple[str, int], int] = {}

    def take(self, key: tuple[str, int], low: int, high: int) -> None:
        super().take(key, low, high)
        self.held[key] = self.held.get(key, 0) + high - low

    def minutes(self, key: tuple[str, int]) -> int:
        """How long ``key`` is held in all."""
        return self.held.get(key, 0)

    def serve(self, kind: SessionKind, start: int, patient: int | None = None, order: Order = as_listed,
              clinician: int | None = None) -> Placement | None:
        """A clinician (``clinician`` if given), room and units free at ``start``, in ``order``; None if any is missing.

        ``patient`` must be free for the session itself too. The placement's ``kind`` is left empty for the caller.
        """
        if patient is not None and not self.free(("patient", patient), start, start + kind.duration):
            return None

        def usable(role: str, candidate: Candidate, cleaning: int = 0) -> bool:
            low, high = blocked(kind, start, cleaning)
            return contains(candidate.free, low, high) and self.free((role, candidate.id), low, high)

        who = next((c for c in order(kind.clinicians) if clinician in (None, c.id) and usable("clinician", c)), None)
        if who is None:
            return None
        room = None
        if kind.needs_room:
            room = next((r for r in order(kind.rooms) if usable("room", r)), None)
            if room is None:
                return None
        units: list[int] = []
        for pool in kind.devices:
            chosen = [u.id for u in order(pool.units) if usable("device", u, u.cleaning)][:pool.count]
            if len(chosen) < pool.count:
                return None
            units += chosen
        return Placement("", 0, start, who.id, None if room is None else room.id, tuple(sorted(units)))
