"""Reactive scale-out: one job spread over the instances that run it (:mod:`.runner`)."""

from .runner import ReactiveJobRunner

__all__ = ["ReactiveJobRunner"]
