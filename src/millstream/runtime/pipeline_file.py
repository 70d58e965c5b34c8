"""Run a pipeline file: the contract behind ``millstream run PIPELINE.py``.

A pipeline file is plain Python that builds a job on :class:`~millstream.StreamExecutionEnvironment`. It
is run as ``__main__`` and may:

  1. call ``env.execute(...)`` itself (at top level or under ``if __name__ == "__main__":``), or
  2. define ``build(env)``, which adds sources, operators and sinks to the environment it is given (the
     runner then executes it, named after the file), or
  3. define ``main()``, which builds and executes a job itself.

Whichever way, every job the file executes goes through :class:`PipelineRunner`, which

  - makes the ``default_log`` URL the log of every ``LogSource``/``LogSink`` that names none, and sets
    ``MILLSTREAM_LOG`` to it while the file runs (so ``open_log()`` in the file opens the same log);
  - passes ``job_id`` / ``from_savepoint`` / ``allow_non_restored_state`` to the environment's
    configuration, and refuses them with a clear :class:`PipelineError` when this runtime has no such
    setting;
  - runs the job in the background and waits, so that Ctrl-C (``KeyboardInterrupt``) *stops* it cleanly,
    as Flink's ``stop`` does: sources stop at a round boundary, the final checkpoint is taken when
    checkpointing is enabled (committing exactly-once output and source offsets), operators and sinks close
    and flush. :attr:`PipelineRunner.interrupted` is then set, :attr:`PipelineRunner.stopped` holds the
    job's result, and the ``KeyboardInterrupt`` goes on (``millstream run`` exits 130). A second Ctrl-C
    while it stops cancels the job instead (no final checkpoint). If the stop fails (the final checkpoint
    cannot be written), the job's error is raised instead.

With ``announce``, every job the file runs is announced in the job registry of the logs it uses
(:mod:`millstream.runtime.job_heartbeat`: the ``default_log`` or ``$MILLSTREAM_LOG``, and the log of every log
source and sink) with ``rest_url`` as its control address, so ``millstream jobs ...
--log URL`` finds it; with ``ready_file``, the first job's id and address are written there (JSON) once it
runs — how ``millstream run --detached`` learns the id of the job it started.

Problems with the file itself (missing, syntax error, builds no job, builds a job without a sink) raise
:class:`PipelineError` with a one-line message naming the file and a hint.
"""

from __future__ import annotations

import dataclasses
import os
import runpy
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson

from ..core.errors import ConfigError
from ..log import ENV_VAR
from ..stream import environment as _environment
from ..stream.connectors import LogSink, LogSource
from ..stream.environment import StreamExecutionEnvironment


class PipelineError(ConfigError):
    """The pipeline file cannot be run as it is (exit code 2)."""


class _PlanTaken(Exception):
    """Ends a plan-only run at its first ``execute``."""


