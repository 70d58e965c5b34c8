"""The runnable-block finder itself: markers, setups, exit codes, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from .blocks import find_blocks


def test_finds_marked_blocks_with_setup_and_exit(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text(
        "text\n```python\nnot run\n```\n<!-- runnable-setup sh\nmillstream topics create t\n-->\n"
        "```python runnable\nprint(1)\n```\n\n```sh runnable exit=2\nmillstream nope\n```\n"
        "```properties runnable file=w.properties\na=b\n```\n"
    )
    blocks = find_blocks(page)
    assert [(b.line, b.lang, b.code, b.expect_exit) for b in blocks] == [
        (8, "python", "print(1)\n", 0),
        (12, "sh", "millstream nope\n", 2),
        (15, "properties", "a=b\n", 0),
    ]
    assert blocks[2].file == "w.properties"
    assert blocks[0].setup == [("sh", "millstream topics create t\n")]
    assert blocks[1].setup == []


def test_rejects_unknown_language_and_dangling_setup(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text("```toml runnable\nx = 1\n```\n")
    with pytest.raises(ValueError, match=r"p\.md:1"):
        find_blocks(page)
    page.write_text("<!-- runnable-setup python\nprint(1)\n-->\nno block\n")
    with pytest.raises(ValueError, match="not followed"):
        find_blocks(page)
