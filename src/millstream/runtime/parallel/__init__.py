"""Parallel execution on one machine: a job's subtasks on N worker processes (see :mod:`.coordinator` for the
supervision protocol, :mod:`.worker` for a worker's loop, :mod:`.exchange` for how records and watermarks cross
between subtasks, and :mod:`.transport` for the wire)."""

from .coordinator import ParallelJobRunner, default_parallelism

__all__ = ["ParallelJobRunner", "default_parallelism"]
