"""The CLI reference (``docs/cli-reference.md``), generated from the commands' own ``--help``.

``python -m millstream.cli.reference [PATH]`` walks the ``millstream`` click command tree (every group and
command, subcommands in the order ``--help`` lists them) and writes one section per command holding exactly
what ``millstream ... --help`` prints, at a fixed width of 100 columns so the output does not depend on the
terminal. ``--check`` compares instead of writing and exits with 1 when the file is stale.
``tests/docs/test_cli_reference.py`` runs the check.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click

WIDTH = 100
DEFAULT_PATH = Path("docs") / "cli-reference.md"
REGENERATE = "PYTHONPATH=src python -m millstream.cli.reference"

HEADER = f"""# CLI reference

<!-- Generated from `millstream ... --help` by `{REGENERATE}`; do not edit by hand. -->

Every command and subcommand of `millstream`, with its `--help` text. Overview and exit codes:
[cli.md](cli.md); configuration: [configuration.md](configuration.md).
"""


def _context(cmd: click.Command, name: str, parent: click.Context | None) -> click.Context:
    # make_context applies the command's context_settings (e.g. -h) as a real invocation does
    return cmd.make_context(
        name, [], parent=parent, resilient_parsing=True, terminal_width=WIDTH, max_content_width=WIDTH
    )


def _walk(cmd: click.Command, ctx: click.Context) -> Iterator[tuple[click.Context, click.Command]]:
    yield ctx, cmd
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is None or sub.hidden:
                continue
            yield from _walk(sub, _context(sub, name, ctx))


def render() -> str:
    """The whole reference as Markdown (deterministic: fixed width, no terminal or environment input)."""
    from . import cli

    root = _context(cli, "millstream", None)
    parts = [HEADER]
    toc: list[str] = []
    sections: list[str] = []
    for ctx, cmd in _walk(cli, root):
        path = ctx.command_path
        anchor = path.replace(" ", "-")
        toc.append(f"- [`{path}`](#{anchor})")
        help_text = cmd.get_help(ctx).rstrip()
        sections.append(f"## {path}\n\n```text\n{help_text}\n```\n")
    parts.append("\n".join(toc) + "\n")
    parts.extend(sections)
    return "\n".join(parts)


@click.command()
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--check", is_flag=True, help="Exit with 1 if PATH differs from the generated reference.")
def main(path: Path | None, check: bool) -> None:
    """Write (or --check) the CLI reference at PATH (default docs/cli-reference.md)."""
    target = path or DEFAULT_PATH
    text = render()
    if check:
        current = target.read_text() if target.exists() else ""
        if current != text:
            click.echo(f"{target} is stale: regenerate it with `{REGENERATE}`", err=True)
            sys.exit(1)
        click.echo(f"{target} is up to date")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    click.echo(f"wrote {target}")


if __name__ == "__main__":
    main()
