"""Declared, typed, documented config options, as Kafka's ``ConfigDef``.

A connector, transform or converter declares its options once::

    CONFIG_DEF = (
        ConfigDef()
        .define("file", Type.STRING, "", importance=Importance.HIGH, documentation="Source file; empty =
        stdin")
        .define("batch.size", Type.INT, 2000, validator=Range.at_least(1), documentation="Lines per poll")
    )

``CONFIG_DEF.parse(props)`` returns the typed values or raises :class:`ConnectorConfigError` naming every
bad key with its reason (Kafka's wording: ``Invalid value x for configuration batch.size: ...``);
``CONFIG_DEF.validate(props)`` returns one :class:`ConfigValue` per key with its errors, which is what the
REST ``/config/validate`` endpoint reports. Values arrive as strings (properties files, REST JSON) or as
Python values; both are accepted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .errors import ConnectorConfigError


class Type(Enum):
    """Config value types, named as Kafka's ``ConfigDef.Type``."""

    BOOLEAN = "BOOLEAN"
    STRING = "STRING"
    INT = "INT"
    SHORT = "SHORT"
    LONG = "LONG"
    DOUBLE = "DOUBLE"
    LIST = "LIST"
    CLASS = "CLASS"
    PASSWORD = "PASSWORD"


class Importance(Enum):
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


class Width(Enum):
    NONE = "NONE"
    SHORT = "SHORT"
    MEDIUM = "MEDIUM"
    LONG = "LONG"


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()
"""Marks an option as required (it has no default value)."""

_INT_BOUNDS = {
    Type.INT: (-(2**31), 2**31 - 1),
    Type.SHORT: (-(2**15), 2**15 - 1),
    Type.LONG: (-(2**63), 2**63 - 1),
}


class Password:
    """A secret config value; ``str()`` and ``repr()`` show ``[hidden]``, ``.value`` has the text."""

    HIDDEN = "[hidden]"

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __str__(self) -> str:
        return self.HIDDEN

    __repr__ = __str__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Password) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)


def parse_type(name: str, value: Any, type_: Type) -> Any:
    """Convert ``value`` (a string or a Python value) to ``type_``; raise ``ValueError`` with Kafka's
    reason."""
    if value is None:
        return None
    if type_ is Type.BOOLEAN:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "false"):
            return text == "true"
        raise ValueError("Expected value to be either true or false")
    if type_ in (Type.STRING, Type.CLASS):
        if isinstance(value, type):
            return f"{value.__module__}.{value.__qualname__}"
        if not isinstance(value, str):
            raise ValueError("Expected value to be a string, but it was a " + type(value).__name__)
        return value.strip()
    if type_ is Type.PASSWORD:
        if isinstance(value, Password):
            return value
        return Password(str(value))
    if type_ in _INT_BOUNDS:
        if isinstance(value, bool):
            raise ValueError("Not a number of type " + type_.value)
        try:
            number = int(value) if isinstance(value, int) else int(str(value).strip())
        except ValueError:
            raise ValueError("Not a number of type " + type_.value) from None
        lo, hi = _INT_BOUNDS[type_]
        if not lo <= number <= hi:
            raise ValueError(f"Not a number of type {type_.value} (out of range {lo}..{hi})")
        return number
    if type_ is Type.DOUBLE:
        if isinstance(value, bool):
            raise ValueError("Not a number of type DOUBLE")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError("Not a number of type DOUBLE") from None
    if type_ is Type.LIST:
        if isinstance(value, str):
            text = value.strip()
            return [] if not text else [part.strip() for part in text.split(",")]
        if isinstance(value, list | tuple):
            return [str(v).strip() for v in value]
        raise ValueError("Expected a comma separated list.")
    raise ValueError(f"unknown type {type_}")  # pragma: no cover


def format_value(value: Any, type_: Type | None = None) -> str | None:
    """A config value as the string Kafka would show (lists comma-joined, booleans lower-case)."""
    if value is None:
        return None
    if isinstance(value, Password):
        return Password.HIDDEN
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


Validator = Callable[[str, Any], None]
"""A callable ``(name, parsed_value)`` that raises ``ValueError(reason)`` for a bad value."""


