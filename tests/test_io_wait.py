"""``core.io_wait.wait_io``: ``select.select``'s contract on ``poll(2)``, for sockets numbered above 1024."""

from __future__ import annotations

import os
import resource
import select
import socket
import time

import pytest

from millstream.core.io_wait import wait_io


def test_readable_writable_and_end_of_stream_as_select_says() -> None:
    a, b = socket.socketpair()
    try:
        assert wait_io([a], (), 0.01) == ([], [])  # nothing to read yet
        assert wait_io([], [a], 0.01) == ([], [a])  # an empty send buffer takes data
        b.sendall(b"x")
        assert wait_io([a, b], (), 1.0) == ([a], [])
        a.recv(1)
        b.close()
        assert wait_io([a], (), 1.0) == ([a], [])  # end of stream is readable: the next recv says so
        assert a.recv(1) == b""
    finally:
        a.close()


def test_file_descriptor_numbers_are_returned_as_given_and_an_empty_wait_sleeps() -> None:
    rd, wr = os.pipe()
    try:
        os.write(wr, b"x")
        assert wait_io([rd], [wr], 1.0) == ([rd], [wr])
        t0 = time.monotonic()
        assert wait_io([], (), 0.05) == ([], [])
        assert time.monotonic() - t0 >= 0.04
    finally:
        os.close(rd)
        os.close(wr)


def test_a_socket_numbered_above_fd_setsize_is_waited_on() -> None:
    """With more than 1024 files open, a new socket's number is out of ``select``'s range; ``wait_io`` waits on
    it (a parallel job's coordinator in such a process failed with "filedescriptor out of range")."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        pytest.skip(f"only {soft} files may be open here")
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        a, b = socket.socketpair()
        try:
            assert a.fileno() >= 1024
            with pytest.raises(ValueError, match="out of range"):
                select.select([a], [], [], 0)
            b.sendall(b"x")
            assert wait_io([a], [a], 1.0) == ([a], [a])
        finally:
            a.close()
            b.close()
    finally:
        for fd in held:
            os.close(fd)
