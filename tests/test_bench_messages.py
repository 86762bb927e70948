"""The delivery benchmark's own checks on a small run: every reminder arrives exactly once (no time asserted)."""

from bench.common import sqlite_database
from bench.messages import run


def test_a_small_delivery_run_arrives_complete_and_once():
    with sqlite_database() as url:
        result = run(url, count=40, workers=2, batch=7)
    assert result["received"] == 40 and result["missing"] == 0 and result["received_twice"] == 0
    assert result["all_rows_sent"]
