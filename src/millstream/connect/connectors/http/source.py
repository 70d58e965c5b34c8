"""``HttpSourceConnector`` (alias ``HttpSource``): polls a REST endpoint into a topic, resuming from offsets.

Modelled on the community kafka-connect-http source (castorm's): every ``http.timer.interval.millis`` the task
requests ``http.request.url`` (with ``http.request.params``, ``http.request.headers`` and, for POST,
``http.request.body``), takes the JSON array at ``http.response.list.pointer`` and makes one record per element
in ``kafka.topic``. ``${offset.name}`` placeholders in the URL, params, headers and body are replaced by the
current source offset, so each request asks only for what is new.

Source offset (one source partition ``{"url": <http.request.url as configured>}``):
  the values named in ``http.response.record.offset.pointer`` (``name=/pointer`` pairs, e.g.
  ``id=/id,ts=/updated_at``) taken from the record, plus ``next_page`` when ``http.response.next.page.pointer``
  is set. Before any record the offset is ``http.offset.initial`` (``name=value`` pairs) or, after a restart,
  the offset the worker committed last.

One poll, when the timer is due (``poll`` otherwise waits at most half a second and returns nothing):
  1. Render the request from the current offset. An offset ``next_page`` that is an ``http(s)://`` URL is
     requested as it is (link pagination); any other ``next_page`` is a token the templates use.
  2. Send it with retries and backoff (:mod:`.client`, the sink's option names). When retries are exhausted
     ``poll`` raises :class:`~.client.HttpRequestError` and the task fails with the URL, status and body.
  3. Parse the body as JSON and resolve ``http.response.list.pointer``; a body that is not JSON, a pointer
     that leads nowhere or to something other than an array raises :class:`HttpSourceResponseError`, naming
     the URL and the pointer. With ``errors.tolerance=all`` the error is reported as Connect reports a
     failed record (logged with ``errors.log.enable``), the response is skipped, the offset stays, and the
     request is made again at the next timer tick.
  4. Per element (in ``http.response.list.order.direction`` order: ``asc``, or ``desc`` = newest first,
     reversed here): the value at ``http.response.record.pointer``, the key from
     ``http.response.record.key.pointer``, the timestamp from ``http.response.record.timestamp.pointer``,
     and its offset. Elements whose offset is not after the current offset (compared as a tuple in the
     declared order; numbers numerically, other values as text) are skipped: the endpoint may answer
     "since" inclusively, pages may overlap, and after a restart nothing up to the committed offset is read
     again. An element missing an offset or key value is a bad record (fails the task, or is skipped and
     reported with ``errors.tolerance=all``).
  5. Pagination within the poll: with ``http.response.next.page.pointer``, a non-empty value there (other
     than the current one) becomes ``offset.next_page`` and the next page is requested at once; the last
     record of a page carries it, so a restart continues with the next page. Without it, the request is
     repeated at once while a page gave new records and the rendered request changed (``since=${offset.id}``
     style). At most ``http.request.max.pages`` requests per poll; when that cap stops a poll, the next one is
     due after ``http.timer.catchup.interval.millis``.

Records are appended by the worker before their offsets are committed (at least once); records are ordered
by offset, so the worker commits the last record's offset and a restart resumes right after it.
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

import orjson

from ....core.errors import ConnectError
from ...api import SourceConnector, SourceTask, Task
from ...config import NO_DEFAULT, ConfigDef, ConfigValue, Importance, Range, Type, ValidString
from ...data import OPTIONAL_STRING_SCHEMA, SourceRecord
from ...errors import ConnectorConfigError
from ...tolerance import FAILED, ErrorHandler, Stage
from .client import HttpSender, SenderClosedError, parse_headers
from .options import define_client_options, make_pool, sender_args
from .pointer import MISSING, PointerError, lookup, parse, placeholders, render, resolve

log = logging.getLogger(__name__)

HTTP_SOURCE_CLASS = "millstream.connect.connectors.http.HttpSourceConnector"
NEXT_PAGE = "next_page"
"""The offset field holding the next page's token or link."""


class HttpSourceResponseError(ConnectError):
    """A response the source cannot read: not JSON, or a pointer that leads nowhere; names URL and pointer."""


def parse_pairs(text: str, what: str, sep: str = ",") -> dict[str, str]:
    """``name=value`` pairs separated by ``sep`` (blank entries ignored); ``ValueError`` naming ``what``."""
    out: dict[str, str] = {}
    for part in (text or "").split(sep):
        if not part.strip():
            continue
        if "=" not in part:
            raise ValueError(f"{what} entry {part.strip()!r} is not name=value")
        name, value = part.split("=", 1)
        out[name.strip()] = value.strip()
    return out


