"""The log contract suite against ``memory://`` and ``file://`` (the embedded log on disk)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from millstream.log import Log, open_log

from .contract import LogContract


class TestMemoryLog(LogContract):
    @pytest.fixture
    def log(self) -> Iterator[Log]:
        with open_log("memory://") as log:
            yield log


class TestEmbeddedLog(LogContract):
    @pytest.fixture
    def log(self, tmp_path: Path) -> Iterator[Log]:
        with open_log(f"file://{tmp_path / 'log'}") as log:
            yield log


class TestEmbeddedLogSmallChunks(LogContract):
    """The embedded log with tiny stored batches, so every test also crosses batch-row boundaries."""

    @pytest.fixture
    def log(self, tmp_path: Path) -> Iterator[Log]:
        with open_log(f"file://{tmp_path / 'log'}", chunk_records=3, chunk_bytes=256) as log:
            yield log
