-- Page views per minute: a Flink SQL job run by `millstream sql -f page_views.sql`
-- (from this directory). The row at 30 s arrives after the watermark passed 59.999 s: late for the
-- first minute, still counted in the 2-minute HOP window that has not fired.
CREATE TABLE clicks (
  page STRING,
  user_id STRING,
  ms BIGINT,
  amount INT,
  ts AS TO_TIMESTAMP_LTZ(ms, 3),
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
  'connector' = 'filesystem',
  'path' = 'clicks.json',
  'format' = 'json'
);

CREATE TABLE page_views (
  window_start TIMESTAMP(3),
  page STRING,
  views BIGINT,
  users BIGINT,
  total INT
) WITH (
  'connector' = 'print'
);

INSERT INTO page_views
SELECT window_start, page, COUNT(*), COUNT(DISTINCT user_id), SUM(amount)
FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
GROUP BY window_start, window_end, page;

SELECT window_start, window_end, COUNT(*) AS views
FROM TABLE(HOP(TABLE clicks, DESCRIPTOR(ts), INTERVAL '1' MINUTE, INTERVAL '2' MINUTE))
GROUP BY window_start, window_end;
