"""Python scalar functions in SQL (PyFlink's ``udf`` / ``ScalarFunction``).

    @udf(result_type="BIGINT")
    def add_one(x):
        return None if x is None else x + 1

    t_env.create_temporary_function("add_one", add_one)      # or create_temporary_system_function
    t_env.execute_sql("SELECT add_one(amount) FROM clicks")

or in SQL, naming a ``udf`` object by its import path: ``CREATE TEMPORARY [SYSTEM] FUNCTION [IF NOT EXISTS]
add_one AS 'my_module.add_one' LANGUAGE PYTHON`` (``DROP TEMPORARY [SYSTEM] FUNCTION [IF EXISTS] add_one``).

Contract: the function is called once per row with the arguments' Python values — ``None`` for SQL ``NULL``
(it is called for ``NULL`` arguments too, as PyFlink calls it), ``int`` for the integer types, ``float`` for
``FLOAT``/``DOUBLE``, ``decimal.Decimal`` for ``DECIMAL``, ``str``, ``bool``; its result must fit
``result_type`` (a Flink SQL type as text: ``"BIGINT"``, ``"DECIMAL(10, 2)"``, ``"STRING"``...), else the job
fails naming the function. Timestamps are not supported as arguments or results yet. A :class:`ScalarFunction`
subclass implements ``eval(*args)`` and may implement ``open(function_context)`` / ``close()``; a plain
callable is wrapped. Functions travel to worker processes by pickling (lambdas and closures included).
Resolution as in Flink: a temporary *system* function shadows a built-in of the same name; a temporary
(catalog) function does not.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlglot import exp

from .dialect import Flink
from .errors import SqlValidationError
from .types import TIME_TYPES, SqlType, from_sqlglot


class ScalarFunction:
    """Base of class-based scalar functions (PyFlink's ``pyflink.table.udf.ScalarFunction``)."""

    def open(self, function_context: Any) -> None:
        """Called before the first row (optional)."""

    def eval(self, *args: Any) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        """Called after the last row (optional)."""


@dataclass
class UserDefinedScalarFunction:
    """A Python function with its SQL result type, ready to register (what :func:`udf` returns)."""

    func: Callable[..., Any] | ScalarFunction
    result_type: SqlType
    name: str
    deterministic: bool = True

    def __call__(self, *args: Any) -> Any:
        return self.func.eval(*args) if isinstance(self.func, ScalarFunction) else self.func(*args)


def result_type_of(spec: Any) -> SqlType:
    """A Flink SQL type given as text (``"BIGINT"``, ``"DECIMAL(10, 2)"``) or a :class:`SqlType`."""
    if isinstance(spec, SqlType):
        t = spec
    elif isinstance(spec, str):
        try:
            t = from_sqlglot(exp.DataType.build(spec, dialect=Flink))
        except SqlValidationError:
            raise
        except Exception as exc:
            raise SqlValidationError(
                f"result_type {spec!r} is not a SQL type ({exc})", hint='e.g. result_type="BIGINT" or "STRING"'
            ) from None
    else:
        raise SqlValidationError(
            f"result_type must be a SQL type as text, got {spec!r}", hint='e.g. result_type="BIGINT" or "STRING"'
        )
    if t.name in TIME_TYPES:
        raise SqlValidationError(
            f"a Python function returning {t} is not supported yet",
            hint="return epoch milliseconds as BIGINT and convert with TO_TIMESTAMP_LTZ(..., 3)",
        )
    return t


def udf(
    f: Any = None, *, result_type: Any = None, input_types: Any = None, deterministic: bool = True, name: str = ""
) -> Any:
    """Make a SQL scalar function of ``f`` (a callable or a :class:`ScalarFunction`): ``udf(f, result_type=...)``
    or as a decorator ``@udf(result_type="BIGINT")``. ``input_types`` is accepted, as PyFlink takes it, and
    not needed (arguments arrive as they are)."""

    def make(fn: Any) -> UserDefinedScalarFunction:
        if result_type is None:
            raise SqlValidationError("udf() needs result_type", hint='udf(f, result_type="BIGINT")')
        if isinstance(fn, type) and issubclass(fn, ScalarFunction):
            fn = fn()
        call = fn.eval if isinstance(fn, ScalarFunction) else fn
        if not callable(call):
            raise SqlValidationError(f"udf() needs a function or a ScalarFunction, got {fn!r}")
        label = name or getattr(fn, "__name__", None) or type(fn).__name__
        return UserDefinedScalarFunction(fn if isinstance(fn, ScalarFunction) else call, result_type_of(result_type),
                                         label, deterministic)  # fmt: skip

    return make if f is None else make(f)


def as_function(fn: Any, result_type: Any = None) -> Any:
    """What ``create_temporary_function`` registers: a :func:`udf` or :func:`~millstream.sql.udtf.udtf` object,
    or a callable with ``result_type`` (a scalar function)."""
    from .udtf import UserDefinedTableFunction

    if isinstance(fn, UserDefinedScalarFunction | UserDefinedTableFunction):
        return fn
    if result_type is None:
        raise SqlValidationError(
            f"{getattr(fn, '__name__', fn)!r} is not a udf: its result type is unknown",
            hint='wrap it: udf(f, result_type="BIGINT"), or pass result_type=...',
        )
    made: UserDefinedScalarFunction = udf(fn, result_type=result_type)
    return made


def load_function(path: str) -> Any:
    """The ``udf`` or ``udtf`` object at import path ``module.attribute`` (``CREATE FUNCTION ... AS 'path'``)."""
    from .udtf import UserDefinedTableFunction

    module, _, attr = path.rpartition(".")
    if not module:
        raise SqlValidationError(f"'{path}' is not module.attribute", hint="AS 'my_module.my_function'")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise SqlValidationError(
            f"cannot load the function '{path}': {exc}",
            hint="the module must be importable (on sys.path) and define a udf(...) object by that name",
        ) from None
    if not isinstance(obj, UserDefinedScalarFunction | UserDefinedTableFunction):
        raise SqlValidationError(
            f"'{path}' is not a udf or udtf object",
            hint='define it with @udf(result_type="...") or @udtf(result_types=[...]) in that module',
        )
    return obj


class Invoker:
    """Calls a user function from compiled SQL: opens a :class:`ScalarFunction` once, checks each result
    against the declared type, and names the function in errors."""

    def __init__(self, fn: UserDefinedScalarFunction, sql_name: str) -> None:
        self.fn = fn
        self.sql_name = sql_name
        self.call: Callable[..., Any] = fn.func.eval if isinstance(fn.func, ScalarFunction) else fn.func
        self.opened = not isinstance(fn.func, ScalarFunction)
        self.check = _checker(fn.result_type)

    def __call__(self, *args: Any) -> Any:
        if not self.opened:
            self.opened = True
            assert isinstance(self.fn.func, ScalarFunction)
            self.fn.func.open(None)
        try:
            out = self.call(*args)
        except Exception as exc:
            exc.add_note(f"in the SQL function {self.sql_name}({', '.join(map(repr, args))})")
            raise
        if out is not None and not self.check(out):
            raise SqlValidationError(
                f"the function {self.sql_name} returned {out!r} ({type(out).__name__}), not a "
                f"{self.fn.result_type.name}",
                hint="return a value of its result_type, or None for NULL",
            )
        return out

    def __getstate__(self) -> dict[str, Any]:
        return {"fn": self.fn, "sql_name": self.sql_name}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["fn"], state["sql_name"])  # type: ignore[misc]


def _checker(t: SqlType) -> Callable[[Any], bool]:
    if t.is_integer:
        return lambda v: type(v) is int
    if t.name in ("FLOAT", "DOUBLE"):
        return lambda v: type(v) in (float, int)
    if t.name == "DECIMAL":
        return lambda v: isinstance(v, Decimal | int)
    if t.name == "BOOLEAN":
        return lambda v: type(v) is bool
    if t.name == "STRING":
        return lambda v: type(v) is str
    return lambda v: True


__all__ = ["Invoker", "ScalarFunction", "UserDefinedScalarFunction", "as_function", "load_function", "udf"]
