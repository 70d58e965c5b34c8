"""HTTP sink connector: sends batches of record values to an HTTP endpoint with retries and backoff.

Modules: :mod:`.client` (one request with retries/backoff), :mod:`.body` (batch bodies).
"""
