"""PyFlink's ``Types`` and ``Row``: declared element types and rows with named fields.

millstream is dynamically typed: a declared type never converts or checks values. It matters in one place,
as in PyFlink: ``print()`` writes an element the way PyFlink's print sink writes a value of its declared type:
Java's ``toString`` for basic types and ``Types.TUPLE`` (``(a,1)``, booleans ``true``/``false``, doubles as Java
prints them, ``1.0E7``, ``None`` as ``null``), and for ``Types.ROW``/``ROW_NAMED`` PyFlink's own
``'+I[' + ','.join(str(field)) + ']'``. A stream without a declared type (PyFlink's pickled bytes) prints
Python's ``str(value)``.

``Row`` is PyFlink's ``pyflink.common.Row``: ``Row(1, "a")``, ``Row(id=1, name="a")`` (fields in the given
order), a row *class* ``Person = Row("name", "age")`` called as ``Person("Alice", 11)``; field access by
position, name (``row["name"]``) or attribute (``row.name``); ``as_dict()``, ``get_row_kind()``.
"""

from __future__ import annotations

import decimal
import math
from enum import Enum
from typing import Any


class RowKind(Enum):
    """The kind of a row in a changelog (``str()`` gives ``+I``, ``-U``, ``+U``, ``-D``)."""

    INSERT = 0
    UPDATE_BEFORE = 1
    UPDATE_AFTER = 2
    DELETE = 3

    def __str__(self) -> str:
        return ("+I", "-U", "+U", "-D")[self.value]


class Row:
    """A row of values with optional field names and a row kind (PyFlink's ``Row``)."""

    _values: list[Any]
    _fields: list[str] | None
    _row_kind: RowKind

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args and kwargs:
            raise ValueError("Can not use both args and kwargs to create Row")
        if kwargs:
            self.__dict__["_fields"] = list(kwargs)
            self.__dict__["_values"] = list(kwargs.values())
        else:
            self.__dict__["_fields"] = None
            self.__dict__["_values"] = list(args)
        self.__dict__["_row_kind"] = RowKind.INSERT

    @staticmethod
    def of_kind(row_kind: RowKind, *args: Any, **kwargs: Any) -> Row:
        row = Row(*args, **kwargs)
        row.set_row_kind(row_kind)
        return row

    def as_dict(self, recursive: bool = False) -> dict[str, Any]:
        if self._fields is None:
            raise TypeError("Cannot convert a Row without field names into dict")

        def conv(obj: Any) -> Any:
            if isinstance(obj, Row):
                return obj.as_dict(True)
            if isinstance(obj, list):
                return [conv(o) for o in obj]
            if isinstance(obj, dict):
                return {k: conv(v) for k, v in obj.items()}
            return obj

        return {k: (conv(v) if recursive else v) for k, v in zip(self._fields, self._values, strict=False)}

    def get_row_kind(self) -> RowKind:
        return self._row_kind

    def set_row_kind(self, row_kind: RowKind) -> None:
        self.__dict__["_row_kind"] = row_kind

    def set_field_names(self, field_names: list[str]) -> None:
        self.__dict__["_fields"] = list(field_names)

    def get_field_names(self) -> list[str] | None:
        return None if self._fields is None else list(self._fields)

    def get_fields_by_names(self, names: list[str]) -> list[Any]:
        if self._fields is None or names == self._fields:
            return list(self._values)
        missing = [n for n in names if n not in self._fields]
        if missing:
            raise KeyError(f"Field names {missing} not exist in {self._fields}.")
        return [self._values[self._fields.index(n)] for n in names]

    def __call__(self, *args: Any) -> Row:
        """A row class (``Row("name", "age")``) called with values makes a row with those field names."""
        if len(args) > len(self._values):
            raise ValueError(f"Can not create Row with fields {self}, expected {len(self)} values but got {args}")
        row = Row(*args)
        row.set_field_names([str(v) for v in self._values])
        row.set_row_kind(self._row_kind)
        return row

    def _copy_with(self, field: Any, value: Any) -> Row:
        """A copy with ``field`` (position or name) set to ``value`` (rolling field aggregations)."""
        row = _make_row(self._fields, tuple(self._values), self._row_kind)
        row[field] = value
        return row

    def _index(self, name: str) -> int:
        if self._fields is None or name not in self._fields:
            raise KeyError(f"row has no field {name!r} (fields: {self._fields})")
        return self._fields.index(name)

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, int | slice):
            return self._values[item]
        return self._values[self._index(item)]

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(key, int | slice):
            self._values[key] = value
        else:
            self._values[self._index(key)] = value

    def __getattr__(self, item: str) -> Any:
        if item.startswith("_"):
            raise AttributeError(item)
        fields = self.__dict__.get("_fields")
        if fields is None or item not in fields:
            raise AttributeError(f"row has no field {item!r} (fields: {fields})")
        return self.__dict__["_values"][fields.index(item)]

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"Row fields are set with row[{key!r}] = value, not as attributes")

    def __contains__(self, item: Any) -> bool:
        return item in (self._fields if self._fields is not None else self._values)

    def __iter__(self) -> Any:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Row) or self._row_kind != other._row_kind:
            return False
        if self._fields is None or other._fields is None:
            return self._fields is None and other._fields is None and self._values == other._values
        if sorted(self._fields) != sorted(other._fields):
            return False
        return all(self[n] == other[n] for n in self._fields)

    def __hash__(self) -> int:
        return hash(tuple(self._values))

    def __repr__(self) -> str:
        if self._fields is not None:
            return "Row(" + ", ".join(f"{k}={v!r}" for k, v in zip(self._fields, self._values, strict=False)) + ")"
        return "<Row(" + ", ".join(repr(v) for v in self._values) + ")>"

    def __reduce__(self) -> Any:
        return (_make_row, (self._fields, tuple(self._values), self._row_kind))


