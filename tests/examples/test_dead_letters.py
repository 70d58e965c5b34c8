"""The dead-letters example: good orders are priced, broken ones land in the dead-letter topic, the job ends."""

from __future__ import annotations

from pathlib import Path

from .conftest import start_example, topic_values


def test_broken_orders_go_to_the_dead_letter_topic_and_the_rest_is_priced(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'log'}"
    proc = start_example("dead_letters", url, tmp_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    priced = topic_values(url, "orders-priced")
    assert [o["id"] for o in priced] == [1, 2, 4, 6, 8]
    assert priced[0] == {"id": 1, "item": "book", "total": 25.0}
    dead = topic_values(url, "orders-dead-letters")
    assert [d["error"].split(":")[0] for d in dead] == ["ValueError", "JSONDecodeError", "KeyError"]
    assert all(d["operator"] == "parse order" for d in dead)
    assert '"qty": "two"' in dead[0]["line"]
    assert out.count("dead letter>") == 3
