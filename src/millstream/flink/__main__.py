"""``python -m millstream.flink PIPELINE.py [...]``: the Flink side of ``--engine flink``, in a Python that has
PyFlink (:func:`millstream.flink.runner.main`)."""

import sys

from .runner import main

sys.exit(main())
