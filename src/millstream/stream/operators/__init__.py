"""Operator logic (pure, deterministic, driven by calls): see :mod:`.base` for the batch contract."""
