"""Find the runnable code blocks of the Markdown docs.

The marker is the word ``runnable`` in a fenced block's info string::

    ```python runnable
    ...
    ```

    ```sh runnable exit=2
    millstream topics describe nope
    ```

Languages: ``python`` (run with this Python) and ``sh``/``bash``/``console``/``shell`` (run with bash, where
``millstream`` is ``python -m millstream`` of this checkout and ``python`` this Python, ``set -euo pipefail``).
``exit=N`` says the block is expected to exit with N (default 0). ``file=NAME`` (any language, e.g.
```` ```properties runnable file=worker.properties````) writes the block to ``NAME`` in the page's directory
instead of running it, for
a later block to use.

A block may need data that the reader is not shown: an HTML comment right before it (any distance; it
applies to the next runnable block) holds a setup script, invisible when the Markdown is rendered::

    <!-- runnable-setup python
    from millstream.log import open_log
    ...
    -->

All blocks (and setups) of one document run in order, each in a fresh process, in one temporary directory
per document, so a block may build on what an earlier block of the same page did.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")
SETUP = re.compile(r"^\s*<!--\s*runnable-setup\s+(?P<lang>\w+)\s*$")
PYTHON = {"python", "py", "python3"}
SHELL = {"sh", "bash", "console", "shell"}


@dataclass
class Block:
    """One runnable block: where it is, its language, its code and what must run before it."""

    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    expect_exit: int = 0
    file: str | None = None  # write the code to this file instead of running it
    setup: list[tuple[str, str]] = field(default_factory=list)  # (lang, code)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def find_blocks(path: Path) -> list[Block]:
    """Every block of ``path`` marked runnable, in document order, with its pending setups."""
    lines = path.read_text().splitlines()
    blocks: list[Block] = []
    pending: list[tuple[str, str]] = []
    i = 0
    while i < len(lines):
        setup = SETUP.match(lines[i])
        if setup:
            body: list[str] = []
            i += 1
            while i < len(lines) and lines[i].strip() != "-->":
                body.append(lines[i])
                i += 1
            if i == len(lines):
                raise ValueError(f"{path}:{i}: runnable-setup comment is not closed with a line '-->'")
            pending.append((setup["lang"].lower(), "\n".join(body) + "\n"))
            i += 1
            continue
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        start = i
        marker, indent = fence["fence"], fence["indent"]
        words = fence["info"].split()
        body = []
        i += 1
        while i < len(lines) and not (
            lines[i].strip().startswith(marker) and lines[i].strip() == marker[0] * len(lines[i].strip())
        ):
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        i += 1
        if "runnable" not in words:
            continue
        lang = words[0].lower() if words else ""
        expect, file = 0, None
        for word in words:
            if word.startswith("exit="):
                expect = int(word[5:])
            elif word.startswith("file="):
                file = word[5:]
        if file is None and lang not in PYTHON | SHELL:
            raise ValueError(f"{path}:{start + 1}: a runnable block must be python or sh (or have file=), not {lang!r}")
        kind = "python" if lang in PYTHON else "sh" if lang in SHELL else lang
        blocks.append(Block(path, start + 1, kind, "\n".join(body) + "\n", expect, file=file, setup=pending))
        pending = []
    if pending:
        raise ValueError(f"{path}: a runnable-setup comment is not followed by a runnable block")
    return blocks
