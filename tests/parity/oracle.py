"""Run parity cases through Flink: one ``flink_runner.py`` subprocess (one Flink job) per batch."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cases import Case
from .pyflink_env import OracleEnv

RUNNER = Path(__file__).with_name("flink_runner.py")
RUN_TIMEOUT_S = 900


class OracleRunFailed(RuntimeError):
    """The Flink job of a batch failed; the message carries the tail of its output."""


@dataclass
class FlinkOracle:
    """Runs cases through PyFlink in the dedicated virtualenv and keeps timing figures."""

    env: OracleEnv
    runs: list[dict[str, Any]] = field(default_factory=list)
    #: record timestamps of every result row of every run, ``{case id: {api: [ts, ...]}}``, aligned with
    #: the rows that :meth:`run` returned for that case
    timestamps: dict[str, dict[str, list[Any]]] = field(default_factory=dict)

    def supports(self, case: Case) -> str | None:
        """``None`` when the case can run here, else why not (the Java glue jar is missing)."""
        if "java" in case.apis and self.env.jar is None:
            return f"Java-API oracle unavailable: {self.env.java_error}"
        return None

    def run(self, cases: Sequence[Case]) -> dict[str, dict[str, list[Any]]]:
        """Runs ``cases`` as one Flink job; returns ``{case id: {api: rows}}`` (rows in emission order)."""
        runnable = [c for c in cases if self.supports(c) is None]
        if not runnable:
            return {}
        with tempfile.TemporaryDirectory(prefix="millstream-oracle-") as tmp:
            cases_path = Path(tmp) / "cases.json"
            results_path = Path(tmp) / "results.json"
            cases_path.write_text(json.dumps({"cases": [c.to_json() for c in runnable]}))
            started = time.monotonic()
            proc = subprocess.run(
                [
                    str(self.env.python),
                    str(RUNNER),
                    str(cases_path),
                    str(results_path),
                    str(self.env.jar or ""),
                ],
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT_S,
                cwd=tmp,
            )
            wall = time.monotonic() - started
            if proc.returncode != 0 or not results_path.exists():
                tail = (proc.stdout + proc.stderr).strip().splitlines()[-40:]
                raise OracleRunFailed(f"flink_runner.py exited {proc.returncode}:\n" + "\n".join(tail))
            data = json.loads(results_path.read_text())
        self.runs.append({"cases": len(runnable), "wall_seconds": wall, **data["seconds"]})
        results: dict[str, dict[str, list[Any]]] = data["results"]
        self.timestamps.update(data["timestamps"])
        return results