class Range:
    """Numeric range validators: ``Range.at_least(1)``, ``Range.between(0, 100)``."""

    def __init__(self, lo: float | None, hi: float | None) -> None:
        self.lo, self.hi = lo, hi

    @classmethod
    def at_least(cls, lo: float) -> Range:
        return cls(lo, None)

    @classmethod
    def between(cls, lo: float, hi: float) -> Range:
        return cls(lo, hi)

    def __call__(self, name: str, value: Any) -> None:
        if value is None:
            return
        if self.lo is not None and value < self.lo:
            raise ValueError(f"Value must be at least {_num(self.lo)}")
        if self.hi is not None and value > self.hi:
            raise ValueError(f"Value must be no more than {_num(self.hi)}")

    def __str__(self) -> str:
        if self.hi is None:
            return f"[{_num(self.lo)},...]"
        return f"[{_num(self.lo)},...,{_num(self.hi)}]"


def _num(x: float | None) -> str:
    return str(int(x)) if isinstance(x, float) and x.is_integer() else str(x)


class ValidString:
    """The value must be one of the given strings (``case_insensitive`` optional)."""

    def __init__(self, *allowed: str, case_insensitive: bool = False) -> None:
        self.allowed = list(allowed)
        self.case_insensitive = case_insensitive

    def __call__(self, name: str, value: Any) -> None:
        if value is None:
            return
        ok = str(value).lower() in {a.lower() for a in self.allowed} if self.case_insensitive else value in self.allowed
        if not ok:
            raise ValueError(f"String must be one of: {', '.join(self.allowed)}")

    def __str__(self) -> str:
        return "[" + ", ".join(self.allowed) + "]"


class ValidList:
    """Every element of a LIST value must be one of the given strings."""

    def __init__(self, *allowed: str) -> None:
        self.allowed = list(allowed)

    def __call__(self, name: str, value: Any) -> None:
        for v in value or ():
            if v not in self.allowed:
                raise ValueError(f"Invalid value {v}; each element must be one of: {', '.join(self.allowed)}")

    def __str__(self) -> str:
        return "[" + ", ".join(self.allowed) + "]"


def non_empty_string(name: str, value: Any) -> None:
    """Validator: the string must not be empty."""
    if value is not None and not str(value).strip():
        raise ValueError("String must be non-empty")


def valid_regex(name: str, value: Any) -> None:
    """Validator: the string must be a valid regular expression."""
    if value is None:
        return
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None


@dataclass
class ConfigKey:
    """The declaration of one option (what ``GET /connector-plugins/{p}/config`` lists)."""

    name: str
    type: Type
    default: Any = NO_DEFAULT
    validator: Validator | None = None
    importance: Importance = Importance.MEDIUM
    documentation: str = ""
    group: str | None = None
    order_in_group: int = -1
    width: Width = Width.NONE
    display_name: str | None = None
    dependents: Sequence[str] = ()
    recommended_values: Sequence[Any] = ()
    internal: bool = False

    @property
    def required(self) -> bool:
        return self.default is NO_DEFAULT

    def default_as_string(self) -> str | None:
        return None if self.required else format_value(self.default)

    def to_json(self) -> dict[str, Any]:
        """Kafka's ``ConfigKeyInfo`` shape."""
        return {
            "name": self.name,
            "type": self.type.value,
            "required": self.required,
            "default_value": self.default_as_string(),
            "importance": self.importance.value,
            "documentation": self.documentation,
            "group": self.group,
            "width": self.width.value,
            "display_name": self.display_name or self.name,
            "dependents": list(self.dependents),
            "order": self.order_in_group,
        }


@dataclass
class ConfigValue:
    """The outcome of validating one option: its value, recommended values, errors and visibility."""

    name: str
    value: Any = None
    recommended_values: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    visible: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": format_value(self.value),
            "recommended_values": [format_value(v) for v in self.recommended_values],
            "errors": list(self.errors),
            "visible": self.visible,
        }


