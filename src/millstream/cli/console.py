"""``millstream console --log URL [--port 8081] [--jobs URL ...] [--connect URL ...]`` — the web console.

Serves the console (:mod:`millstream.console`) over the log at ``--log`` until Ctrl-C/SIGTERM, printing its
URL. ``--jobs`` names a running job's ``--metrics-port`` root (``http://127.0.0.1:9249``; repeatable) whose
jobs to show, ``--connect`` a Connect worker's REST root (repeatable); ``--client-auth user:password`` is
sent to both. ``--users-file`` asks the console's own visitors for basic credentials (Kafka's users-file
format, as the Connect worker's). ``--advice`` prints the tuning advice of the jobs at ``--jobs`` and exits.
A port in use is one ``error:`` line and exit code 2.
"""

from __future__ import annotations

import errno
import signal
import threading

import click

from ..core.errors import ConfigError
from .common import handle_errors, log_option


@click.command()
@log_option
@click.option("--port", type=click.IntRange(0, 65535), default=8081, show_default=True, help="Port (0: a free one).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--jobs", "jobs_urls", multiple=True, metavar="URL", help="A job's metrics server (--metrics-port).")
@click.option("--connect", "connect_urls", multiple=True, metavar="URL", help="A Connect worker's REST API.")
@click.option("--client-auth", metavar="USER:PASSWORD", help="Basic credentials for the --jobs/--connect servers.")
@click.option(
    "--users-file", type=click.Path(dir_okay=False), help="Ask visitors for basic credentials from this file."
)
@click.option("--advice", is_flag=True, help="Print the tuning advice of the jobs at --jobs and exit.")
@handle_errors
def console(
    log_url: str | None,
    properties: tuple[str, ...],
    port: int,
    host: str,
    jobs_urls: tuple[str, ...],
    connect_urls: tuple[str, ...],
    client_auth: str | None,
    users_file: str | None,
    advice: bool,
) -> None:
    """Serve the web console: overview and lineage, jobs, topics and messages, consumer groups, connectors."""
    from ..console import ConsoleServer, HttpClient, RemoteJobs, format_advice
    from ..http.auth import BasicAuth
    from ..log import default_log_url

    if properties:
        raise ConfigError("--property is not used by the console", hint="put log options in the --log URL")
    if advice:
        if not jobs_urls:
            raise ConfigError("--advice needs --jobs URL", hint="point it at a running job's --metrics-port")
        for url in jobs_urls:
            source = RemoteJobs(HttpClient(url, client_auth))
            for j in source.list():
                full = HttpClient(url, client_auth).request("GET", f"/console/api/jobs/{j['jid']}")[1]
                click.echo(format_advice(full, full.get("advice", [])))
        return
    auth = BasicAuth.from_file(users_file) if users_file else None
    try:
        server = ConsoleServer(
            log_url or default_log_url(),
            port,
            host,
            jobs_urls=jobs_urls,
            connect_urls=connect_urls,
            client_auth=client_auth,
            auth=auth,
        )
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"--port {port}: the port is already in use", hint="pick another, or 0") from None
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    click.echo(f"console: {server.url}")
    click.echo(f"log:     {server.console.log_url()}")
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.close()