def _pointer(name: str, value: Any) -> None:
    if value:
        parse(str(value))


def _offset_pointers(name: str, value: Any) -> None:
    for field, ptr in parse_pairs(str(value or ""), name).items():
        if not field:
            raise ValueError(f"an entry has no offset name before '=' ({ptr!r})")
        parse(ptr)


def _key_pointers(name: str, value: Any) -> None:
    for ptr in str(value or "").split(","):
        if ptr.strip():
            parse(ptr)


def _pairs(name: str, value: Any) -> None:
    parse_pairs(str(value or ""), name, "&" if name.endswith("params") else ",")


def _url(name: str, value: Any) -> None:
    if not str(value or "").startswith(("http://", "https://")):
        raise ValueError("not an http:// or https:// URL")


def _headers(name: str, value: Any) -> None:
    parse_headers(str(value or ""), ",")


def _definition() -> ConfigDef:
    d = (
        ConfigDef()
        .define(
            "http.request.url",
            Type.STRING,
            NO_DEFAULT,
            validator=_url,
            importance=Importance.HIGH,
            group="Request",
            documentation="Endpoint URL (http:// or https://); ${offset.name} placeholders are replaced by the "
            "current offset (URL-encoded).",
        )
        .define(
            "http.request.method",
            Type.STRING,
            "GET",
            validator=ValidString("GET", "POST", case_insensitive=True),
            importance=Importance.MEDIUM,
            group="Request",
            documentation="HTTP method.",
        )
        .define(
            "http.request.params",
            Type.STRING,
            "",
            validator=_pairs,
            importance=Importance.MEDIUM,
            group="Request",
            documentation="Query parameters as name=value pairs separated by '&' (values may use "
            "${offset.name}; they are URL-encoded).",
        )
        .define(
            "http.request.headers",
            Type.STRING,
            "",
            validator=_headers,
            importance=Importance.MEDIUM,
            group="Request",
            documentation="Headers as Name:Value pairs separated by ',' (values may use ${offset.name}).",
        )
        .define(
            "http.request.body",
            Type.STRING,
            "",
            importance=Importance.LOW,
            group="Request",
            documentation="Request body for POST (may use ${offset.name}); sent as application/json.",
        )
        .define(
            "http.timer.interval.millis",
            Type.LONG,
            60_000,
            validator=Range.at_least(0),
            importance=Importance.HIGH,
            group="Timer",
            documentation="Time between polls of the endpoint.",
        )
        .define(
            "http.timer.catchup.interval.millis",
            Type.LONG,
            30_000,
            validator=Range.at_least(0),
            importance=Importance.LOW,
            group="Timer",
            documentation="Time before the next poll when the last one stopped at http.request.max.pages.",
        )
        .define(
            "http.request.max.pages",
            Type.INT,
            100,
            validator=Range.at_least(1),
            importance=Importance.LOW,
            group="Timer",
            documentation="Most requests (pages) in one poll.",
        )
        .define(
            "http.response.list.pointer",
            Type.STRING,
            "/",
            validator=_pointer,
            importance=Importance.HIGH,
            group="Response",
            documentation="JSON pointer to the array of records in the response ('/' = the whole body).",
        )
        .define(
            "http.response.record.pointer",
            Type.STRING,
            "/",
            validator=_pointer,
            importance=Importance.LOW,
            group="Response",
            documentation="JSON pointer to the record value inside each element ('/' = the element).",
        )
        .define(
            "http.response.record.offset.pointer",
            Type.STRING,
            "",
            validator=_offset_pointers,
            importance=Importance.HIGH,
            group="Response",
            documentation="Offset fields as name=/pointer pairs separated by ',' (pointers into each element), "
            "e.g. id=/id,ts=/updated_at; records must come in increasing order of them.",
        )
        .define(
            "http.response.record.key.pointer",
            Type.STRING,
            "",
            validator=_key_pointers,
            importance=Importance.MEDIUM,
            group="Response",
            documentation="JSON pointers (separated by ',') to the record key inside each element; several "
            "are joined with '+'. Empty = null keys.",
        )
        .define(
            "http.response.record.timestamp.pointer",
            Type.STRING,
            "",
            validator=_pointer,
            importance=Importance.LOW,
            group="Response",
            documentation="JSON pointer to the record timestamp (epoch milliseconds or ISO-8601 text) inside "
            "each element. Empty = the time of appending.",
        )
        .define(
            "http.response.next.page.pointer",
            Type.STRING,
            "",
            validator=_pointer,
            importance=Importance.MEDIUM,
            group="Response",
            documentation="JSON pointer to the next page's token or URL in the response; it is kept as "
            "offset.next_page. Empty = page by offset only.",
        )
        .define(
            "http.response.list.order.direction",
            Type.STRING,
            "asc",
            validator=ValidString("asc", "desc", case_insensitive=True),
            importance=Importance.LOW,
            group="Response",
            documentation="Order of the array: asc (oldest first) or desc (newest first).",
        )
        .define(
            "http.offset.initial",
            Type.STRING,
            "",
            validator=_pairs,
            importance=Importance.MEDIUM,
            group="Offsets",
            documentation="Offset before the first record, as name=value pairs separated by ','.",
        )
        .define(
            "kafka.topic",
            Type.STRING,
            NO_DEFAULT,
            importance=Importance.HIGH,
            group="Records",
            documentation="Topic the records are written to.",
        )
    )
    return define_client_options(d, max_retries=5, backoff_ms=1000, backoff_max_ms=30_000)


