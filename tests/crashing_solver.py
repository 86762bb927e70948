"""Stand-ins for the solver that die the way a failed native check kills a process (importable by a child)."""

import os
import tempfile
from pathlib import Path

from solver.replan import replan

ABORTED_ONCE = Path(tempfile.gettempdir()) / "clinic-test-solver-aborted-once"


def abort(problem, limits):
    os.abort()


def abort_once(problem, limits):
    """Dies the first time (leaving a mark), solves the second: what a rare random abort looks like."""
    if not ABORTED_ONCE.exists():
        ABORTED_ONCE.touch()
        os.abort()
    return replan(problem, limits)
