"""A module of SQL functions for ``CREATE TEMPORARY FUNCTION ... AS 'tests.sql.udf_module.shout'``."""

from millstream.sql import udf, udtf


@udf(result_type="STRING")
def shout(s):
    return None if s is None else s.upper() + "!"


not_a_udf = 42


@udtf(result_types=["STRING", "INT"])
def words(line):
    for w in (line or "").split():
        yield w, len(w)