CONFIG_DEF = _definition()
"""The source's options; the retry, timeout, pool and TLS ones come from :mod:`.options`."""


class _Settings:
    """The parsed, cross-checked config of one source task."""

    def __init__(self, props: Mapping[str, Any]) -> None:
        v = self.values = CONFIG_DEF.parse(props, connector_class=HTTP_SOURCE_CLASS)
        self.url = str(v["http.request.url"])
        self.method = str(v["http.request.method"]).upper()
        self.params = parse_pairs(v["http.request.params"], "http.request.params", "&")
        self.headers = parse_headers(v["http.request.headers"], ",")
        self.body = str(v["http.request.body"] or "")
        self.interval_s = int(v["http.timer.interval.millis"]) / 1000
        self.catchup_s = int(v["http.timer.catchup.interval.millis"]) / 1000
        self.max_pages = int(v["http.request.max.pages"])
        self.list_pointer = str(v["http.response.list.pointer"] or "/")
        self.record_pointer = str(v["http.response.record.pointer"] or "/")
        self.offset_pointers = parse_pairs(v["http.response.record.offset.pointer"], "offset pointer")
        self.key_pointers = [
            p.strip() for p in str(v["http.response.record.key.pointer"] or "").split(",") if p.strip()
        ]
        self.timestamp_pointer = str(v["http.response.record.timestamp.pointer"] or "")
        self.next_pointer = str(v["http.response.next.page.pointer"] or "")
        self.descending = str(v["http.response.list.order.direction"]).lower() == "desc"
        self.initial: dict[str, Any] = dict(parse_pairs(v["http.offset.initial"], "http.offset.initial"))
        self.topic = str(v["kafka.topic"]).strip()
        if not self.topic:
            raise ConnectorConfigError({"kafka.topic": ["must not be empty"]}, connector_class=HTTP_SOURCE_CLASS)
        known = set(self.offset_pointers) | set(self.initial) | ({NEXT_PAGE} if self.next_pointer else set())
        templates = {
            "http.request.url": self.url,
            "http.request.params": v["http.request.params"],
            "http.request.headers": v["http.request.headers"],
            "http.request.body": self.body,
        }
        errors: dict[str, list[str]] = {}
        for option, template in templates.items():
            unknown = [n for n in placeholders(str(template or "")) if n not in known]
            if unknown:
                errors[option] = [
                    f"${{offset.{unknown[0]}}} is not an offset field (known: {', '.join(sorted(known)) or 'none'}); "
                    "declare it in http.response.record.offset.pointer or http.offset.initial"
                ]
        if errors:
            raise ConnectorConfigError(errors, connector_class=HTTP_SOURCE_CLASS)


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool):
        return (1, str(value).lower())
    if isinstance(value, int | float):
        return (0, value)
    text = str(value).strip()
    for number in (int, float):  # ids beyond 2**53 stay exact as ints
        try:
            return (0, number(text))
        except ValueError:
            pass
    return (1, text)


def _timestamp_ms(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    parsed = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_dt.UTC)
    return int(parsed.timestamp() * 1000)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


class HttpSourceConnector(SourceConnector):
    """Polls a REST endpoint into a topic; see the module docstring. Runs one task (one endpoint)."""

    CONFIG_DEF = CONFIG_DEF

    def start(self, props: Mapping[str, str]) -> None:
        self.props = dict(props)
        _Settings(props)

    def task_class(self) -> type[Task]:
        return HttpSourceTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self.props)]  # one endpoint, one offset: a single task

    def stop(self) -> None:
        pass

    def validate(self, props: Mapping[str, str]) -> list[ConfigValue]:
        """The options one by one, then the cross-checks (placeholders name known offset fields, a topic)."""
        values = CONFIG_DEF.validate(props)
        if any(cv.errors for cv in values):
            return values
        try:
            _Settings(props)
        except ConnectorConfigError as exc:
            by_name = {cv.name: cv for cv in values}
            for name, messages in exc.errors.items():
                cv = by_name.get(name)
                if cv is None:
                    cv = by_name[name] = ConfigValue(name)
                    values.append(cv)
                cv.errors.extend(messages)
        return values

    def config(self) -> ConfigDef:
        return CONFIG_DEF


