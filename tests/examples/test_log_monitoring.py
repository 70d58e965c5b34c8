"""The log-monitoring example follows an access log: the spike becomes an alert; appended lines are read."""

from __future__ import annotations

import ast
import re
import shutil
import signal
from collections import Counter
from datetime import datetime
from pathlib import Path

from .conftest import EXAMPLES, start_example, topic_values, wait_for

CLF = re.compile(r'\[([^\]]+)\] "\S+ (\S+)[^"]*" (\d{3})')


def _windows(text: str) -> tuple[Counter, Counter]:
    requests: Counter = Counter()
    errors: Counter = Counter()
    for line in text.splitlines():
        m = CLF.search(line)
        if m is None:
            continue
        ts = int(datetime.strptime(m.group(1), "%d/%b/%Y:%H:%M:%S %z").timestamp() * 1000)
        key = (m.group(2), ts - ts % 60_000)
        requests[key] += 1
        errors[key] += int(m.group(3)) >= 500
    return requests, errors


def test_error_spike_alert_and_followed_file(tmp_path: Path) -> None:
    access = tmp_path / "access.log"
    shutil.copy(EXAMPLES / "log_monitoring" / "access.log", access)
    url = f"file://{tmp_path / 'log'}"
    printed = tmp_path / "stdout.txt"
    out_file = printed.open("w")
    proc = start_example("log_monitoring", url, tmp_path, stdout=out_file, ACCESS_LOG=str(access))
    try:
        # progress is watched on stdout (the print sink) rather than by opening the log while the job writes:
        # see the report (appends of the job went missing when this process polled the embedded log)
        wait_for(lambda: "'path': '/api/orders'" in printed.read_text())
        # a new 5xx burst on /api/search an hour later, then a line that moves event time past it
        burst = [f'10.0.0.9 - - [01/May/2024:13:00:{s:02d} +0000] "GET /api/search HTTP/1.1" 500 10' for s in range(12)]
        after = '10.0.0.9 - - [01/May/2024:13:02:00 +0000] "GET / HTTP/1.1" 200 10'
        with access.open("a") as fh:
            fh.write("\n".join([*burst, after]) + "\n")
        wait_for(lambda: "'path': '/api/search'" in printed.read_text())
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        out_file.close()
    out = printed.read_text()
    assert proc.returncode == 130, err
    alerts = [ast.literal_eval(line[len("ALERT> ") :]) for line in out.splitlines() if line.startswith("ALERT> ")]
    requests, errors = _windows(access.read_text())
    expected = {
        k
        for k, n in requests.items()
        if n >= 10 and round(errors[k] / n, 4) > 0.2 and k[1] + 60_000 <= 1714568520000 - 5000
    }
    assert {(a["path"], a["window_start"]) for a in alerts} == expected
    assert topic_values(url, "access-alerts") == alerts
    assert topic_values(url, "access-unparsed", bytes.decode) == ["this line is not in Common Log Format"]
    for a in alerts:
        key = (a["path"], a["window_start"])
        assert (a["requests"], a["errors"]) == (requests[key], errors[key])
    assert ("/api/orders", 1714565160000) in expected  # the spike in minute 6
