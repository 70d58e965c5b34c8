"""The CDC example runs against a real PostgreSQL: the view it materialises from the topic equals the table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ..product.conftest import cli_env
from .conftest import EXAMPLES

pytestmark = pytest.mark.postgres


def test_cdc_example_materialises_the_table(tmp_path: Path, postgres_db: str) -> None:
    script = EXAMPLES / "cdc_materialized_view" / "materialized_view.py"
    proc = subprocess.run(
        [sys.executable, str(script), postgres_db, f"file://{tmp_path / 'log'}"],
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == [
        "{'id': 1, 'item': 'lamp', 'qty': 2}",
        "{'id': 3, 'item': 'chair', 'qty': 4}",
        "view == table (2 rows)",
    ]