class ConfigDef:
    """An ordered set of :class:`ConfigKey` declarations (see the module docstring)."""

    def __init__(self, keys: Iterable[ConfigKey] = ()) -> None:
        self._keys: dict[str, ConfigKey] = {}
        for k in keys:
            self._keys[k.name] = k

    def define(
        self,
        name: str,
        type: Type,
        default: Any = NO_DEFAULT,
        *,
        validator: Validator | None = None,
        importance: Importance = Importance.MEDIUM,
        documentation: str = "",
        group: str | None = None,
        order_in_group: int = -1,
        width: Width = Width.NONE,
        display_name: str | None = None,
        dependents: Sequence[str] = (),
        recommended_values: Sequence[Any] = (),
        internal: bool = False,
    ) -> ConfigDef:
        """Declare an option; returns ``self`` for chaining. Redefining a name raises ``ValueError``."""
        if name in self._keys:
            raise ValueError(f"config option {name!r} is defined twice")
        if group is not None and order_in_group == -1:
            order_in_group = 1 + sum(1 for k in self._keys.values() if k.group == group)
        self._keys[name] = ConfigKey(
            name,
            type,
            default,
            validator,
            importance,
            documentation,
            group,
            order_in_group,
            width,
            display_name,
            tuple(dependents),
            tuple(recommended_values),
            internal,
        )
        return self

    def merge(self, other: ConfigDef) -> ConfigDef:
        """A new ConfigDef with this one's keys followed by ``other``'s (``other`` wins on a clash)."""
        out = ConfigDef(self._keys.values())
        for k in other._keys.values():
            out._keys[k.name] = k
        return out

    def embed(self, prefix: str, group: str, start_order: int, child: ConfigDef) -> ConfigDef:
        """Add ``child``'s keys under ``prefix`` (as Kafka does for ``transforms.<alias>.``); returns self."""
        for i, k in enumerate(child._keys.values()):
            self._keys[prefix + k.name] = ConfigKey(
                prefix + k.name,
                k.type,
                k.default,
                k.validator,
                k.importance,
                k.documentation,
                group,
                start_order + i,
                k.width,
                k.display_name,
                tuple(prefix + d for d in k.dependents),
                k.recommended_values,
                k.internal,
            )
        return self

    def names(self) -> list[str]:
        return list(self._keys)

    def config_keys(self) -> list[ConfigKey]:
        return list(self._keys.values())

    def __contains__(self, name: object) -> bool:
        return name in self._keys

    def __getitem__(self, name: str) -> ConfigKey:
        return self._keys[name]

    def groups(self) -> list[str]:
        seen: list[str] = []
        for k in self._keys.values():
            if k.group and k.group not in seen:
                seen.append(k.group)
        return seen

    # -- validation ---------------------------------------------------------------------------------
    def _parse_one(self, key: ConfigKey, props: Mapping[str, Any]) -> tuple[Any, list[str]]:
        if key.name in props and props[key.name] is not None:
            raw = props[key.name]
        elif key.required:
            return None, [f'Missing required configuration "{key.name}" which has no default value.']
        else:
            raw = key.default
        try:
            value = parse_type(key.name, raw, key.type)
        except ValueError as exc:
            return None, [f"Invalid value {format_value(raw)} for configuration {key.name}: {exc}"]
        if key.validator is not None:
            check_value = value.value if isinstance(value, Password) else value
            try:
                key.validator(key.name, check_value)
            except ValueError as exc:
                return value, [f"Invalid value {format_value(value)} for configuration {key.name}: {exc}"]
        return value, []

    def validate(self, props: Mapping[str, Any]) -> list[ConfigValue]:
        """One :class:`ConfigValue` per declared option, each with the errors of its value (maybe none)."""
        out = []
        for key in self._keys.values():
            value, errors = self._parse_one(key, props)
            shown = props.get(key.name) if errors and key.name in props else value
            out.append(ConfigValue(key.name, shown, list(key.recommended_values), errors))
        return out

    def parse(self, props: Mapping[str, Any], *, connector_class: str | None = None) -> dict[str, Any]:
        """Typed values of all declared options (defaults filled in); raise listing every bad key."""
        values: dict[str, Any] = {}
        errors: dict[str, list[str]] = {}
        for key in self._keys.values():
            value, errs = self._parse_one(key, props)
            if errs:
                errors[key.name] = errs
            values[key.name] = value
        if errors:
            raise ConnectorConfigError(errors, connector_class=connector_class)
        return values


class AbstractConfig:
    """Parsed config with typed getters; unknown keys are kept in ``originals``."""

    def __init__(self, definition: ConfigDef, props: Mapping[str, Any], *, connector_class: str | None = None):
        self.definition = definition
        self.originals: dict[str, Any] = dict(props)
        self.values = definition.parse(props, connector_class=connector_class)

    def get(self, name: str) -> Any:
        if name not in self.values:
            raise KeyError(f"unknown config option {name!r}")
        return self.values[name]

    __getitem__ = get

    def originals_with_prefix(self, prefix: str, *, strip: bool = True) -> dict[str, Any]:
        """The original entries whose keys start with ``prefix`` (with the prefix removed by default)."""
        return {(k[len(prefix) :] if strip else k): v for k, v in self.originals.items() if k.startswith(prefix)}


