"""The result channel: length-prefixed frames, read with a bound so that no job can grow the reader's memory.

Public interface:

* :func:`frame`: one payload as a frame (an 8-byte big-endian length, then the bytes).
* :func:`split_frames`: a channel's bytes as frames, or None when they are not whole frames.
* :class:`Reader`: reads a non-blocking descriptor into memory, up to :data:`MAX_CHANNEL_BYTES`; past it, drops
  everything and says ``overflow``.
* :func:`decode_json`: a frame's JSON, or None when it is not JSON or nests deeper than Python can read.
* :func:`send_all`: write every byte of a frame to a descriptor.
"""
from __future__ import annotations

import json
import os
import struct

# What a reader keeps of one job's channel at most: a CIFAR VGG19's exported weights are about 80 MB.
MAX_CHANNEL_BYTES = 256 * 1024 * 1024
HEADER = struct.Struct(">Q")


def frame(payload: bytes) -> bytes:
    """``payload`` as one frame."""
    return HEADER.pack(len(payload)) + payload


def split_frames(data: bytes) -> list[bytes] | None:
    """The frames of a channel, or None when it does not hold whole frames."""
    frames, at = [], 0
    while at < len(data):
        if len(data) - at < HEADER.size:
            return None
        (size,) = HEADER.unpack_from(data, at)
        if at + HEADER.size + size > len(data):
            return None
        frames.append(data[at + HEADER.size:at + HEADER.size + size])
        at += HEADER.size + size
    return frames


def decode_json(payload: bytes):
    """The JSON value of ``payload``; None when it is not JSON, or nested deeper than the interpreter's stack."""
    try:
        return json.loads(payload)
    except (ValueError, RecursionError, UnicodeDecodeError):
        return None


def send_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd``."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class Reader:
    """What arrived on one descriptor so far, bounded by ``limit`` bytes."""

    def __init__(self, fd: int, limit: int = MAX_CHANNEL_BYTES):
        self.fd, self.limit = fd, limit
        self.chunks: list[bytes] = []
        self.received = 0
        self.overflow = False

    def read_available(self) -> None:
        """Read what the descriptor holds now, without blocking."""
        while not self.overflow:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return
            if not data:
                return
            self.received += len(data)
            if self.received > self.limit:
                self.overflow, self.chunks = True, []  # what it sent is dropped: no result can be that large
                return
            self.chunks.append(data)

    def data(self) -> bytes:
        """Everything read so far."""
        return b"".join(self.chunks)
