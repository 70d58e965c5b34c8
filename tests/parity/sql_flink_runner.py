"""Runs Flink SQL statements on PyFlink 2.3 (streaming mode, parallelism 1, watermarks after every row)
and prints each query's rows as JSON: ``python sql_flink_runner.py spec.json``.

``spec.json``: ``{"ddl": [statements], "queries": {name: query}}``. Output: ``{name: [[kind, v1, ...]]}``
with timestamps as ``yyyy-MM-dd HH:mm:ss.SSS``, dates as ``yyyy-MM-dd`` and decimals as strings. With
``"capture_errors": true`` a query Flink refuses gives ``{"error": first line of its message}`` instead of
failing the run. Runs in the PyFlink virtualenv (see ``pyflink_env.py``), not in the test environment.
"""

import datetime
import decimal
import json
import sys


def norm(v):
    if isinstance(v, datetime.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S.") + f"{v.microsecond // 1000:03d}"
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return str(v)
    return v


def main() -> None:
    from pyflink.table import EnvironmentSettings, TableEnvironment

    with open(sys.argv[1]) as f:
        spec = json.load(f)
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    conf = t_env.get_config()
    conf.set("parallelism.default", "1")
    conf.set("pipeline.auto-watermark-interval", "0")
    conf.set("table.local-time-zone", spec.get("time_zone", "UTC"))
    for ddl in spec["ddl"]:
        t_env.execute_sql(ddl)
    out = {}
    for name, query in spec["queries"].items():
        rows = []
        print("running", name, file=sys.stderr, flush=True)
        try:
            with t_env.execute_sql(query).collect() as results:
                for row in results:
                    rows.append([str(row.get_row_kind())] + [norm(v) for v in row])
        except Exception as exc:
            if not spec.get("capture_errors"):
                raise
            out[name] = {"error": str(exc).splitlines()[0]}
            continue
        out[name] = rows
    print(json.dumps(out))


if __name__ == "__main__":
    main()