SECRET_WORDS = ("password", "secret", "token", "credential", "api.key", "apikey", "private.key", "sasl.jaas")


def is_secret_key(name: str) -> bool:
    """True for config keys that hold credentials (``*password*``, ``*secret*``, ``*token*``,
    ``*api.key*``...).

    Converter/serializer class settings (``key.converter``) are not secrets even though they contain ``key``.
    """
    low = name.lower()
    return any(w in low for w in SECRET_WORDS) or low.endswith((".key.password", "ssl.key", "access.key"))


#: ``scheme://user:password@`` (also ``jdbc:postgresql://...``): the password part
_URL_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)(?P<pw>[^@/\s]*)(?=@)")
#: ``password=...`` / ``secret=...`` parameters inside a URL's query or a JDBC URL's ``;`` properties
_URL_PARAM = re.compile(r"(?P<head>[?&;](?:password|passwd|pwd|secret|token|api[_-]?key)=)(?P<pw>[^&;#\s]*)", re.I)


def mask_url_secrets(value: str) -> str:
    """``value`` with the password of each ``scheme://user:password@host`` and each ``password=``-like URL
    parameter replaced by ``[hidden]``; other text unchanged."""
    if "://" not in value and "=" not in value:
        return value
    value = _URL_USERINFO.sub(lambda m: m.group("head") + Password.HIDDEN, value)
    return _URL_PARAM.sub(lambda m: m.group("head") + Password.HIDDEN, value)


def mask_secrets(config: Mapping[str, Any], definition: ConfigDef | None = None) -> dict[str, Any]:
    """A copy of ``config`` with secret values replaced by ``[hidden]`` (PASSWORD options and secret-named
    keys), and passwords inside URLs (``scheme://user:password@host``, ``?password=...``) masked in place."""
    out: dict[str, Any] = {}
    for k, v in config.items():
        is_pw = definition is not None and k in definition and definition[k].type is Type.PASSWORD
        if v is not None and (is_pw or is_secret_key(k)):
            out[k] = Password.HIDDEN
        elif isinstance(v, str):
            out[k] = mask_url_secrets(v)
        else:
            out[k] = v
    return out


def load_properties(text: str) -> dict[str, str]:
    """Parse Java ``.properties`` text: ``key=value`` / ``key: value`` / ``key value``, ``#``/``!`` comments,
    backslash line continuations and escapes (``\\n``, ``\\t``, ``\\uXXXX``, ``\\=``...)."""
    props: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].lstrip()
        i += 1
        if not line or line[0] in "#!":
            continue
        while _ends_with_continuation(line) and i < len(lines):
            line = line[:-1] + lines[i].lstrip()
            i += 1
        if _ends_with_continuation(line):
            line = line[:-1]
        key_chars: list[str] = []
        j = 0
        while j < len(line):
            c = line[j]
            if c == "\\" and j + 1 < len(line):
                key_chars.append(line[j : j + 2])
                j += 2
                continue
            if c in "=: \t\f":
                break
            key_chars.append(c)
            j += 1
        rest = line[j:].lstrip(" \t\f")
        if rest[:1] in ("=", ":"):
            rest = rest[1:].lstrip(" \t\f")
        props[_unescape("".join(key_chars))] = _unescape(rest)
    return props


def _ends_with_continuation(line: str) -> bool:
    n = len(line) - len(line.rstrip("\\"))
    return n % 2 == 1


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f"}


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            n = text[i + 1]
            if n == "u" and i + 6 <= len(text):
                try:
                    out.append(chr(int(text[i + 2 : i + 6], 16)))
                    i += 6
                    continue
                except ValueError:
                    pass
            out.append(_ESCAPES.get(n, n))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


__all__ = [
    "NO_DEFAULT",
    "AbstractConfig",
    "ConfigDef",
    "ConfigKey",
    "ConfigValue",
    "Importance",
    "Password",
    "Range",
    "Type",
    "ValidList",
    "ValidString",
    "Width",
    "format_value",
    "is_secret_key",
    "load_properties",
    "mask_secrets",
    "mask_url_secrets",
    "non_empty_string",
    "parse_type",
    "valid_regex",
]
