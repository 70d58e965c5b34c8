"""The sql_windows example: `millstream sql -f page_views.sql` prints Flink SQL's window results."""

from __future__ import annotations

import subprocess
import sys

from ..product.conftest import cli_env
from .conftest import EXAMPLES


def test_sql_windows_script_prints_the_windows() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "millstream", "sql", "-f", "page_views.sql"],
        cwd=EXAMPLES / "sql_windows",
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    # the TUMBLE insert: the late row (30 s, amount 100) is not in the first home window
    assert "+I[1970-01-01 00:00:00.000, home, 2, 2, 12]" in lines
    assert "+I[1970-01-01 00:01:00.000, cart, 1, 1, <NULL>]" in lines
    # the HOP query: [0, 2 min) had not fired when the late row came, so it holds all 6 rows; [-1, 1 min) had
    rows = [" ".join(line.split()) for line in lines]
    assert "| +I | 1970-01-01 00:00:00.000 | 1970-01-01 00:02:00.000 | 6 |" in rows
    assert "| +I | 1969-12-31 23:59:00.000 | 1970-01-01 00:01:00.000 | 3 |" in rows
