"""A module of SQL functions for ``CREATE TEMPORARY FUNCTION ... AS 'tests.sql.udf_module.shout'``."""

from millstream.sql import udf


@udf(result_type="STRING")
def shout(s):
    return None if s is None else s.upper() + "!"


not_a_udf = 42
