"""The SQL client's result modes (``SET 'sql-client.execution.result-mode'``): ``millstream sql -f`` and the
interactive client show query results as Flink's client does — ``tableau`` (streaming boxed rows with ``op``),
``changelog`` (one ``+I[...]`` line per change), ``table`` (the materialized result) — driven through the real
CLI (click's runner, and a subprocess interrupted with SIGINT for an unbounded query)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from millstream.cli import cli

from ..product.conftest import cli_env

VISITS = [("home", 5), ("cart", 1), ("home", 7), ("home", None), ("cart", 3)]


def script(tmp_path: Path, *statements: str) -> Path:
    data = tmp_path / "visits.json"
    data.write_text("".join(json.dumps({"page": p, "amount": a}) + "\n" for p, a in VISITS))
    ddl = (
        "CREATE TABLE visits (page STRING, amount INT) "
        f"WITH ('connector' = 'filesystem', 'path' = '{data}', 'format' = 'json')"
    )
    path = tmp_path / "job.sql"
    path.write_text(";\n".join([ddl, *statements]) + ";\n")
    return path


def run(path: Path) -> str:
    result = CliRunner().invoke(cli, ["sql", "-f", str(path)])
    assert result.exit_code == 0, result.output
    return result.output


GROUPED = "SELECT page, COUNT(*) AS c, SUM(amount) AS s FROM visits GROUP BY page"


def test_tableau_is_the_default_and_streams_rows_with_their_kind(tmp_path: Path) -> None:
    out = run(script(tmp_path, GROUPED, "SELECT page FROM visits WHERE amount IS NULL"))
    lines = out.splitlines()
    assert lines[0] == "[INFO] Execute statement succeeded."
    # widths come from the types (STRING: 30, BIGINT: 20, INT: 11), as Flink's streaming tableau
    assert lines[1:15] == [
        "+----+--------------------------------+----------------------+-------------+",
        "| op |                           page |                    c |           s |",
        "+----+--------------------------------+----------------------+-------------+",
        "| +I |                           home |                    1 |           5 |",
        "| +I |                           cart |                    1 |           1 |",
        "| -U |                           home |                    1 |           5 |",
        "| +U |                           home |                    2 |          12 |",
        "| -U |                           home |                    2 |          12 |",
        "| +U |                           home |                    3 |          12 |",
        "| -U |                           cart |                    1 |           1 |",
        "| +U |                           cart |                    2 |           4 |",
        "+----+--------------------------------+----------------------+-------------+",
        "Received a total of 8 rows",
        "+----+--------------------------------+",
    ]
    assert lines[-3:] == ["| +I |                           home |", lines[-2], "Received a total of 1 row"]


def test_changelog_mode_prints_each_change(tmp_path: Path) -> None:
    out = run(script(tmp_path, "SET 'sql-client.execution.result-mode' = 'changelog'", GROUPED))
    assert out.splitlines()[2:] == [
        "+I[home, 1, 5]",
        "+I[cart, 1, 1]",
        "-U[home, 1, 5]",
        "+U[home, 2, 12]",
        "-U[home, 2, 12]",
        "+U[home, 3, 12]",
        "-U[cart, 1, 1]",
        "+U[cart, 2, 4]",
    ]


def test_table_mode_prints_the_materialized_result(tmp_path: Path) -> None:
    out = run(
        script(
            tmp_path,
            "SET 'sql-client.execution.result-mode' = 'TABLE'",  # any case, as Flink's enum option
            GROUPED,
            "SELECT page, amount FROM visits WHERE amount > 100",
        )
    )
    assert out.splitlines()[2:] == [
        "+------+---+----+",
        "| page | c |  s |",
        "+------+---+----+",
        "| home | 3 | 12 |",
        "| cart | 2 |  4 |",
        "+------+---+----+",
        "2 rows in result",
        "+------+--------+",
        "| page | amount |",
        "+------+--------+",
        "+------+--------+",
        "Empty set",
    ]


def test_table_mode_keeps_at_most_max_rows_and_tableau_truncates_wide_values(tmp_path: Path) -> None:
    out = run(
        script(
            tmp_path,
            "SET 'sql-client.execution.result-mode' = 'table'",
            "SET 'sql-client.execution.max-table-result.rows' = '2'",
            "SELECT page, amount FROM visits",
            "RESET 'sql-client.execution.result-mode'",
            "SET 'sql-client.display.max-column-width' = '7'",
            "SELECT CONCAT(page, '-', page) AS pp FROM visits WHERE amount = 1",
        )
    )
    lines = out.splitlines()
    assert lines[lines.index("| page | amount |") + 2 : lines.index("2 rows in result") - 1] == [
        "| home | <NULL> |",
        "| cart |      3 |",
    ]
    assert "| +I | cart... |" in lines


def test_bad_client_options_are_errors_naming_the_fix(tmp_path: Path) -> None:
    for statement, message, hint in [
        ("SET 'sql-client.execution.result-mode' = 'tablo'", "cannot be 'tablo'", "'tableau', 'table', 'changelog'"),
        ("SET 'sql-client.execution.result_mode' = 'table'", "unknown SQL client option", "result-mode"),
        ("SET 'sql-client.display.max-column-width' = '0'", "must be a positive integer", "= '30'"),
    ]:
        result = CliRunner().invoke(cli, ["sql", "-f", str(script(tmp_path, statement))])
        assert result.exit_code == 2, result.output
        assert message in result.output and hint in result.output
        assert "Traceback" not in result.output


def test_interactive_client_switches_modes(tmp_path: Path) -> None:
    from millstream import StreamExecutionEnvironment
    from millstream.cli.sql_client import SqlClient
    from millstream.sql import StreamTableEnvironment

    path = script(tmp_path, "SET 'sql-client.execution.result-mode' = 'changelog'", GROUPED)
    lines = iter([*path.read_text().splitlines(), "QUIT;"])
    out: list[str] = []
    tenv = StreamTableEnvironment.create(StreamExecutionEnvironment.get_execution_environment())
    SqlClient(tenv, out.append).interactive(lambda prompt: next(lines))
    assert out[-2:] == ["-U[cart, 1, 1]", "+U[cart, 2, 4]"]
    assert tenv.config["sql-client.execution.result-mode"] == "changelog"


def _interrupted(tmp_path: Path, mode: str, wait_for: str) -> tuple[int, str]:
    """``millstream sql -f`` of an unbounded query in ``mode``, sent SIGINT once ``wait_for`` is printed
    (``table`` mode prints nothing while the query runs: then 3 s after its ``SET``); its exit code and output."""
    path = tmp_path / f"{mode}.sql"
    path.write_text(
        "CREATE TABLE gen (id BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '20', "
        "'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '1000000');\n"
        f"SET 'sql-client.execution.result-mode' = '{mode}';\n"
        "SELECT MOD(id, 2) AS parity, COUNT(*) AS c FROM gen GROUP BY MOD(id, 2);\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "millstream", "sql", "-f", str(path)],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if wait_for in line and (wait_for != "[INFO]" or len(seen) == 2):
                break
        if mode == "table":
            time.sleep(3)
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, "".join(seen) + rest


def test_ctrl_c_stops_an_unbounded_query_and_shows_what_arrived(tmp_path: Path) -> None:
    code, out = _interrupted(tmp_path, "tableau", "| +U |")
    assert code == 130, out
    assert "Query terminated, received a total of" in out
    code, out = _interrupted(tmp_path, "table", "[INFO]")
    assert code == 130, out
    lines = out.splitlines()
    body = [line for line in lines if line.startswith("|") and "parity" not in line]
    assert len(body) == 2, out  # the current result: one row per parity, with the counts so far
    assert {line.split("|")[1].strip() for line in body} == {"0", "1"}
    assert all(int(line.split("|")[2]) > 1 for line in body), out
    assert "2 rows in result" in lines and lines[-1] == "interrupted", out