class HttpSourceTask(SourceTask):
    """Polls the endpoint on its timer; see the module docstring for one poll's steps.

    ``requests_made`` counts requests that got a usable response; ``records_skipped_seen`` counts elements
    skipped as already read (step 4).
    """

    def start(self, props: Mapping[str, str]) -> None:
        s = self.settings = _Settings(props)
        self.partition = {"url": s.url}
        committed = None
        context = getattr(self, "context", None)
        if context is not None:
            committed = context.offset_storage_reader().offset(self.partition)
        self.offset: dict[str, Any] = dict(committed) if committed else dict(s.initial)
        self.pool = make_pool(s.values)
        self.sender = HttpSender(s.url, method=s.method, pool=self.pool, **sender_args(s.values))
        errors_config = {
            "errors.tolerance": str(props.get("errors.tolerance", "none")).strip(),
            "errors.log.enable": str(props.get("errors.log.enable", "false")).strip().lower() == "true",
            "errors.log.include.messages": str(props.get("errors.log.include.messages", "false")).strip().lower()
            == "true",
        }
        self._stopping = threading.Event()
        self.errors = ErrorHandler(str(props.get("name", "http-source")), 0, errors_config, stopping=self._stopping)
        self.next_due = time.monotonic()
        self.requests_made = 0
        self.records_skipped_seen = 0

    # -- requests ------------------------------------------------------------------------------------------
    def request_of(self, offset: Mapping[str, Any]) -> tuple[str, dict[str, str], bytes | None]:
        """The URL, extra headers and body of the request for ``offset`` (step 1)."""
        s = self.settings
        link = offset.get(NEXT_PAGE)
        if isinstance(link, str) and link.startswith(("http://", "https://")):
            url = link
        else:
            url = render(s.url, offset, lambda t: urllib.parse.quote(t, safe=""))
            if s.params:
                query = urllib.parse.urlencode({k: render(v, offset) for k, v in s.params.items()})
                url += ("&" if "?" in url else "?") + query
        headers = {k: render(v, offset) for k, v in s.headers.items()}
        body = render(s.body, offset).encode() if s.method == "POST" else None
        if body is not None and "Content-Type" not in headers:
            headers["Content-Type"] = "application/json"
        return url, headers, body

    def _elements(self, url: str, raw: bytes) -> tuple[list[Any], Any]:
        """The array at the list pointer and the next-page value of one response (step 3)."""
        s = self.settings
        try:
            document = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise HttpSourceResponseError(
                f"GET {url}: the response is not JSON ({exc}); it starts {raw[:120]!r}",
                hint="point http.request.url at an endpoint that answers JSON",
            ) from None
        try:
            elements = resolve(document, s.list_pointer)
        except PointerError as exc:
            raise HttpSourceResponseError(
                f"{url}: http.response.list.pointer {s.list_pointer!r} finds nothing in the response: {exc}",
                hint="set http.response.list.pointer to the JSON pointer of the array of records, e.g. /items",
            ) from None
        if not isinstance(elements, list):
            raise HttpSourceResponseError(
                f"{url}: http.response.list.pointer {s.list_pointer!r} is a {type(elements).__name__}, not an "
                "array of records",
                hint="set http.response.list.pointer to the JSON pointer of the array of records, e.g. /items",
            )
        next_page = lookup(document, s.next_pointer) if s.next_pointer else MISSING
        return (elements[::-1] if s.descending else elements), next_page

    def _record(self, url: str, element: Any, offset: dict[str, Any]) -> SourceRecord:
        """One element as a record; ``offset`` receives its offset fields (step 4)."""
        s = self.settings
        for name, ptr in s.offset_pointers.items():
            value = lookup(element, ptr)
            if value is MISSING or value is None:
                raise HttpSourceResponseError(
                    f"{url}: an element has no offset value at {ptr!r} (http.response.record.offset.pointer "
                    f"{name}={ptr}): {_text(element)[:200]}",
                    hint="fix http.response.record.offset.pointer, or set errors.tolerance=all to skip such records",
                )
            offset[name] = value
        key = None
        if s.key_pointers:
            parts = []
            for ptr in s.key_pointers:
                value = lookup(element, ptr)
                if value is MISSING:
                    raise HttpSourceResponseError(
                        f"{url}: an element has no key at {ptr!r} (http.response.record.key.pointer): "
                        f"{_text(element)[:200]}",
                        hint="fix http.response.record.key.pointer, or set errors.tolerance=all to skip such records",
                    )
                parts.append(_text(value))
            key = "+".join(parts)
        value = lookup(element, s.record_pointer)
        if value is MISSING:
            raise HttpSourceResponseError(
                f"{url}: an element has nothing at http.response.record.pointer {s.record_pointer!r}: "
                f"{_text(element)[:200]}"
            )
        timestamp = None
        if s.timestamp_pointer:
            stamp = lookup(element, s.timestamp_pointer)
            try:
                timestamp = None if stamp is MISSING else _timestamp_ms(stamp)
            except ValueError:
                raise HttpSourceResponseError(
                    f"{url}: the timestamp {stamp!r} at {s.timestamp_pointer!r} is neither epoch milliseconds nor "
                    "ISO-8601 text"
                ) from None
        return SourceRecord(
            s.topic,
            None,
            OPTIONAL_STRING_SCHEMA if key is not None else None,
            key,
            None,
            value,
            timestamp,
            source_partition=self.partition,
            source_offset=dict(offset),
        )

    def _after(self, candidate: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
        """Whether ``candidate`` comes after ``current`` (the offset fields compared as a tuple)."""
        names = list(self.settings.offset_pointers)
        if not names or any(current.get(n) is None for n in names):
            return True
        return [_sort_key(candidate[n]) for n in names] > [_sort_key(current[n]) for n in names]

    def _fail(self, exc: ConnectError) -> None:
        """Raise (errors.tolerance=none) or report and return (all)."""
        if self.errors.execute(Stage.TASK_POLL, type(self).__name__, _raise, exc) is FAILED:
            log.warning("%s skipped: %s", type(self).__name__, exc)

    # -- the poll loop -------------------------------------------------------------------------------------
    def poll(self) -> list[SourceRecord] | None:
        wait = self.next_due - time.monotonic()
        if wait > 0:
            self._stopping.wait(min(wait, 0.5))
            return None
        if self._stopping.is_set():
            return None
        s = self.settings
        records: list[SourceRecord] = []
        capped = True
        for _ in range(s.max_pages):
            # Step 1: the request for the current offset
            url, headers, body = self.request_of(self.offset)
            # Step 2: send, with retries (raises when they are exhausted or the task stops)
            try:
                response = self.sender.send(body, None, url=url, headers=headers)
            except SenderClosedError:
                return records  # the task is stopping: hand over what this poll read so far
            # Step 3: the array of elements (a bad response: fail, or skip it and retry at the next tick)
            try:
                elements, next_page = self._elements(url, response.body)
            except HttpSourceResponseError as exc:
                self._fail(exc)
                capped = False
                break
            self.requests_made += 1
            # Step 4: records of the elements that come after the offset
            page_offset = dict(self.offset)
            new = 0
            for element in elements:
                candidate = dict(page_offset)
                try:
                    record = self._record(url, element, candidate)
                except HttpSourceResponseError as exc:
                    self._fail(exc)
                    continue
                if not self._after(candidate, page_offset):
                    self.records_skipped_seen += 1
                    continue
                page_offset = candidate
                records.append(record)
                new += 1
            # Step 5: the next page
            before = self.request_of(self.offset)
            self.offset = page_offset
            if s.next_pointer:
                empty = next_page is MISSING or next_page is None or next_page is False or next_page == ""
                token = None if empty else next_page
                if token is None or token == self.offset.get(NEXT_PAGE):
                    capped = False
                    break
                self.offset[NEXT_PAGE] = token
                if records and new:  # the last record carries the next page, so a restart goes on from it
                    records[-1] = records[-1]._replace(source_offset=dict(self.offset))
            elif not new or self.request_of(self.offset) == before:
                capped = False
                break
        self.next_due = time.monotonic() + (s.catchup_s if capped else s.interval_s)
        return records

    def stop(self) -> None:
        stopping = getattr(self, "_stopping", None)
        if stopping is not None:
            stopping.set()
        sender = getattr(self, "sender", None)
        if sender is not None:
            sender.close()
        pool = getattr(self, "pool", None)
        if pool is not None:
            pool.close()


def _raise(exc: BaseException) -> Any:
    raise exc


__all__ = ["CONFIG_DEF", "HttpSourceConnector", "HttpSourceResponseError", "HttpSourceTask", "parse_pairs"]