def _make_row(fields: list[str] | None, values: tuple[Any, ...], kind: RowKind) -> Row:
    row = Row(*values)
    if fields is not None:
        row.set_field_names(fields)
    row.set_row_kind(kind)
    return row


# -- type information -----------------------------------------------------------------------------------


def java_double(value: float) -> str:
    """``Double.toString``: shortest round-trip digits, plain for 1e-3 <= |v| < 1e7, else ``d.dddEn``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    mag = abs(value)
    if 1e-3 <= mag < 1e7:
        text = repr(float(value))
        if "e" in text or "E" in text:
            text = format(decimal.Decimal(text), "f")
        return text if "." in text else text + ".0"
    sign, digits, exp = decimal.Decimal(repr(float(value))).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    exponent = int(exp) + len(digits) - 1
    mantissa = ds[0] + "." + (ds[1:] or "0")
    return ("-" if sign else "") + f"{mantissa}E{exponent}"


class TypeInformation:
    """A declared element type (PyFlink's ``TypeInformation``). ``format(value)`` is how Flink's print sink
    writes a value of this type; ``None`` prints ``null``."""

    def __init__(self, name: str, *children: Any, names: list[str] | None = None) -> None:
        self.name = name
        self.children = children
        self.names = names

    def format(self, value: Any) -> str:
        if value is None:
            return "null"
        return self._format(value)

    def _format(self, value: Any) -> str:
        return str(value)

    def get_field_names(self) -> list[str] | None:
        return None if self.names is None else list(self.names)

    def get_field_types(self) -> list[Any]:
        return list(self.children)

    def __repr__(self) -> str:
        return f"Types.{self.name}()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TypeInformation) and (self.name, self.children, self.names) == (
            other.name,
            other.children,
            other.names,
        )

    def __hash__(self) -> int:
        return hash(self.name)


class _Boolean(TypeInformation):
    def _format(self, value: Any) -> str:
        return "true" if value else "false"


class _Double(TypeInformation):
    def _format(self, value: Any) -> str:
        return java_double(float(value)) if isinstance(value, int | float) else str(value)


class _Tuple(TypeInformation):
    def _format(self, value: Any) -> str:
        return "(" + ",".join(_fmt(t, v) for t, v in zip(_types(self, value), value, strict=False)) + ")"


class _Row(TypeInformation):
    """PyFlink prints rows in Python: ``'{kind}[{fields}]'`` with ``str()`` of each field, joined by ``,``."""

    def _format(self, value: Any) -> str:
        kind = value.get_row_kind() if isinstance(value, Row) else RowKind.INSERT
        return f"{kind}[{','.join(str(v) for v in value)}]"


class _List(TypeInformation):
    def _format(self, value: Any) -> str:
        elem = self.children[0] if self.children else None
        return "[" + ", ".join(_fmt(elem, v) for v in value) + "]"


class _Map(TypeInformation):
    def _format(self, value: Any) -> str:
        kt, vt = (*self.children, None, None)[:2]
        return "{" + ", ".join(f"{_fmt(kt, k)}={_fmt(vt, v)}" for k, v in dict(value).items()) + "}"


class _Pickled(TypeInformation):
    """No declared type: values print as Python's ``str(value)``."""


def _types(t: TypeInformation, value: Any) -> list[Any]:
    return list(t.children) + [None] * max(0, len(value) - len(t.children))


def _fmt(t: Any, value: Any) -> str:
    if isinstance(t, TypeInformation):
        return t.format(value)
    return "null" if value is None else str(value)


class Types:
    """PyFlink's ``Types`` factory (``Types.STRING()``, ``Types.TUPLE([...])``, ``Types.ROW_NAMED([...],
    [...])``, ...). The types are descriptions: see the module docstring for what they change."""

    @staticmethod
    def STRING() -> TypeInformation:
        return TypeInformation("STRING")

    @staticmethod
    def CHAR() -> TypeInformation:
        return TypeInformation("CHAR")

    @staticmethod
    def BYTE() -> TypeInformation:
        return TypeInformation("BYTE")

    @staticmethod
    def SHORT() -> TypeInformation:
        return TypeInformation("SHORT")

    @staticmethod
    def INT() -> TypeInformation:
        return TypeInformation("INT")

    @staticmethod
    def LONG() -> TypeInformation:
        return TypeInformation("LONG")

    @staticmethod
    def BIG_INT() -> TypeInformation:
        return TypeInformation("BIG_INT")

    @staticmethod
    def BIG_DEC() -> TypeInformation:
        return TypeInformation("BIG_DEC")

    @staticmethod
    def FLOAT() -> TypeInformation:
        return _Double("FLOAT")

    @staticmethod
    def DOUBLE() -> TypeInformation:
        return _Double("DOUBLE")

    @staticmethod
    def BOOLEAN() -> TypeInformation:
        return _Boolean("BOOLEAN")

    @staticmethod
    def VOID() -> TypeInformation:
        return TypeInformation("VOID")

    @staticmethod
    def INSTANT() -> TypeInformation:
        return TypeInformation("INSTANT")

    @staticmethod
    def SQL_DATE() -> TypeInformation:
        return TypeInformation("SQL_DATE")

    @staticmethod
    def SQL_TIME() -> TypeInformation:
        return TypeInformation("SQL_TIME")

    @staticmethod
    def SQL_TIMESTAMP() -> TypeInformation:
        return TypeInformation("SQL_TIMESTAMP")

    @staticmethod
    def PICKLED_BYTE_ARRAY() -> TypeInformation:
        return _Pickled("PICKLED_BYTE_ARRAY")

    @staticmethod
    def TUPLE(field_types: list[Any]) -> TypeInformation:
        return _Tuple("TUPLE", *field_types)

    @staticmethod
    def ROW(field_types: list[Any]) -> TypeInformation:
        return _Row("ROW", *field_types)

    @staticmethod
    def ROW_NAMED(field_names: list[str], field_types: list[Any]) -> TypeInformation:
        if len(field_names) != len(field_types):
            raise ValueError(
                f"Types.ROW_NAMED got {len(field_names)} names and {len(field_types)} types; give one type per name"
            )
        return _Row("ROW_NAMED", *field_types, names=list(field_names))

    @staticmethod
    def PRIMITIVE_ARRAY(element_type: Any) -> TypeInformation:
        return _List("PRIMITIVE_ARRAY", element_type)

    @staticmethod
    def BASIC_ARRAY(element_type: Any) -> TypeInformation:
        return _List("BASIC_ARRAY", element_type)

    @staticmethod
    def OBJECT_ARRAY(element_type: Any) -> TypeInformation:
        return _List("OBJECT_ARRAY", element_type)

    @staticmethod
    def LIST(element_type: Any) -> TypeInformation:
        return _List("LIST", element_type)

    @staticmethod
    def MAP(key_type: Any, value_type: Any) -> TypeInformation:
        return _Map("MAP", key_type, value_type)


def print_formatter(type_info: Any) -> Any:
    """How ``print()`` writes elements of ``type_info``: ``None`` for Python's ``str`` (no declared type or
    pickled), else ``type_info.format``."""
    if not isinstance(type_info, TypeInformation) or isinstance(type_info, _Pickled):
        return None
    return type_info.format


__all__ = ["Row", "RowKind", "TypeInformation", "Types", "java_double", "print_formatter"]
