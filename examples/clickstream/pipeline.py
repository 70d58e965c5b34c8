"""User-behaviour analytics (seed article, section 3.4): the pipeline of `millstream demo` as a file.

Run:  millstream run examples/clickstream/pipeline.py --log file://./.millstream    (Ctrl-C stops it)
"""

import time

from millstream.cli.demo_pipeline import TOPICS, WINDOW_MS, build_clickstream
from millstream.log import open_log


def build(env):
    """Create the topics on the run's log (--log / $MILLSTREAM_LOG) and add the demo's pipelines."""
    with open_log() as log:
        for topic in TOPICS:
            log.create_topic(topic, 1, exist_ok=True)
    t0 = int(time.time() * 1000) // WINDOW_MS * WINDOW_MS
    build_clickstream(env, None, t0=t0)
