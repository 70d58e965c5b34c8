"""Shared CLI plumbing: the ``--log`` option, opening the log, and turning errors into one clear line.

Exit codes follow shell conventions: 0 success, 1 a runtime error (unknown topic, broker down, bad data),
2 a usage/config error (bad flag or URL), 130 interrupted (Ctrl-C). A :class:`MillstreamError` is printed as
``error: <message>`` plus ``hint: <what to do>`` on stderr without a traceback; anything else is a bug and
shows its traceback. ``--verbose`` shows tracebacks for all errors.
"""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import click

from ..core.errors import LogError, MillstreamError
from ..log import ENV_VAR, Log, default_log_url, open_log

F = TypeVar("F", bound=Callable[..., Any])


def log_option(func: F) -> F:
    """Add ``--log URL`` (env ``MILLSTREAM_LOG``, default ``file://./.millstream``) and ``--property k=v``."""
    func = click.option(
        "--property",
        "-X",
        "properties",
        multiple=True,
        metavar="KEY=VALUE",
        help="Client property passed to the log backend (e.g. Kafka's security.protocol=SASL_SSL). Repeatable.",
    )(func)
    func = click.option(
        "--log",
        "log_url",
        envvar=ENV_VAR,
        metavar="URL",
        help="Log to use: file://PATH (embedded, default file://./.millstream), memory://, kafka://HOST:PORT. "
        f"Env: {ENV_VAR}.",
    )(func)
    return func


def parse_pairs(pairs: tuple[str, ...], what: str) -> dict[str, str]:
    """Parse ``KEY=VALUE`` arguments; a malformed one is a usage error naming it."""
    out: dict[str, str] = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=what)
        out[key.strip()] = value
    return out


def get_log(log_url: str | None, properties: tuple[str, ...] = (), *, must_exist: bool = False) -> Log:
    """Open the log named by ``--log`` / ``$MILLSTREAM_LOG`` / the embedded default.

    ``--property`` pairs go to the backend: librdkafka properties for ``kafka://``; for ``file://`` they are
    the embedded log's URL options (``-X synchronous=full`` = ``file://PATH?synchronous=full``). A read-only
    command says ``must_exist``: an embedded log that does not exist is then an error (a mistyped path),
    not a new empty log.
    """
    if must_exist:
        url = log_url or default_log_url()
        scheme, _sep, rest = url.partition("://")
        path = rest.split("?", 1)[0]
        if scheme.lower() == "file" and path and not (Path(path) / "log.db").exists():
            raise LogError(
                f"there is no log at {url} ({Path(path).resolve()} holds no log.db)",
                hint="check --log / $MILLSTREAM_LOG; a log is created by the commands that write to it "
                "(topics create, produce, run)",
            )
    props = parse_pairs(properties, "--property")
    if not props:
        return open_log(log_url)
    url = log_url or default_log_url()
    scheme = url.partition("://")[0].lower()
    if scheme == "file":  # the embedded log's options (synchronous, busy_timeout_ms, ...) travel in its URL
        return open_log(url + ("&" if "?" in url else "?") + urlencode(props))
    return open_log(url, properties=props)


def command_name() -> str:
    """How to type ``millstream`` again in a hint: ``millstream`` when that is on PATH and is this program,
    else the path this run was started with (``.venv/bin/millstream``) or ``python -m millstream``."""
    import os
    import shutil

    def short(path: str) -> str:  # relative when below the working directory, else as it is
        rel = os.path.relpath(path)
        return path if rel.startswith("..") else rel

    argv0 = sys.argv[0] if sys.argv else ""
    if argv0.endswith("__main__.py") or not argv0:
        return f"{short(sys.executable) if sys.executable else 'python'} -m millstream"
    on_path = shutil.which("millstream")
    if on_path and os.path.realpath(on_path) == os.path.realpath(argv0):
        return "millstream"
    return short(argv0)


def handle_errors(func: F) -> F:
    """Run a command, printing millstream errors as one clear line and mapping them to exit codes."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        verbose = bool(ctx.find_root().params.get("verbose"))
        try:
            return func(*args, **kwargs)
        except MillstreamError as exc:
            if verbose:
                traceback.print_exc()
            click.echo(f"error: {exc.message}", err=True)
            if exc.hint:
                click.echo(f"hint: {exc.hint}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except BrokenPipeError:  # e.g. `millstream consume ... | head`
            sys.stderr.close()
            ctx.exit(0)

    return wrapper  # type: ignore[return-value]
