"""``millstream bench [NAME] [ARGS...]`` — run a benchmark script ``benchmarks/NAME_bench.py`` and print its
figures.

Benchmarks live in the source tree (``benchmarks/`` of a checkout), not in the installed package: the
directory is ``--dir``, else ``$MILLSTREAM_BENCHMARKS``, else ``./benchmarks``. Without a name the command
lists the benchmarks found. Arguments after the name go to the script unchanged (``millstream bench engine
-- --events 100000``). The script runs in a child process with this Python and its output is passed through;
the exit code is the script's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

from ..core.errors import ConfigError
from .common import handle_errors


def _bench_dir(given: str | None) -> Path:
    path = Path(given or os.environ.get("MILLSTREAM_BENCHMARKS") or "benchmarks")
    if not path.is_dir():
        raise ConfigError(
            f"no benchmarks directory at {path}",
            hint="run from a millstream checkout, or pass --dir PATH (or set MILLSTREAM_BENCHMARKS)",
        )
    return path


def _found(folder: Path) -> list[str]:
    return sorted(p.name[: -len("_bench.py")] for p in folder.glob("*_bench.py"))


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("name", required=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--dir", "bench_dir", metavar="PATH", help="Where the *_bench.py scripts are (default ./benchmarks).")
@handle_errors
def bench(name: str | None, args: tuple[str, ...], bench_dir: str | None) -> None:
    """Run benchmarks/NAME_bench.py and print its figures (no NAME: list them)."""
    folder = _bench_dir(bench_dir)
    names = _found(folder)
    if name is None:
        for n in names:
            click.echo(n)
        return
    script = folder / f"{name.removesuffix('_bench.py').removesuffix('_bench')}_bench.py"
    if not script.is_file():
        raise ConfigError(f"no benchmark named {name!r} in {folder}", hint=f"known: {', '.join(names) or 'none'}")
    env = dict(os.environ)
    src = Path(__file__).resolve().parents[2]  # the directory holding the millstream package
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(src), env.get("PYTHONPATH", "")) if p)
    code = subprocess.call([sys.executable, str(script), *args], env=env)
    if code:
        click.get_current_context().exit(code)


__all__ = ["bench"]