class PipelineRunner:
    """Runs one pipeline file with run options (see the module docstring)."""

    def __init__(
        self,
        path: str,
        *,
        default_log: str | None = None,
        job_id: str | None = None,
        from_savepoint: str | None = None,
        allow_non_restored_state: bool = False,
        parallelism: int | None = None,
        plan_only: bool = False,
        announce: bool = False,
        rest_url: str | None = None,
        ready_file: str | None = None,
        reactive: dict[str, Any] | None = None,
        options: dict[str, str] | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.parallelism = parallelism
        self.plan_only = plan_only
        self.plan: str | None = None  # with plan_only: the first job's execution plan (Flink's JSON)
        self.default_log = default_log
        self.job_id = job_id
        self.from_savepoint = from_savepoint
        self.allow_non_restored_state = allow_non_restored_state
        self.jobs_run = 0
        self.interrupted = False
        self.stopped: Any = None  # the result of the job Ctrl-C stopped
        self.handed_over = False  # Ctrl-C made a reactive instance leave a job that goes on on the others
        self.results: list[Any] = []
        self.announce = announce
        self.rest_url = rest_url
        self.ready_file = ready_file
        self.reactive = reactive
        self.options = dict(options or {})

    # -- what happens to every job the file executes ------------------------------------------------------
    def _apply_default_log(self, env: StreamExecutionEnvironment) -> None:
        if not self.default_log:
            return
        for t in env._transformations:
            for key in ("source", "sink"):
                desc = t.params.get(key)
                if isinstance(desc, LogSource | LogSink) and desc.log_url is None:
                    t.params[key] = dataclasses.replace(desc, log_url=self.default_log)

    def _apply_run_options(self, env: StreamExecutionEnvironment) -> None:
        wanted = {
            "job_id": self.job_id,
            "from_savepoint": self.from_savepoint,
            "allow_non_restored_state": self.allow_non_restored_state or None,
        }
        for name, value in wanted.items():
            if value is None:
                continue
            if not hasattr(env.config, name):
                flag = "--" + name.replace("_", "-")
                raise PipelineError(
                    f"{flag} is not supported by this millstream runtime (it has no checkpoints/savepoints yet)",
                    hint=f"run without {flag}",
                )
            if getattr(env.config, name) in (None, False):  # the pipeline's own setting wins
                setattr(env.config, name, value)

    def _executor(self, inner: Any) -> Any:
        def execute(env: Any, sinks: list[Any], job_name: str, mode: str, collect: Any) -> Any:
            if mode == "collect":
                return inner(env, sinks, job_name, mode, collect)
            self._apply_default_log(env)
            self._apply_run_options(env)
            self.jobs_run += 1
            if self.plan_only:
                self.plan = env.plan(self.parallelism).to_json()
                raise _PlanTaken
            if self.announce and not self.reactive:  # (a reactive instance joins its job's group instead)
                self._refuse_a_second_instance(env, job_name)
            client = inner(env, sinks, job_name, "async", collect)
            if mode == "async":
                return client
            # (a job run elsewhere, e.g. on Flink with --engine flink, is announced there, not in the log)
            from .job import JobClient

            heartbeat = self._start_heartbeat(env, client.runner) if isinstance(client, JobClient) else None
            try:
                return self._wait(client)
            finally:
                if heartbeat is not None:
                    client.wait(10)  # the final entry carries the job's end state
                    heartbeat.close()

        return execute

    def _log_urls(self, env: StreamExecutionEnvironment) -> list[str]:
        """The logs a job uses: the one ``--log`` / ``$MILLSTREAM_LOG`` names, and the log of every log source and
        sink (the default log for those naming none). A job that uses no log and runs without either is
        registered nowhere (no ``./.millstream`` is created for it)."""
        from ..log import ENV_VAR, default_log_url

        urls = [u for u in (self.default_log or os.environ.get(ENV_VAR),) if u]
        for t in env._transformations:
            for key in ("source", "sink"):
                desc = t.params.get(key)
                if isinstance(desc, LogSource | LogSink):
                    urls.append(desc.log_url or default_log_url())
        return [u for u in dict.fromkeys(urls) if not u.startswith("memory://")]

    def _refuse_a_second_instance(self, env: StreamExecutionEnvironment, job_name: str) -> None:
        """A job whose checkpoint job id is already running on one of its logs is refused: a second copy would
        read and write everything again (instances do not share a job's work yet). Registry problems never
        stop a job (they are logged by the heartbeat)."""
        import socket

        from ..log import open_log
        from .checkpointing import job_id_of
        from .job_registry import JobRegistry, alive_here

        job_id = job_id_of(env.config, job_name)
        host = socket.gethostname()
        for url in self._log_urls(env):
            try:
                with open_log(url) as log:
                    running = JobRegistry(log).running()
            except Exception:
                continue
            for e in running:
                if e.job_id == job_id and alive_here(e, host):
                    raise PipelineError(
                        f"job id {job_id!r} is already running in {url}: job {e.jid} ({e.name}) on {e.host}, "
                        f"pid {e.pid}" + (f", REST {e.rest}" if e.rest else ""),
                        hint="a second copy would read and write everything again (one job cannot be spread "
                        f"over several processes yet): stop it first (millstream jobs stop {e.jid[:8]} --log "
                        f"{url}), or give this run another --job-id",
                    )

    def _start_heartbeat(self, env: StreamExecutionEnvironment, runner: Any) -> Any:
        if not self.announce:
            return None
        from .job_heartbeat import JobHeartbeat
        from .protocols import MultiInstanceJob

        if isinstance(runner, MultiInstanceJob):  # the other instances and the registry reach it here
            runner.advertise_rest(self.rest_url)
        heartbeat = JobHeartbeat(runner, self._log_urls(env), self.rest_url)
        heartbeat.start()
        if self.ready_file and self.jobs_run == 1:
            tmp = self.ready_file + ".tmp"
            try:
                with open(tmp, "wb") as fh:
                    fh.write(orjson.dumps({"jid": runner.jid, "name": runner.job_name, "rest": self.rest_url}))
                os.replace(tmp, self.ready_file)
            except OSError:  # whoever waited for it is gone: the job runs on
                pass
        return heartbeat

    def _wait(self, client: Any) -> Any:
        """Wait for the job; Ctrl-C stops it (see the module docstring)."""
        try:
            while not client.wait(0.2):
                pass
        except KeyboardInterrupt:
            self.interrupted = True
            from .scaleout import ReactiveJobRunner

            try:
                if isinstance(client.runner, ReactiveJobRunner):
                    client.runner.leave_group()  # its work moves to the other instances (the last one stops)
                    client.wait()
                    self.handed_over = client.runner.handed_over
                else:
                    client.stop()  # final checkpoint (when enabled), sinks commit and close
            except KeyboardInterrupt:  # a second Ctrl-C: cancel without the final checkpoint
                if not isinstance(client.runner, ReactiveJobRunner):  # (a reactive instance just leaves at once)
                    client.cancel()
                raise
            self.stopped = client.get_job_execution_result()  # raises the job's error, if any
            self.results.append(self.stopped)
            raise
        result = client.get_job_execution_result()
        self.results.append(result)
        return result

    @contextmanager
    def _installed(self) -> Iterator[None]:
        inner = _environment._get_executor()
        _environment.register_executor(self._executor(inner))
        previous = _environment.set_default_configuration(self.options)  # -D: every environment starts with them
        try:
            yield
        finally:
            _environment.register_executor(inner)
            _environment.set_default_configuration(previous)

    # -- the file -----------------------------------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        if not os.path.exists(self.path):
            raise PipelineError(f"pipeline file {self.path} does not exist", hint="check the path")
        if os.path.isdir(self.path):
            raise PipelineError(f"{self.path} is a directory, not a pipeline file", hint="name a .py file")
        try:
            with open(self.path, "rb") as fh:
                compile(fh.read(), self.path, "exec")
        except SyntaxError as exc:
            raise PipelineError(
                f"{self.path}, line {exc.lineno}: syntax error: {exc.msg}",
                hint="fix the pipeline file; `python -m py_compile FILE` shows the same error",
            ) from exc
        return runpy.run_path(self.path, run_name="__main__")

    def run(self) -> list[Any]:
        """Run the file; the results of the jobs it executed (see the module docstring). With ``parallelism``,
        jobs that set none run with it (``MILLSTREAM_PARALLELISM`` while the file runs); with ``plan_only`` the
        first job is planned, not run, and :attr:`plan` holds its execution plan."""
        wanted: dict[str, Any] = {ENV_VAR: self.default_log, "MILLSTREAM_PARALLELISM": self.parallelism}
        if self.reactive is not None:
            from .job import SCHEDULER_MODE_ENV

            wanted[SCHEDULER_MODE_ENV] = "reactive"
            wanted["MILLSTREAM_PIPELINE"] = os.path.abspath(self.path)
            wanted["MILLSTREAM_BIND_HOST"] = self.reactive.get("data_address")
            wanted["MILLSTREAM_SESSION_TIMEOUT_MS"] = self.reactive.get("session_timeout_ms")
            wanted["MILLSTREAM_STABILIZATION_MS"] = self.reactive.get("stabilization_ms")
        saved = {k: os.environ.get(k) for k in wanted}
        folder = os.path.dirname(os.path.abspath(self.path))
        sys.path.insert(0, folder)  # a pipeline may import modules next to it, as `python FILE` allows
        for k, v in wanted.items():
            if v is not None:
                os.environ[k] = str(v)
        try:
            return self._run()
        except _PlanTaken:
            return []
        finally:
            if folder in sys.path:
                sys.path.remove(folder)
            for k, old in saved.items():
                if old is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = old

    def _run(self) -> list[Any]:
        with self._installed():
            namespace = self._load()
            if self.jobs_run == 0 and callable(namespace.get("build")):
                env = StreamExecutionEnvironment.get_execution_environment()
                namespace["build"](env)
                env.execute(os.path.splitext(os.path.basename(self.path))[0])
            elif self.jobs_run == 0 and callable(namespace.get("main")):
                namespace["main"]()
        if self.jobs_run == 0:
            raise PipelineError(
                f"pipeline file {self.path} ran no job",
                hint="call env.execute(), or define build(env) (millstream runs it) or main()",
            )
        return self.results


__all__ = ["PipelineError", "PipelineRunner"]
