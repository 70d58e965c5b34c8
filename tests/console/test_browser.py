"""The console in real headless Chromium with the demo running (issue 14's bars).

One module-wide setup: ``millstream demo`` (its own process, metrics on a free port, ``--threshold 0`` so
alerts flow), a Connect worker in this process running the datagen connector into ``clicks``, both on one
embedded log, and ``millstream console --log URL --jobs DEMO --connect WORKER`` as a third process. The
tests drive the page like a user and save a screenshot of each page under ``test-artifacts/console/``.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from millstream.connect.herder import Herder
from millstream.connect.rest import RestServer
from millstream.core.record import TopicPartition
from millstream.log import open_log

from ..observe._support import wait_for
from .browser import screenshot

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _url_line(proc: subprocess.Popen[str], prefix: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(prefix):
            return line.split(None, 1)[1].strip()
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"no {prefix!r} line from {proc.args}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("console-browser")
    log_url = f"file://{root}/log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    metrics_port = _free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "millstream", "demo", "--quiet", "--duration", "600", "--threshold", "0",
         "--metrics-port", str(metrics_port), "--log", log_url],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    herder = rest = console = None
    try:
        metrics = _url_line(demo, "metrics:").removesuffix("/metrics")
        herder = Herder({"offset.flush.interval.ms": "100"}, open_log(log_url), worker_id="browser-test:0")
        herder.start()
        rest = RestServer(herder, "127.0.0.1", 0)
        rest.start()
        httpx.post(
            rest.url + "/connectors",
            json={"name": "clicks-gen", "config": {"connector.class": "DatagenConnector", "kafka.topic": "clicks",
                  "quickstart": "clickstream", "max.interval": "20"}},
        ).raise_for_status()  # fmt: skip
        console = subprocess.Popen(
            [sys.executable, "-m", "millstream", "console", "--log", log_url, "--port", "0",
             "--jobs", metrics, "--connect", rest.url],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )  # fmt: skip
        url = _url_line(console, "console:")
        jid = wait_for(lambda: httpx.get(metrics + "/jobs").json()["jobs"], what="the demo's job")[0]["id"]
        yield {"url": url, "log": log_url, "metrics": metrics, "worker": rest.url, "jid": jid, "root": root}
    finally:
        for proc in (console, demo):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if rest is not None:
            rest.stop()
        if herder is not None:
            herder.stop()


RENDERED = "() => document.querySelector('svg[data-testid=lineage] [data-testid=lineage-node]') !== null"


def first_render_s(page: Any, url: str) -> float:
    """Seconds from navigation start to the overview's lineage graph drawn, on the browser's clock."""
    page.goto(url)
    page.wait_for_function(RENDERED, polling=10)
    return float(page.evaluate("performance.now()")) / 1000


def test_overview_shows_the_demo_lineage_with_rising_rates(stack, page) -> None:
    page.goto(stack["url"])
    labels = lambda: set(page.locator("[data-testid=lineage-node]").evaluate_all("ns => ns.map(n => n.dataset.label)"))  # noqa: E731
    wait_for(lambda: {"datagen clickstream", "pageviews", "page-counts", "user-sessions", "error-alerts"} <= labels(),
             what="the demo's nodes")  # fmt: skip
    assert any(label.startswith("clickstream demo") for label in labels())

    def rates() -> dict[tuple[str, str], float]:
        out = {}
        for e in page.locator("[data-testid=edge-rate]").evaluate_all(
            "es => es.map(e => [e.dataset.from, e.dataset.to, e.dataset.rate])"
        ):
            out[(e[0], e[1])] = float(e[2] or 0)
        return out

    def demo_edges_moving() -> bool:
        r = rates()
        into = {to.split(":", 1)[1]: v for (frm, to), v in r.items() if to.startswith("topic:") and "job:" in frm}
        from_connector = [v for (frm, to), v in r.items() if frm.startswith("connector:") and to.startswith("job:")]
        from_pageviews = [v for (frm, to), v in r.items() if frm == "topic:pageviews" and to.startswith("job:")]
        return (
            all(into.get(t, 0) > 0 for t in ("pageviews", "page-counts", "user-sessions", "error-alerts"))
            and bool(from_connector)
            and min(from_connector) > 0
            and bool(from_pageviews)
            and min(from_pageviews) > 0
        )

    wait_for(demo_edges_moving, what="records/s on every edge of the demo")
    with open_log(stack["log"]) as log:  # the counts behind the rates rise
        before = log.latest_offset("page-counts", 0)
        wait_for(lambda: log.latest_offset("page-counts", 0) > before, what="page-counts growing")
    screenshot(page, "overview")
    # the first page renders within 1 s (best of five loads: the machine's 2 cores are shared). On a machine
    # overloaded by other work (load average above 2 per core) the bound is 5 s and the figure is printed.
    times = [first_render_s(page, stack["url"]) for _ in range(5)]
    overloaded = os.getloadavg()[0] / (os.cpu_count() or 1) > 2
    print(f"first page render: best {min(times):.3f} s of {[round(t, 3) for t in times]} (overloaded: {overloaded})")
    assert min(times) <= (5.0 if overloaded else 1.0), f"the first page took {times} s"


def test_job_graph_shows_every_vertex_moving(stack, page) -> None:
    page.goto(stack["url"] + f"#/jobs/{stack['jid']}")
    page.wait_for_selector("svg[data-testid=job-graph] [data-testid=vertex]")

    def all_moving() -> bool:
        vs = page.locator("[data-testid=vertex]").evaluate_all(
            "vs => vs.map(v => [v.dataset.name, +(v.dataset.in || 0), +(v.dataset.out || 0)])"
        )
        return len(vs) >= 11 and all(i > 0 or o > 0 for _n, i, o in vs)

    wait_for(all_moving, what="non-zero records/s on every vertex")
    assert page.locator("[data-testid=advice] li").count() >= 1
    assert page.locator("[data-testid=chart]").count() == 3
    screenshot(page, "job")


def test_message_browser_shows_a_produced_record_with_key_and_headers(stack, page) -> None:
    key = f"probe-{time.monotonic_ns()}"
    r = httpx.post(
        stack["url"].removesuffix("/console/") + "/console/api/topics/pageviews/messages",
        json={"key": key, "value": '{"page": "/probe"}', "headers": {"origin": "browser-test"}},
    )
    assert r.status_code == 201, r.text
    page.goto(stack["url"] + "#/topics/pageviews")
    page.wait_for_selector("[data-testid=partitions]")
    page.select_option("[data-testid=browse-mode]", "end")
    page.fill("[data-testid=browse-filter]", f"key:{key}")
    page.click("[data-testid=browse]")
    row = page.locator("[data-testid=message]")
    row.first.wait_for()
    assert row.count() == 1
    text = row.first.inner_text()
    assert key in text and "origin=browser-test" in text and "/probe" in text
    screenshot(page, "topic-browser")
    # bad input: an offset past the end, a filter that is not valid — a clear message, not a blank page
    page.select_option("[data-testid=browse-mode]", "offset")
    page.fill("[data-testid=browse-at]", "999999999")
    page.fill("[data-testid=browse-filter]", "")
    page.click("[data-testid=browse]")
    err = page.locator("[data-testid=browse-error]")
    err.wait_for()
    assert "past the end of pageviews-0" in err.inner_text()
    page.select_option("[data-testid=browse-mode]", "beginning")
    page.fill("[data-testid=browse-filter]", "/user-(/")
    page.click("[data-testid=browse]")
    page.wait_for_function(
        "() => (document.querySelector('[data-testid=browse-error]')||{}).innerText?.includes('regular expression')"
    )
    screenshot(page, "topic-browser-bad-filter")


def test_pausing_the_connector_stops_its_records_within_5_s_and_resume_restarts(stack, page) -> None:
    page.goto(stack["url"] + "#/connectors")
    row = page.locator("[data-testid=connector-row][data-name=clicks-gen]")
    row.wait_for()
    rate = lambda: float(row.locator("[data-testid=connector-rate]").get_attribute("data-rate") or 0)  # noqa: E731
    wait_for(lambda: rate() > 0, what="the connector's records/s")
    screenshot(page, "connectors")
    row.locator("[data-testid=connector-pause]").click()
    paused = time.monotonic()
    wait_for(lambda: rate() == 0 and "PAUSED" in row.inner_text(), timeout=5, what="records/s 0 after pause")
    assert time.monotonic() - paused <= 5
    screenshot(page, "connectors-paused")
    row.locator("[data-testid=connector-resume]").click()
    wait_for(lambda: rate() > 0, timeout=10, what="records/s again after resume")


def test_a_topic_created_in_the_page_is_seen_by_the_cli(stack, page) -> None:
    page.goto(stack["url"] + "#/topics")
    page.fill("[data-testid=new-topic-name]", "made-in-browser")
    page.click("[data-testid=create-topic]")
    page.locator("[data-testid=topic-created]").wait_for()
    out = subprocess.run(
        [sys.executable, "-m", "millstream", "topics", "list", "--log", stack["log"]], capture_output=True, text=True
    )
    assert "made-in-browser" in out.stdout.split(), out.stdout + out.stderr
    page.click("[data-testid=create-topic]")  # again: a clear message, not a 500
    assert "already exists" in page.locator("[data-testid=topic-error]").inner_text()
    screenshot(page, "topics")


def test_connector_form_with_a_wrong_type_shows_the_error_inline(stack, page) -> None:
    page.goto(stack["url"] + "#/connectors/new")
    plugin = page.locator("[data-testid=plugin] option", has_text="DatagenConnector").first.get_attribute("value")
    page.select_option("[data-testid=plugin]", plugin)
    page.locator("[data-testid='field-kafka.topic']").wait_for()
    page.fill("[data-testid=connector-name]", "typo")
    page.fill("[data-testid='field-kafka.topic']", "t")
    page.fill("[data-testid='field-max.interval']", "soon")
    page.click("[data-testid=create-connector]")
    err = page.locator("[data-error-for='max.interval']")
    page.wait_for_function("() => document.querySelector(\"[data-error-for='max.interval']\").innerText.length > 0")
    assert "soon" in err.inner_text()
    assert page.locator("[data-testid=validation-errors]").is_visible()
    screenshot(page, "connector-form-error")
    assert "typo" not in httpx.get(stack["worker"] + "/connectors").json()


def test_groups_page_shows_lag_per_partition(stack, page) -> None:
    with open_log(stack["log"]) as log:
        log.commit_offsets("browser-readers", {TopicPartition("pageviews", 0): 5})
    page.goto(stack["url"] + "#/groups/browser-readers")
    table = page.locator("[data-testid=group-partitions]")
    table.wait_for()
    assert re.search(r"pageviews\s+0\s+5", table.inner_text())
    page.wait_for_selector("[data-testid=chart]")
    screenshot(page, "group")


def test_an_ended_job_and_an_unknown_one_show_a_message_on_the_jobs_own_port(page, tmp_path: Path) -> None:
    from millstream import StreamExecutionEnvironment
    from millstream.connectors import LogSink
    from millstream.observe import Monitoring

    url = f"file://{tmp_path / 'log'}"
    with open_log(url) as log:
        log.create_topic("out", 1)
    with Monitoring(0) as mon:
        env = StreamExecutionEnvironment.get_execution_environment()
        env.from_collection(list(range(100))).map(lambda x: x * 2).sink_to(
            LogSink.builder().set_log(url).set_topic("out").build()
        )
        client = env.execute_async("short job")
        assert client.wait(30)
        page.goto(f"{mon.url}/console/#/jobs/{client.jid}")
        ended = page.locator("[data-testid=job-ended]")
        ended.wait_for()
        assert "has ended (FINISHED)" in ended.inner_text()
        screenshot(page, "job-ended")
        page.goto(f"{mon.url}/console/#/jobs/ffffffffffffffffffffffffffffffff")
        err = page.locator("[data-testid=page-error]")
        err.wait_for()
        assert "not found" in err.inner_text()


def test_a_savepoint_and_a_cancel_from_the_job_page(page, tmp_path: Path) -> None:
    from millstream import StreamExecutionEnvironment, WatermarkStrategy
    from millstream.connectors import LogSink, LogSource
    from millstream.observe import Monitoring

    url = f"file://{tmp_path / 'log'}"
    with open_log(url) as log:
        log.create_topic("in", 1)
        log.create_topic("out", 1)
    with Monitoring(0) as mon:
        env = StreamExecutionEnvironment.get_execution_environment()
        env.enable_checkpointing(200)
        env.get_checkpoint_config().set_checkpoint_storage_dir(str(tmp_path / "cp"))
        source = LogSource.builder().set_log(url).set_topics("in").set_group_id("g").build()
        env.from_source(source, WatermarkStrategy.no_watermarks(), "in").sink_to(
            LogSink.builder().set_log(url).set_topic("out").build()
        )
        client = env.execute_async("controlled")
        try:
            page.on("dialog", lambda dialog: dialog.accept())  # "Cancel the job?"
            page.goto(f"{mon.url}/console/#/jobs/{client.jid}")
            page.locator("#job-actions:not([hidden])").wait_for()
            page.fill("[data-testid=savepoint-dir]", str(tmp_path / "sps"))
            page.click("[data-testid=job-savepoint]")
            result = page.locator("[data-testid=job-action-result] .ok")
            result.wait_for(timeout=30_000)
            location = result.inner_text().removeprefix("savepoint written to ")
            assert Path(location).parent == tmp_path / "sps" and Path(location).is_dir()
            screenshot(page, "job-savepoint")
            page.click("[data-testid=job-cancel]")
            assert client.wait(30) and client.get_job_status() == "CANCELED"
            page.locator("[data-testid=job-ended]").wait_for()
        finally:
            client.cancel()
