"""Runs Flink SQL with Python table functions on PyFlink 2.3 (streaming mode, parallelism 1) and prints each
query's rows as JSON: ``python sql_udtf_flink_runner.py spec.json``.

``spec.json``: ``{"ddl": [statements], "functions": {name: {"source": python, "result_types": [types]}},
"queries": {name: query}}``. Each function's source defines a generator function named ``name``; it is wrapped
with PyFlink's ``udtf`` and registered with ``create_temporary_function``. Output: ``{name: [[kind, v1, ...]]}``.
Runs in the PyFlink virtualenv (see ``pyflink_env.py``), not in the test environment.
"""

import json
import sys


def main() -> None:
    from pyflink.table import DataTypes, EnvironmentSettings, TableEnvironment
    from pyflink.table.udf import udtf

    types = {"STRING": DataTypes.STRING(), "INT": DataTypes.INT(), "BIGINT": DataTypes.BIGINT()}
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    conf = t_env.get_config()
    conf.set("parallelism.default", "1")
    conf.set("python.executable", sys.executable)
    conf.set("table.local-time-zone", "UTC")
    for ddl in spec["ddl"]:
        t_env.execute_sql(ddl)
    for name, fn in spec["functions"].items():
        namespace = {"__name__": "__main__"}  # pickled by value to the Python worker
        exec(fn["source"], namespace)
        t_env.create_temporary_function(
            name, udtf(namespace[name], result_types=[types[t] for t in fn["result_types"]])
        )
    out = {}
    for name, query in spec["queries"].items():
        rows = []
        print("running", name, file=sys.stderr, flush=True)
        with t_env.execute_sql(query).collect() as results:
            for row in results:
                rows.append([str(row.get_row_kind()), *list(row)])
        out[name] = rows
    print(json.dumps(out))


if __name__ == "__main__":
    main()
