"""PostgreSQL log sequence numbers (LSNs): 64-bit WAL positions, written ``XXXXXXXX/XXXXXXXX`` by the server.

Debezium stores LSNs in its offsets as plain integers; millstream does the same, and these helpers convert
between the two forms.
"""

from __future__ import annotations


def parse_lsn(text: str) -> int:
    """The integer of a ``hi/lo`` hex LSN (``"0/1525FF0"`` → ``22175728``); ``ValueError`` if malformed."""
    hi, sep, lo = text.strip().partition("/")
    if not sep:
        raise ValueError(f"{text!r} is not an LSN (expected the form 0/1525FF0)")
    return (int(hi, 16) << 32) | int(lo, 16)


def format_lsn(lsn: int) -> str:
    """The server's ``hi/lo`` form of an integer LSN."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


__all__ = ["format_lsn", "parse_lsn"]
