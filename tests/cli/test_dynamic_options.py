"""``millstream run -D KEY=VALUE`` (Flink's ``flink run -D``) and ``env.configure``: Flink's configuration keys
for the checkpoint interval and directory, max parallelism, runtime mode; the pipeline's own settings win."""

from __future__ import annotations

from pathlib import Path

import pytest

from millstream import StreamExecutionEnvironment
from millstream.common import Configuration
from millstream.stream.errors import JobConfigError
from tests.cli.test_cli_embedded import sh

PIPELINE = """
import os
from millstream import StreamExecutionEnvironment

def build(env: StreamExecutionEnvironment) -> None:
    if os.environ.get("OWN_INTERVAL"):
        env.enable_checkpointing(int(os.environ["OWN_INTERVAL"]))
    cfg = env.get_checkpoint_config()
    print("interval", cfg.get_checkpoint_interval(), "dir", cfg.get_checkpoint_storage(), flush=True)
    env.from_collection(list(range(5))).map(lambda x: x * 2).print()
"""


def test_configure_applies_flinks_keys() -> None:
    conf = Configuration()
    conf.set_string("execution.checkpointing.interval", "10 s")
    conf.set_string("state.checkpoints.dir", "file:///tmp/old-name")
    conf.set_string("pipeline.max-parallelism", "64")
    conf.set_string("my.own", "x")
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    cfg = env.get_checkpoint_config()
    assert cfg.get_checkpoint_interval() == 10_000 and cfg.get_checkpoint_storage() == "/tmp/old-name"
    assert env.get_max_parallelism() == 64 and env.config.params["my.own"] == "x"
    env.configure({"execution.checkpointing.dir": "/shared/ckpt", "state.checkpoints.dir": "/old"})
    assert cfg.get_checkpoint_storage() == "/shared/ckpt"  # Flink 2's name wins over the deprecated one
    with pytest.raises(JobConfigError, match="cannot read the duration"):
        env.configure({"execution.checkpointing.interval": "often"})
    with pytest.raises(TypeError, match="Configuration or a dict"):
        env.configure("execution.checkpointing.interval=1s")


def test_run_dash_d_sets_what_the_pipeline_left_unset(tmp_path: Path) -> None:
    job = tmp_path / "job.py"
    job.write_text(PIPELINE)
    ckpt = tmp_path / "ckpt"
    args = [
        "run",
        str(job),
        "-q",
        "-D",
        "execution.checkpointing.interval=250ms",
        "-D",
        f"execution.checkpointing.dir={ckpt}",
    ]
    proc = sh(*args)
    assert proc.returncode == 0, proc.stderr
    assert f"interval 250 dir {ckpt}" in proc.stdout and "8" in proc.stdout
    proc = sh(*args, env={"OWN_INTERVAL": "700"})  # the pipeline's own interval wins
    assert proc.returncode == 0, proc.stderr
    assert f"interval 700 dir {ckpt}" in proc.stdout


def test_run_dash_d_without_a_value_is_one_clear_error(tmp_path: Path) -> None:
    job = tmp_path / "job.py"
    job.write_text(PIPELINE)
    proc = sh("run", str(job), "-D", "execution.checkpointing.interval")
    assert proc.returncode == 2
    assert "is not KEY=VALUE" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("mode", ["single", "parallel", "reactive"])
def test_an_unusable_checkpoint_directory_is_one_clear_error(tmp_path: Path, mode: str) -> None:
    """A checkpoint directory under a file (or unwritable) stops the job before it starts, naming it and the fix —
    on one process, on worker processes, and on a reactive job's leader."""
    job = tmp_path / "job.py"
    job.write_text(PIPELINE)
    (tmp_path / "a-file").write_text("")
    extra = {"single": [], "parallel": ["-p", "2"]}.get(mode)
    if extra is None:
        extra = ["--reactive", "--job-id", "rx", "--log", f"file://{tmp_path}/log", "--stabilization-ms", "0"]
    options = [
        "-D",
        "execution.checkpointing.interval=200ms",
        "-D",
        f"execution.checkpointing.dir={tmp_path}/a-file/ckpt",
    ]
    proc = sh("run", str(job), "-q", *extra, *options)
    assert proc.returncode == 2, proc.stderr
    assert f"the checkpoint directory {tmp_path}/a-file/ckpt cannot be used: Not a directory" in proc.stderr
    assert "hint: set a directory this process can create and write" in proc.stderr
    assert "Traceback" not in proc.stderr
