"""
The other end of a stream: noticing a client that left, and freeing a consumer
stuck writing to a client that stopped reading.

A consumer blocked in a write sees nothing: not its deadline, not a cancel, not how
long the write has taken. One watchdog thread per process (started with the first
watched stream, ended with the last) looks at each stream a few times a second; a
stream that is overdue aborts its client, which ends the blocked write:

- WSGI (gunicorn): ClientWatch shuts the client's socket down under the write.
- ASGI: TaskAbort cancels the task sending the response; Django takes the
  CancelledError for a client gone, and the server closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from typing import Protocol

logger = logging.getLogger("admin_reports.engine")


class ClientWatch:
    """Notices a client that left, by peeking at its socket while the stream waits.

    A WSGI server learns of a departed client only when it writes; without gzip the
    heartbeats are far apart, so the stream looks for the end of the client's side of
    the connection itself (gunicorn hands the socket over in the WSGI environ).
    """

    interval: float | None = 1.0  # seconds between looks

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def gone(self) -> bool:
        try:
            data = self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return False  # nothing to read: the client is there, waiting
        except OSError:
            return True  # reset, or the socket is closed
        return data == b""  # an orderly close; bytes would be a next request

    def abort(self) -> None:
        """Close the connection under a consumer blocked writing to it."""
        with contextlib.suppress(OSError):  # already closed
            self.sock.shutdown(socket.SHUT_RDWR)


class TaskAbort:
    """ASGI: the task sending the response, to cancel from another thread.

    The server tells Django of a client that left; a client that stopped reading
    blocks the task in `send` until it is cancelled. Made in that task.
    """

    interval: float | None = None  # nothing to look at: the server reports a departure

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.task = asyncio.current_task()

    def gone(self) -> bool:
        return False

    def abort(self) -> None:
        if self.task is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nothing to free
                self.loop.call_soon_threadsafe(self.task.cancel)


class Watched(Protocol):
    def check(self, now: float) -> None:
        """Abort the client if the stream is overdue (called from the watchdog thread)."""


class Watchdog:
    """One thread for the process, alive while any stream is watched."""

    interval = 0.25  # seconds between rounds

    def __init__(self) -> None:
        self._watched: set[Watched] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, stream: Watched) -> None:
        with self._lock:
            self._watched.add(stream)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="admin-reports-watchdog", daemon=True
                )
                self._thread.start()

    def forget(self, stream: Watched) -> None:
        with self._lock:
            self._watched.discard(stream)

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            with self._lock:
                if not self._watched:
                    self._thread = None  # the next watch() starts another
                    return
                streams = list(self._watched)
            now = time.monotonic()
            for stream in streams:
                try:
                    stream.check(now)
                except Exception:  # one stream's trouble must not blind the others
                    logger.exception("Could not check a report stream for a stalled client.")


watchdog = Watchdog()
