"""Seeing, on PostgreSQL, that a second transaction really waits on a lock the first one holds.

Tests that pit two writes against one record hold the first write's locks
open and start the second in a thread; before letting the first commit they
wait until the database shows a transaction waiting on a lock, so the race
is the one intended, not a lucky ordering. The bound only keeps a broken run
from hanging; nothing asserts on time.
"""

import time
from collections.abc import Callable

from sqlalchemy import Engine, text

WAIT_SECONDS = 30


def someone_waits_on_a_lock(engine: Engine, *, unless: Callable[[], bool] = lambda: False) -> bool:
    """True once a transaction of this database waits on a lock; False if ``unless()`` comes true first, or
    after ``WAIT_SECONDS``."""
    deadline = time.monotonic() + WAIT_SECONDS
    with engine.connect() as watcher:
        while time.monotonic() < deadline and not unless():
            if watcher.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                    "AND datname = current_database()")).scalar_one():
                return True
            watcher.rollback()
            time.sleep(0.05)
    return False
