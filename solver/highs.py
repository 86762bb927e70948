"""HiGHS as the night's programmes use it: quiet, with the night's threads, fed rows written in Python."""

import ctypes
import math
import os
import sys

import highspy
import numpy as np

SOLUTION_FEASIBLE = 2
"""HiGHS's primal solution status for "a feasible solution is known"."""

Row = tuple[list[tuple[int, float]], float, float]
"""(column, coefficient) terms, lower and upper limit (infinite where open)."""


def quiet_highs(threads: int) -> "highspy.Highs":
    """A HiGHS instance with ``threads`` and no output, not even the banner its constructor writes to the
    process's standard output.

    The banner goes through C's stdio, which neither ``print`` nor ``redirect_stdout`` sees, and it landed in
    the output of ``clinic worker`` (whose lines a caller reads). So file descriptor 1 points at /dev/null for
    the constructor alone, C's buffers flushed on either side; anything another thread writes to standard
    output in that instant is lost, which in the night's own solver process is nothing."""
    libc = ctypes.CDLL(None)
    sys.stdout.flush()
    libc.fflush(None)
    saved, quiet = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(quiet, 1)
        highs = highspy.Highs()
        libc.fflush(None)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(quiet)
    highs.setOptionValue("output_flag", False)
    global _scheduler_threads
    if _scheduler_threads not in (None, threads):  # HiGHS keeps one thread pool per process, sized by its first run
        highspy.Highs.resetThreadScheduler(True)  # blocking: the old pool has stopped when it returns
    _scheduler_threads = threads
    highs.setOptionValue("threads", threads)
    return highs


_scheduler_threads: int | None = None
"""The threads HiGHS's pool was last asked for in this process. A run asking for another number failed outright
('the scheduler has already been initialized to use 1 threads'): a bound with 1 thread and then a solve with 2, as
in a test process, gave no answer at all."""


def highs_lp(cost: list[float], lower: list[float], upper: list[float], rows: list[Row], *, maximize: bool = False,
             whole: bool = False) -> "highspy.HighsLp":
    """The columns (cost and limits) and rows as HiGHS's model, every column a whole number if ``whole``."""
    model = highspy.HighsLp()
    model.num_col_, model.num_row_ = len(cost), len(rows)
    if maximize:
        model.sense_ = highspy.ObjSense.kMaximize
    model.col_cost_ = np.array(cost, dtype=float)
    model.col_lower_ = np.array(lower, dtype=float).clip(-highspy.kHighsInf)
    model.col_upper_ = np.array(upper, dtype=float).clip(None, highspy.kHighsInf)
    if whole:
        model.integrality_ = [highspy.HighsVarType.kInteger] * len(cost)
    model.row_lower_ = np.array([low for _, low, _ in rows], dtype=float).clip(-highspy.kHighsInf)
    model.row_upper_ = np.array([high for _, _, high in rows], dtype=float).clip(None, highspy.kHighsInf)
    model.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    model.a_matrix_.start_ = np.cumsum([0] + [len(terms) for terms, _, _ in rows])
    model.a_matrix_.index_ = np.array([column for terms, _, _ in rows for column, _ in terms], dtype=np.int32)
    model.a_matrix_.value_ = np.array([value for terms, _, _ in rows for _, value in terms], dtype=float)
    return model


def merged(terms: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """A row's terms with each column once, the coefficients of a column named twice added."""
    by_column: dict[int, float] = {}
    for column, coefficient in terms:
        by_column[column] = by_column.get(column, 0) + coefficient
    return list(by_column.items())


class Programme:
    """A linear programme (no whole numbers) written column by column and row by row, minimized by HiGHS."""

    def __init__(self):
        self.cost: list[float] = []
        self.lower: list[float] = []
        self.upper: list[float] = []
        self.rows: list[Row] = []

    def column(self, low: float = 0.0, high: float = 1.0, cost: float = 0.0) -> int:
        self.cost.append(cost)
        self.lower.append(low)
        self.upper.append(high)
        return len(self.cost) - 1

    def add_cost(self, column: int, cost: float) -> None:
        self.cost[column] += cost

    def row(self, terms: list[tuple[int, float]], low: float = -math.inf, high: float = math.inf) -> None:
        """``low <= sum(coefficient * column) <= high``."""
        self.rows.append((merged(terms), low, high))

    def minimum(self, seconds: float, threads: int) -> float | None:
        """The optimum, by the interior point method (with crossover), or None if not found in ``seconds``."""
        if seconds <= 0:
            return None
        highs = quiet_highs(threads)
        highs.setOptionValue("solver", "ipm")
        highs.setOptionValue("time_limit", seconds)
        highs.passModel(highs_lp(self.cost, self.lower, self.upper, self.rows))
        highs.run()
        if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        return highs.getInfo().objective_function_value
