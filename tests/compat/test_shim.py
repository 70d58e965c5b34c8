"""The pyflink import shim (millstream.compat.pyflink) and ``millstream run --pyflink``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from millstream.compat import pyflink as shim
from millstream.compat.pyflink.mapping import render

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def installed() -> Iterator[None]:
    shim.install()
    try:
        yield
    finally:
        shim.uninstall()


def test_pyflink_imports_are_millstream(installed: None) -> None:
    from pyflink.common import Types, WatermarkStrategy  # type: ignore[import-not-found]
    from pyflink.common.serialization import SimpleStringSchema  # type: ignore[import-not-found]
    from pyflink.datastream import StreamExecutionEnvironment  # type: ignore[import-not-found]
    from pyflink.datastream.connectors.kafka import (  # type: ignore[import-not-found]
        KafkaOffsetResetStrategy,
        KafkaSource,
    )

    import millstream
    from millstream.connectors import KafkaSource as MsKafkaSource

    assert StreamExecutionEnvironment is millstream.StreamExecutionEnvironment
    assert WatermarkStrategy is millstream.WatermarkStrategy and KafkaSource is MsKafkaSource
    assert Types.STRING() is not None and SimpleStringSchema and KafkaOffsetResetStrategy.LATEST == "latest"


def test_missing_apis_name_themselves(installed: None) -> None:
    with pytest.raises(shim.PyFlinkAPIMissing, match=r"pyflink\.datastream\.connectors\.kafka\.FlinkKafkaConsumer"):
        from pyflink.datastream.connectors.kafka import FlinkKafkaConsumer  # type: ignore[import-not-found]  # noqa: F401
    with pytest.raises(shim.PyFlinkAPIMissing, match=r"module pyflink\.table.*Table API"):
        import pyflink.table  # type: ignore[import-not-found]
    with pytest.raises(shim.PyFlinkAPIMissing, match=r"pyflink\.nothing"):
        import pyflink.nothing  # type: ignore[import-not-found]  # noqa: F401


def test_never_shadows_a_real_pyflink_unasked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "pyflink"
    fake.mkdir()
    (fake / "__init__.py").write_text("REAL = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(shim.PyFlinkShadowError, match="real PyFlink"):
        shim.install()
    assert not shim.installed()
    shim.install(shadow=True)
    try:
        import pyflink  # type: ignore[import-not-found]

        assert vars(pyflink).get("__millstream__") and "REAL" not in vars(pyflink)
    finally:
        shim.uninstall()
    import pyflink as real  # type: ignore[import-not-found]

    assert real.REAL
    del sys.modules["pyflink"]


def test_run_pyflink_cli(tmp_path: Path) -> None:
    ok = tmp_path / "job.py"
    ok.write_text(
        "from pyflink.common import Types\n"
        "from pyflink.datastream import StreamExecutionEnvironment\n"
        "env = StreamExecutionEnvironment.get_execution_environment()\n"
        "env.from_collection([1, 2], type_info=Types.INT()).map(lambda x: (x, x > 1),"
        " output_type=Types.TUPLE([Types.INT(), Types.BOOLEAN()])).print()\n"
        "env.execute()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "millstream", "run", "--pyflink", "-q", str(ok)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["(1,false)", "(2,true)"]
    bad = tmp_path / "bad.py"
    bad.write_text("from pyflink.table import StreamTableEnvironment\n")
    proc = subprocess.run(
        [sys.executable, "-m", "millstream", "run", "--pyflink", "-q", str(bad)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "pyflink.table" in proc.stderr and "pyflink-compat.md" in proc.stderr


def test_mapping_page_is_current() -> None:
    text = (ROOT / "docs" / "pyflink-compat.md").read_text(encoding="utf-8")
    start = text.index("<!-- generated: mapping -->") + len("<!-- generated: mapping -->")
    end = text.index("<!-- end generated -->")
    assert text[start:end].strip() == render().strip(), "regenerate: python -m millstream.compat.pyflink.mapping"
