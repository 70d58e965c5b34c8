"""Configuration tables for the docs, generated from the declared :class:`~millstream.connect.config.ConfigDef` s.

``python -m millstream.connect.config_reference [PATH]`` rewrites every generated region of a Markdown file
(default ``docs/configuration.md``)::

    <!-- BEGIN GENERATED: worker -->
    ...table...
    <!-- END GENERATED: worker -->

Regions (see :data:`SECTIONS`): ``worker`` (worker properties), ``connector-common``, ``connector-source``,
``connector-sink`` (the framework's connector options), ``connectors`` (the options of every built-in
connector plugin) and ``transforms`` (every built-in transform, predicate and converter with its options).
``--check`` compares instead of writing and exits with 1 when a region is stale; the docs tests run it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

import click

from .config import ConfigDef, ConfigKey
from .connector_config import common_config_def, sink_config_def, source_config_def
from .plugins import REGISTRY, PluginDesc
from .worker_config import worker_config_def

DEFAULT_PATH = Path("docs") / "configuration.md"
REGENERATE = "PYTHONPATH=src python -m millstream.connect.config_reference"
REGION = re.compile(
    r"(<!-- BEGIN GENERATED: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- END GENERATED: (?P=name) -->)", re.S
)


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def _default(key: ConfigKey) -> str:
    if key.required:
        return "*required*"
    value = key.default_as_string()
    if value is None:
        return "null"
    return f"`{value}`" if value != "" else '`""`'


def table(definition: ConfigDef, *, skip: frozenset[str] = frozenset()) -> str:
    """One Markdown table row per declared, non-internal option: name, type, default, valid values, doc."""
    rows = ["| option | type | default | valid values | description |", "|---|---|---|---|---|"]
    for key in definition.config_keys():
        if key.internal or key.name in skip:
            continue
        valid = _cell(str(key.validator)) if key.validator is not None and str(key.validator) else ""
        if valid.startswith("<function") or valid.startswith("<"):
            valid = ""
        rows.append(
            f"| `{key.name}` | {key.type.value.lower()} | {_cell(_default(key))} | {valid} | "
            f"{_cell(key.documentation)} |"
        )
    return "\n".join(rows) + "\n"


def _builtin(kinds: tuple[str, ...]) -> list[PluginDesc]:
    # plugins of other installed packages (entry points) are not millstream's to document
    return [d for d in REGISTRY.plugins(kinds) if d.class_name.startswith("millstream.")]


def _connectors() -> str:
    common = set(common_config_def().names()) | set(sink_config_def().names()) | set(source_config_def().names())
    out: list[str] = []
    for desc in _builtin(("source", "sink")):
        cls = REGISTRY.load_plugin(desc)
        definition: ConfigDef = cls().config() if hasattr(cls, "config") else cls.CONFIG_DEF
        names = ", ".join(f"`{a}`" for a in dict.fromkeys(desc.aliases))
        out.append(f"#### {desc.class_name.rsplit('.', 1)[-1]} ({desc.type})\n\n`connector.class`: {names}\n")
        body = table(definition, skip=frozenset(common))
        out.append(body if body.count("\n") > 2 else "No options of its own.\n")
    return "\n".join(out)


def _plugins() -> str:
    rows = ["| plugin | kind | options |", "|---|---|---|"]
    for desc in _builtin(("transformation", "predicate", "converter", "header_converter")):
        cls = REGISTRY.load_plugin(desc)
        definition: ConfigDef | None = getattr(cls, "CONFIG_DEF", None)
        keys = [k for k in definition.config_keys() if not k.internal] if definition is not None else []
        options = ", ".join(f"`{k.name}`" + ("" if k.required else f" ({_default(k)})") for k in keys)
        name = desc.aliases[0] if desc.aliases else desc.class_name
        rows.append(f"| `{name}` | {desc.type.replace('_', ' ')} | {_cell(options) or '—'} |")
    return "\n".join(rows) + "\n"


SECTIONS: dict[str, Callable[[], str]] = {
    "worker": lambda: table(worker_config_def()),
    "connector-common": lambda: table(common_config_def()),
    "connector-source": lambda: table(source_config_def(), skip=frozenset(common_config_def().names())),
    "connector-sink": lambda: table(sink_config_def(), skip=frozenset(common_config_def().names())),
    "connectors": _connectors,
    "transforms": _plugins,
}


def regenerate(text: str) -> str:
    """``text`` with every generated region replaced by its current content; an unknown region is an error."""

    def replace(m: re.Match[str]) -> str:
        name = m["name"]
        if name not in SECTIONS:
            raise click.ClickException(f"unknown generated region {name!r}; known: {', '.join(SECTIONS)}")
        return m.group(1) + "\n" + SECTIONS[name]() + "\n" + m.group(4)

    return REGION.sub(replace, text)


@click.command()
@click.argument("path", required=False, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--check", is_flag=True, help="Exit with 1 if a generated region of PATH is stale.")
def main(path: Path | None, check: bool) -> None:
    """Regenerate (or --check) the configuration tables in PATH (default docs/configuration.md)."""
    target = path or DEFAULT_PATH
    current = target.read_text()
    text = regenerate(current)
    if check:
        if text != current:
            click.echo(f"{target} has stale configuration tables: regenerate them with `{REGENERATE}`", err=True)
            sys.exit(1)
        click.echo(f"{target} is up to date")
        return
    target.write_text(text)
    click.echo(f"wrote {target}")


if __name__ == "__main__":
    main()
