"""The seed article's example (section 5.2) runs: 10 messages in, 10 'processed' messages out."""

from __future__ import annotations

from pathlib import Path

from .conftest import start_example, topic_values


def test_seed_example_processes_the_ten_messages(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'log'}"
    proc = start_example("seed_kafka_flink", url, tmp_path)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert topic_values(url, "topic_name_processed", bytes.decode) == [f"message {i} processed" for i in range(1, 11)]
