"""Python table functions in SQL (PyFlink's ``udtf`` / ``TableFunction``).

    @udtf(result_types=["STRING", "INT"])
    def words(line):
        for w in (line or "").split():
            yield w, len(w)

    t_env.create_temporary_function("words", words)
    t_env.execute_sql("SELECT id, w, n FROM lines, LATERAL TABLE(words(line)) AS T(w, n)")
    t_env.execute_sql("SELECT id, w FROM lines LEFT JOIN LATERAL TABLE(words(line)) AS T(w, n) ON TRUE")

or in SQL: ``CREATE TEMPORARY [SYSTEM] FUNCTION words AS 'my_module.words' LANGUAGE PYTHON``.

Contract (as PyFlink's): the function is called once per input row with the arguments' Python values (``None``
for ``NULL``) and yields (or returns an iterable of) zero or more rows: a tuple (or list, or ``Row``) of as many
values as ``result_types`` has types, or, with one result type, the bare value. Returning ``None`` emits no rows.
Every value must fit its declared type, else the job fails naming the function. A :class:`TableFunction`
subclass implements ``eval(*args)`` and may implement ``open(function_context)`` / ``close()``. Timestamps are
not supported as arguments or results yet (epoch milliseconds are).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .errors import SqlValidationError
from .types import SqlType
from .udf import _checker, result_type_of


class TableFunction:
    """Base of class-based table functions (PyFlink's ``pyflink.table.udf.TableFunction``)."""

    def open(self, function_context: Any) -> None:
        """Called before the first row (optional)."""

    def eval(self, *args: Any) -> Iterable[Any] | None:
        raise NotImplementedError

    def close(self) -> None:
        """Called after the last row (optional)."""


@dataclass
class UserDefinedTableFunction:
    """A Python table function with its SQL result types, ready to register (what :func:`udtf` returns)."""

    func: Callable[..., Any] | TableFunction
    result_types: list[SqlType]
    name: str
    deterministic: bool = True

    def __call__(self, *args: Any) -> Any:
        return self.func.eval(*args) if isinstance(self.func, TableFunction) else self.func(*args)


def udtf(
    f: Any = None, *, result_types: Any = None, input_types: Any = None, deterministic: bool = True, name: str = ""
) -> Any:
    """Make a SQL table function of ``f`` (a generator function, a callable returning an iterable, or a
    :class:`TableFunction`): ``udtf(f, result_types=["STRING", "INT"])`` or as a decorator. ``result_types`` is
    one SQL type as text or a list of them; ``input_types`` is accepted, as PyFlink takes it, and not needed."""

    def make(fn: Any) -> UserDefinedTableFunction:
        if result_types is None:
            raise SqlValidationError("udtf() needs result_types", hint='udtf(f, result_types=["STRING", "INT"])')
        specs = list(result_types) if isinstance(result_types, list | tuple) else [result_types]
        if not specs:
            raise SqlValidationError("udtf() needs at least one result type", hint='result_types=["STRING"]')
        if isinstance(fn, type) and issubclass(fn, TableFunction):
            fn = fn()
        call = fn.eval if isinstance(fn, TableFunction) else fn
        if not callable(call):
            raise SqlValidationError(f"udtf() needs a function or a TableFunction, got {fn!r}")
        label = name or getattr(fn, "__name__", None) or type(fn).__name__
        types = [result_type_of(s) for s in specs]
        return UserDefinedTableFunction(fn if isinstance(fn, TableFunction) else call, types, label, deterministic)

    return make if f is None else make(f)


class TableInvoker:
    """Calls a table function from a compiled lateral join: opens a :class:`TableFunction` once, turns what it
    yields into tuples of ``len(result_types)`` values, checks them against the declared types, and names the
    function in errors."""

    def __init__(self, fn: UserDefinedTableFunction, sql_name: str) -> None:
        self.fn = fn
        self.sql_name = sql_name
        self.call: Callable[..., Any] = fn.func.eval if isinstance(fn.func, TableFunction) else fn.func
        self.opened = not isinstance(fn.func, TableFunction)
        self.checks = [_checker(t) for t in fn.result_types]

    def __call__(self, *args: Any) -> list[tuple[Any, ...]]:
        if not self.opened:
            self.opened = True
            assert isinstance(self.fn.func, TableFunction)
            self.fn.func.open(None)
        try:
            produced = self.call(*args)
            rows = [] if produced is None else [self._row(r) for r in produced]
        except SqlValidationError:
            raise
        except Exception as exc:
            exc.add_note(f"in the SQL table function {self.sql_name}({', '.join(map(repr, args))})")
            raise
        return rows

    def _row(self, item: Any) -> tuple[Any, ...]:
        n = len(self.checks)
        if n == 1 and not isinstance(item, tuple | list):
            values: tuple[Any, ...] = (item,)
        elif isinstance(item, tuple | list):  # a Row is a tuple
            values = tuple(item)
        else:
            raise SqlValidationError(
                f"the table function {self.sql_name} yielded {item!r}, not a row of {n} values",
                hint=f"yield tuples of {n} values (its result_types)",
            )
        if len(values) != n:
            raise SqlValidationError(
                f"the table function {self.sql_name} yielded a row of {len(values)} values, its result_types has {n}",
                hint=f"yield tuples of {n} values",
            )
        for v, check, t in zip(values, self.checks, self.fn.result_types, strict=True):
            if v is not None and not check(v):
                raise SqlValidationError(
                    f"the table function {self.sql_name} yielded {v!r} ({type(v).__name__}), not a {t.name}",
                    hint="yield values of its result_types, or None for NULL",
                )
        return values

    def __getstate__(self) -> dict[str, Any]:
        return {"fn": self.fn, "sql_name": self.sql_name}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["fn"], state["sql_name"])  # type: ignore[misc]


__all__ = ["TableFunction", "TableInvoker", "UserDefinedTableFunction", "udtf"]
