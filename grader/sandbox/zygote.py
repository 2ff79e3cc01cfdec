"""A fork server: a fresh interpreter that forks every job's supervisor, so that no job that runs student code is a
copy of a process that has held another student's data (their reports, curves or files).

Public interface:

* :class:`Zygote`: ``start(preload)`` (a fresh ``python -m grader.sandbox.zygote``, which first calls ``preload``,
  a ``module:function`` name, to import what every job needs), ``launch(...)`` (as :func:`grader.sandbox.full.launch`,
  returning the supervisor's pid), ``wait(pid, block)`` (its wait status, or None while it runs), ``close()``.
  Pass it to :class:`~grader.sandbox.full.FullJob` as ``launcher``.

The owner sends each launch as a pickle with the job's two descriptors attached (SCM_RIGHTS): the zygote trusts
its owner, which runs no student code. The zygote answers with JSON only: the supervisor's pid, and each exit as it
reaps it. It holds nothing of a job once the supervisor is forked, and exits when its owner closes the socket.
"""
from __future__ import annotations

import importlib
import json
import os
import pickle
import select
import socket
import struct
import subprocess
import sys
from pathlib import Path

from grader.sandbox import facts
from grader.sandbox.full import launch

HEADER = struct.Struct(">Q")
MAX_MESSAGE = 64 * 1024 * 1024


def _send(sock: socket.socket, payload: bytes, fds: list[int] | None = None) -> None:
    data = HEADER.pack(len(payload)) + payload
    if fds:
        socket.send_fds(sock, [data[:HEADER.size]], fds)
        data = data[HEADER.size:]
    sock.sendall(data)


def _receive(sock: socket.socket) -> tuple[bytes, list[int]] | None:
    """One message and the descriptors that came with it; None at the end of the stream."""
    head, fds, _, _ = socket.recv_fds(sock, HEADER.size, 4)
    while head and len(head) < HEADER.size:
        more = sock.recv(HEADER.size - len(head))
        if not more:
            return None
        head += more
    if not head:
        return None
    (size,) = HEADER.unpack(head)
    if size > MAX_MESSAGE:
        raise ValueError(facts.state(facts.ZYGOTE_MESSAGE, n=size))
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks), list(fds)


class Zygote:
    """The owner's handle on one fork server (see the module docstring)."""

    def __init__(self):
        self.process: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.exits: dict[int, int] = {}

    def start(self, preload: str) -> None:
        """Start the server and wait until ``preload`` has run in it."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.process = subprocess.Popen([sys.executable, "-m", "grader.sandbox.zygote", str(theirs.fileno()), preload],
                                        pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
        theirs.close()
        self.sock = mine
        ready = self._next()
        if ready.get("ready") is not True:
            raise RuntimeError(facts.state(facts.ZYGOTE_NOT_STARTED, error=ready.get("error", facts.NO_ANSWER)))

    def _next(self) -> dict:
        assert self.sock is not None
        message = _receive(self.sock)
        if message is None:
            raise RuntimeError(facts.ZYGOTE_ENDED)
        return json.loads(message[0])

    def _take(self, block: bool) -> dict | None:
        assert self.sock is not None
        if not block and not select.select([self.sock], [], [], 0)[0]:
            return None
        answer = self._next()
        if "exit" in answer:
            self.exits[int(answer["exit"])] = int(answer["status"])
        return answer

    def launch(self, task, work: str, limits, view, group: Path | None, result_fd: int, capture_fd: int) -> int:
        """Have the server fork the supervisor of one job; its pid."""
        assert self.sock is not None
        _send(self.sock, pickle.dumps((task, work, limits, view, group)), [result_fd, capture_fd])
        while True:
            answer = self._take(block=True)
            if answer is not None and "pid" in answer:
                return int(answer["pid"])
            if answer is not None and "error" in answer:
                raise RuntimeError(facts.state(facts.ZYGOTE_CANNOT_LAUNCH, error=answer["error"]))

    def wait(self, pid: int, block: bool) -> int | None:
        """The wait status of supervisor ``pid`` once the server reaped it; None while it runs (``block``: wait)."""
        while pid not in self.exits:
            if self._take(block) is None:
                return None
        return self.exits.pop(pid)

    def close(self) -> None:
        """Stop the server."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.process is not None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


def _reap(sock: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if not pid:
            return
        _send(sock, json.dumps({"exit": pid, "status": status}).encode())


def serve(fd: int, preload: str) -> None:
    """The server's loop (``python -m grader.sandbox.zygote FD MODULE:FUNCTION``)."""
    sock = socket.socket(fileno=fd)
    try:
        module, _, function = preload.partition(":")
        getattr(importlib.import_module(module), function)()
    except Exception as exc:  # noqa: BLE001 - the owner says so
        _send(sock, json.dumps({"ready": False, "error": f"{type(exc).__name__}: {exc}"}).encode())
        return
    _send(sock, json.dumps({"ready": True}).encode())
    while True:
        if select.select([sock], [], [], 0.05)[0]:
            message = _receive(sock)
            if message is None:
                return
            payload, fds = message
            try:
                task, work, limits, view, group = pickle.loads(payload)
                pid = launch(task, work, limits, view, group, fds[0], fds[1])
                answer: dict[str, object] = {"pid": pid}
            except Exception as exc:  # noqa: BLE001
                answer = {"error": f"{type(exc).__name__}: {exc}"}
            finally:
                for descriptor in fds:
                    os.close(descriptor)
                del payload
            _send(sock, json.dumps(answer).encode())
        _reap(sock)


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2])
