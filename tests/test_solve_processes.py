"""Each night is solved in a process of its own: it must start ready, not import the app again.

Python 3.11's forkserver runs the program's main script again in every process it forks. Started by the
``clinic`` script, that imported the whole app (4-10 s) before each night's solve; now the forkserver has
imported the solver and the script's modules once, so running the script again finds them loaded
(``scheduler.optimization.preload_for_solves``).
"""

import os
import subprocess
import sys
from pathlib import Path

PROGRAM = '''
import sys

IMPORTED = []


class Counting:
    """Notes each of our modules (and ortools) that is really imported, not found already loaded."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("api", "scheduler", "solver", "data", "ortools"):
            IMPORTED.append(name)
        return None


sys.meta_path.insert(0, Counting())
from api.cli import app  # what the clinic script runs
from concurrent.futures import ProcessPoolExecutor
from scheduler.optimization import SOLVES


def imported_in_the_solve_process():
    return len(sys.modules["__mp_main__"].IMPORTED)


if __name__ == "__main__":
    for _ in range(2):
        with ProcessPoolExecutor(max_workers=1, mp_context=SOLVES) as pool:
            print(len(IMPORTED), pool.submit(imported_in_the_solve_process).result())
'''


def test_a_solve_process_started_by_the_clinic_script_imports_nothing_of_ours_again(tmp_path):
    script = tmp_path / "clinic_like.py"
    script.write_text(PROGRAM)
    root = str(Path(__file__).resolve().parents[1])
    ran = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=root,
                         env={**os.environ, "PYTHONPATH": root})
    assert ran.returncode == 0, ran.stderr
    counts = [tuple(map(int, line.split())) for line in ran.stdout.splitlines()]
    assert len(counts) == 2
    for in_the_program, in_the_solve_process in counts:
        assert in_the_program > 50, "the program itself imported the app"
        assert in_the_solve_process == 0, f"the solve process imported {in_the_solve_process} modules again"
