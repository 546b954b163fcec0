"""
The streaming engine: a producer thread runs the query, the response sends
bytes at once and keeps the connection alive until the rows come.

    job = StreamJob(header=b"sku,units\\r\\n", chunks=lambda: encode(rows()), using="default")
    stream = SyncStream(job, wire_for(request))      # WSGI: a plain iterator
    stream = AsyncStream(job, wire_for(request))     # ASGI: an async iterator

The producer puts CSV chunks into a queue bounded in bytes, so memory stays flat
whatever the row count. The consumer sends the header first, then chunks as
they come, and a heartbeat whenever nothing was sent for the wire's interval.
When the consumer stops early (the client left, a timeout), the producer is
told to stop and its running query is cancelled in the database. Errors in the
producer reach the consumer, which marks the file as failed and aborts the
transfer. The engine knows nothing of reports.

Aborting a transfer. Once the status line is out, the only way to tell the
client that a download failed is to close the connection without the end of
the body (no terminating chunk, no gzip trailer). The engine logs why first
(ERROR with the traceback for a failure, INFO for a cancel), then ends the body
so that the server closes the connection quietly:

- WSGI: the iterator raises StreamAborted, a BrokenPipeError (EPIPE). Servers take
  a broken pipe for a client gone: gunicorn logs it at debug and closes the
  connection; any other exception would be logged again, traceback and all, as
  "Error handling request".
- ASGI: the async iterator raises CancelledError, which Django's ASGI handler
  takes for a client disconnect: it stops sending and returns, and the server
  closes the unfinished response (uvicorn with one line, "ASGI callable returned
  without completing response.", and no traceback).

Either way the cut only shows when the server speaks HTTP/1.1 to the next hop:
over HTTP/1.0 the end of a response is the close of the connection.

A server that stops mid-stream (gunicorn's sync worker killed at its timeout
raises SystemExit in it; KeyboardInterrupt) fails the stream with ServerStopped,
and the SystemExit goes on, so that the server still stops.
"""

from __future__ import annotations

import asyncio
import enum
import errno
import logging
import sys
import threading
import time
import uuid
import weakref
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from django.db import connections

from .clients import ClientWatch, TaskAbort, watchdog
from .conf import app_settings

isal_zlib: ModuleType | None
try:  # ISA-L's deflate: the same gzip, about 3 times faster ("[speed]" extra)
    from isal import isal_zlib
except ImportError:  # the test environment has it; zlib is tested too
    isal_zlib = None

logger = logging.getLogger("admin_reports.engine")


class Outcome(enum.Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class StreamAborted(BrokenPipeError):
    """Raised into a WSGI server after a failure or a cancel: the transfer must not
    look complete. A broken pipe, so that the server closes the connection without
    logging the cause a second time (see the module docstring)."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.EPIPE, message)


class QueryTimeout(Exception):
    """The query ran longer than its maximum duration (`seconds`)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"Ran longer than {seconds:g} s and was stopped.")
        self.seconds = seconds


class ClientStalled(Exception):
    """The client read nothing of a write for ADMIN_REPORTS_SEND_TIMEOUT seconds."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"The client read nothing for {seconds:g} s; its connection is closed.")


class ServerStopped(Exception):
    """The process stopped the stream from under it: SystemExit, KeyboardInterrupt, or any
    other exception raised into the consumer (a task queue's time limit)."""


# What a server raises in the thread of a request when its process must stop: gunicorn's
# sync worker gets SystemExit from its timeout (SIGABRT); a console, KeyboardInterrupt.
SERVER_STOPS = (SystemExit, KeyboardInterrupt)


@dataclass
class StreamJob:
    """What to stream: the first bytes, and a callable run in the producer thread."""

    header: bytes
    chunks: Callable[[], Iterator[bytes]]
    using: str = "default"
    stream_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    # What logs call the stream ("Report run 12"); default "Stream <stream_id>".
    name: str = ""
    # The last bytes of a stream that did not succeed: marker(what) where `what` is
    # "failed" or "was cancelled". Default: a comment line saying the file is incomplete.
    marker: Callable[[str], bytes] | None = None
    max_duration: float | None = None
    # What a response without gzip sends after a long silence (IdentityWire): a blank
    # line, which CSV readers skip; b"" for a file that takes no bytes but its own (a zip).
    filler: bytes = b"\r\n"
    # Called from the consumer: on_start() as the stream starts, and once at the end
    # on_finish(outcome, error or None, bytes sent).
    on_start: Callable[[], None] | None = None
    on_finish: Callable[[Outcome, BaseException | None, int], None] | None = None
    control: StreamControl = field(default_factory=lambda: StreamControl())

    @property
    def label(self) -> str:
        return self.name or f"Stream {self.stream_id}"

    def marker_bytes(self, what: str) -> bytes:
        if self.marker is not None:
            return self.marker(what)
        return f"\r\n# admin-reports: the stream {what}; this file is incomplete.\r\n".encode()


class StreamControl:
    """Lets another thread stop a running stream, e.g. when its run is cancelled."""

    def __init__(self) -> None:
        self._session: _Session | None = None
        self._reason: BaseException | None = None

    def bind(self, session: _Session) -> None:
        self._session = session
        if self._reason is not None:
            session.request_stop(self._reason)

    def stop(self, reason: BaseException) -> None:
        """End the stream as cancelled, with `reason`; safe from any thread."""
        self._reason = reason
        if self._session is not None:
            self._session.request_stop(reason)


# The queue --------------------------------------------------------------

_DONE = object()
# How long a WSGI worker waits for a cancelled producer thread to end.
JOIN_TIMEOUT = 2.0
# A cancelled query is cancelled again every CANCEL_RETRY seconds while its thread
# lives, for at most CANCEL_PERSISTENCE seconds.
CANCEL_RETRY = 0.25
CANCEL_PERSISTENCE = 30.0
# Seconds a cancel or the deadline waits for the consumer to end the stream before the
# client's connection is closed under it (it is blocked writing to a stalled client).
STUCK_GRACE = 2.0


class ByteQueue:
    """A queue of byte chunks holding at most `capacity` bytes (one chunk always fits)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.size = 0
        self.items: deque[Any] = deque()
        self.closed = False
        self.condition = threading.Condition()

    def put(self, item: Any) -> bool:
        """Block while full; False once the consumer has closed the queue."""
        length = len(item) if isinstance(item, bytes) else 0
        with self.condition:
            while not self.closed and self.items and self.size + length > self.capacity:
                self.condition.wait()
            if self.closed:
                return False
            self.items.append(item)
            self.size += length
            self.condition.notify_all()
            return True

    def get(self, timeout: float) -> Any:
        """The next item, or None when nothing came within `timeout` seconds (at once
        when closed: a stop requested before the consumer waits must not wait)."""
        with self.condition:
            if not self.items and not self.closed:
                self.condition.wait(max(timeout, 0))
            if not self.items:
                return None
            item = self.items.popleft()
            self.size -= len(item) if isinstance(item, bytes) else 0
            self.condition.notify_all()
            return item

    def close(self) -> None:
        with self.condition:
            self.closed = True
            self.items.clear()
            self.size = 0
            self.condition.notify_all()


# Cancelling a running query from another thread, by database vendor.
CANCELLERS: dict[str, Callable[[Any], None]] = {
    "postgresql": lambda raw: raw.cancel_safe(),
    "sqlite": lambda raw: raw.interrupt(),
}
# Thread ident -> how to stop what that thread waits on besides its connection's query
# (a child process reading the rows): called by Producer.cancel() too.
_CANCEL_HOOKS: dict[int, Callable[[], None]] = {}


@contextmanager
def cancel_with(hook: Callable[[], None]) -> Iterator[None]:
    """Within the block, a cancel of the calling thread's producer calls hook() as well."""
    ident = threading.get_ident()
    _CANCEL_HOOKS[ident] = hook
    try:
        yield
    finally:
        _CANCEL_HOOKS.pop(ident, None)


class Producer(threading.Thread):
    """Runs job.chunks() and puts each chunk into the queue, then _DONE or the error."""

    def __init__(self, job: StreamJob, queue: ByteQueue) -> None:
        super().__init__(name=f"admin-reports-{job.stream_id[:8]}", daemon=True)
        self.job = job
        self.queue = queue
        self.stopping = threading.Event()
        self.connection: Any = None  # the thread's own connection wrapper, for cancel()
        self.lock = threading.Lock()

    def run(self) -> None:
        try:
            with self.lock:
                self.connection = connections[self.job.using]
            if self.stopping.is_set():
                return
            for chunk in self.job.chunks():
                if self.stopping.is_set() or not self.queue.put(chunk):
                    return
            self.queue.put(_DONE)
        except BaseException as exc:  # handed to the consumer, which logs it
            self.queue.put(exc)
        finally:
            with self.lock:
                self.connection = None
            # Like LiveServerThread: this thread's connections die with it.
            connections.close_all()

    def cancel(self) -> None:
        """Stop producing and cancel the query; returns at once, safe from any thread."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        self.queue.close()
        if self.is_alive():
            # Repeat the cancel until the thread ends: a cancel that lands just before the
            # query starts (between connect and execute) would otherwise be lost.
            threading.Thread(target=self._cancel_until_done, daemon=True).start()

    def _cancel_until_done(self) -> None:
        deadline = time.monotonic() + CANCEL_PERSISTENCE
        while self.is_alive() and time.monotonic() < deadline:
            self._cancel_query()
            self.join(CANCEL_RETRY)

    def _cancel_query(self) -> None:
        hook = _CANCEL_HOOKS.get(self.ident) if self.ident is not None else None
        if hook is not None:
            try:
                hook()
            except Exception:  # what it stops may have just ended
                logger.debug("Cancelling the reader of %s failed", self.job.label, exc_info=True)
        with self.lock:
            connection = self.connection
            raw = getattr(connection, "connection", None) if connection else None
            cancel = CANCELLERS.get(connection.vendor) if raw is not None else None
            if cancel is None:
                return
            try:
                cancel(raw)
            except Exception:  # the query may have just ended; nothing to cancel
                logger.debug("Cancelling the query of %s failed", self.job.label, exc_info=True)


# Wire formats -----------------------------------------------------------


class IdentityWire:
    """Bytes as they are; a heartbeat is the job's filler (a blank line), sent only after a
    long silence."""

    content_encoding = None

    def __init__(self, heartbeats: bool = True) -> None:
        # A file needs no heartbeats: nobody cuts it off.
        self.heartbeats = heartbeats
        self.interval = float(app_settings.IDENTITY_HEARTBEAT_INTERVAL) if heartbeats else 3600.0

    def data(self, chunk: bytes) -> bytes:
        return chunk

    def heartbeat(self, filler: bytes = b"\r\n") -> bytes:
        return filler if self.heartbeats else b""

    def end(self) -> bytes:
        return b""


class GzipWire:
    """gzip, flushed after every chunk; a heartbeat is an empty sync flush (5 bytes with
    zlib, 6 with ISA-L).

    The deflate is ISA-L's when the isal package is installed (its levels are 0-3:
    ADMIN_REPORTS_GZIP_LEVEL above 3 is 3), else zlib's; `library` picks one.
    """

    content_encoding = "gzip"

    def __init__(self, library: ModuleType | None = None) -> None:
        self.interval = float(app_settings.HEARTBEAT_INTERVAL)
        library = library or isal_zlib or zlib
        level = app_settings.GZIP_LEVEL
        if library is not zlib:
            level = min(level, 3)
        self.flush_mode = library.Z_SYNC_FLUSH
        self.finish_mode = library.Z_FINISH
        self.compressor = library.compressobj(level, library.DEFLATED, 16 + zlib.MAX_WBITS)

    def data(self, chunk: bytes) -> bytes:
        return self.compressor.compress(chunk) + self.compressor.flush(self.flush_mode)

    def heartbeat(self, filler: bytes = b"") -> bytes:
        # The filler is not needed: an empty flush decodes to nothing.
        # compress(b"") first: a flush alone after a flush emits nothing at all.
        return self.compressor.compress(b"") + self.compressor.flush(self.flush_mode)

    def end(self) -> bytes:
        return self.compressor.flush(self.finish_mode)


# The consumer -----------------------------------------------------------


class _Session:
    """What both consumers share: start, turn queue items into bytes, finish once."""

    def __init__(self, job: StreamJob, wire, release: Callable[[], None] | None) -> None:
        self.job = job
        self.wire = wire
        self.queue = ByteQueue(app_settings.QUEUE_BYTES)
        self.producer = Producer(job, self.queue)
        self.started = self.last_sent = time.monotonic()
        self.sent = 0
        self.finished = False
        self.error: BaseException | None = None
        self.stop_reason: BaseException | None = None
        self.client: ClientWatch | TaskAbort | None = None  # set by a consumer
        self.stop_requested_at: float | None = None
        self.writing_since: float | None = None  # the consumer handed bytes to the server
        self._release = release
        self._lock = threading.Lock()
        job.control.bind(self)

    def start(self) -> bytes:
        if self.job.on_start is not None:
            self.job.on_start()
        self.producer.start()
        if self.client is not None:
            watchdog.watch(self)
        return self.count(self.wire.data(self.job.header))

    def request_stop(self, reason: BaseException) -> None:
        """Called from any thread: the consumer ends the stream at its next step."""
        if self.stop_requested_at is None:  # a tracker asks again at each look
            self.stop_requested_at = time.monotonic()
        self.stop_reason = reason
        self.producer.cancel()  # also wakes a consumer waiting on the queue

    def writing(self, data: bytes) -> bytes:
        """The consumer hands `data` to the server: from now until it asks for more,
        the write may block on a client that stopped reading."""
        self.writing_since = time.monotonic()
        return data

    def written(self) -> None:
        self.writing_since = None

    def check(self, now: float) -> None:
        """The watchdog's look: end a stream whose consumer is stuck in a write."""
        overdue = self.overdue(now)
        if overdue is not None and not self.finished and self.client is not None:
            self._unstick(*overdue)

    def overdue(self, now: float) -> tuple[BaseException, Outcome] | None:
        limit, asked = self.job.max_duration, self.stop_requested_at
        if asked is not None and self.stop_reason is not None and now - asked >= STUCK_GRACE:
            return self.stop_reason, Outcome.CANCELLED
        if limit is not None and now - self.started >= limit + STUCK_GRACE:
            return QueryTimeout(limit), Outcome.FAILED
        send_timeout, since = app_settings.SEND_TIMEOUT, self.writing_since
        if send_timeout is not None and since is not None and now - since >= send_timeout:
            return ClientStalled(send_timeout), Outcome.CANCELLED
        return None

    def _unstick(self, reason: BaseException, outcome: Outcome) -> None:
        """End the stream here and close the client's connection under the write."""
        if isinstance(reason, ClientStalled):
            logger.info("%s cancelled: %s", self.job.label, reason)
        else:
            logger.log(
                logging.ERROR if outcome is Outcome.FAILED else logging.INFO,
                "%s %s: %s The client stopped reading; its connection is closed.",
                self.job.label,
                "failed" if outcome is Outcome.FAILED else "cancelled",
                reason,
            )
        self.error = reason
        self.finish(outcome, reason)
        if self.client is not None:
            self.client.abort()

    def count(self, data: bytes) -> bytes:
        self.sent += len(data)
        if data:
            self.last_sent = time.monotonic()
        return data

    def wait_time(self) -> float:
        now = time.monotonic()
        until_heartbeat = self.last_sent + self.wire.interval - now
        if self.job.max_duration is not None:
            until_heartbeat = min(until_heartbeat, self.started + self.job.max_duration - now)
        return max(until_heartbeat, 0.0)

    def step(self, item: Any) -> tuple[bytes, bool]:
        """(bytes to send, whether the stream ends) for a queue item; None: nothing came.

        After a failure the stream ends and `self.error` is set: the consumer must
        then raise StreamAborted, so that the transfer is not seen as complete.
        """
        if self.finished:  # ended by the watchdog while the consumer was writing
            return b"", True
        if self.stop_reason is not None:
            return self.fail(self.stop_reason, Outcome.CANCELLED), True
        # The deadline holds whether rows are waiting or not: a slow reader keeps the
        # queue full, and the run must stop all the same.
        if item is not _DONE and self.past_deadline():
            return self.fail(QueryTimeout(self.job.max_duration or 0)), True
        if item is None:
            if time.monotonic() - self.last_sent >= self.wire.interval:
                beat = self.wire.heartbeat(self.job.filler)
                if not beat:  # nothing may be sent: wait another interval, not at once
                    self.last_sent = time.monotonic()
                return self.count(beat), False
            return b"", False
        if item is _DONE:
            data = self.count(self.wire.end())
            self.finish(Outcome.SUCCEEDED, None)
            return data, True
        if isinstance(item, BaseException):
            return self.fail(item), True
        return self.count(self.wire.data(item)), False

    def past_deadline(self) -> bool:
        limit = self.job.max_duration
        return limit is not None and time.monotonic() - self.started >= limit

    def fail(self, error: BaseException, outcome: Outcome = Outcome.FAILED) -> bytes:
        if outcome is Outcome.FAILED:
            logger.error(
                "%s failed while streaming; the download is aborted.",
                self.job.label,
                exc_info=error,
            )
            what = "failed"
        else:
            logger.info("%s cancelled: %s", self.job.label, error)
            what = "was cancelled"
        marker = self.job.marker_bytes(what)
        self.error = error
        self.finish(outcome, error)
        return self.count(self.wire.data(marker))

    def abort_message(self) -> str:
        return f"{self.job.label} failed"

    def aborted(self) -> StreamAborted:
        exc = StreamAborted(self.abort_message())
        exc.__cause__ = self.error
        return exc

    def server_stopped(self, stop: BaseException) -> None:
        """The process is stopping under the stream: a failure, and nothing more is sent."""
        if self.finished:
            return
        logger.error(
            "%s failed: the server process stopped (%s); the download is cut off.",
            self.job.label,
            type(stop).__name__,
        )
        if isinstance(stop, SERVER_STOPS):
            error = ServerStopped("The server process stopped.")
        else:  # a task queue's time limit (RQ's job timeout), a signal handler's exception
            error = ServerStopped(f"The run was stopped by {type(stop).__name__}: {stop}")
        error.__cause__ = stop
        self.error = error
        self.finish(Outcome.FAILED, error)

    def finish(self, outcome: Outcome, error: BaseException | None) -> None:
        with self._lock:  # the consumer, or a timer of _unstick
            if self.finished:
                return
            self.finished = True
        watchdog.forget(self)
        if outcome is Outcome.SUCCEEDED:
            self.queue.close()  # the producer is done: nothing to cancel
        else:
            self.producer.cancel()
        if self._release is not None:
            self._release()
        if self.job.on_finish is not None:
            self.job.on_finish(outcome, error, self.sent)

    def cancel(self, wait: float = 0) -> None:
        """The consumer went away before the end: stop the query (and wait for the thread)."""
        if not self.finished:
            if self.producer.is_alive():
                logger.info("%s cancelled: the client went away.", self.job.label)
            self.finish(Outcome.CANCELLED, None)
        if wait and self.producer.is_alive():
            self.producer.join(wait)


class SyncStream:
    """The response body under WSGI: a plain iterator. Its close() always cleans up."""

    def __init__(
        self,
        job: StreamJob,
        wire,
        release: Callable[[], None] | None = None,
        client: ClientWatch | None = None,
    ) -> None:
        self.session = _Session(job, wire, release)
        self.session.client = client
        self._finalizer = weakref.finalize(self, self.session.cancel)

    def _wait(self) -> float:
        wait, client = self.session.wait_time(), self.session.client
        if client is None or client.interval is None:
            return wait
        return min(wait, client.interval)

    def __iter__(self) -> Iterator[bytes]:
        return self._run()

    def _run(self) -> Iterator[bytes]:
        session, client = self.session, self.session.client
        try:
            yield session.writing(session.start())
            session.written()
            ended = False
            while not ended:
                item = session.queue.get(self._wait())
                if item is None and client is not None and client.gone():
                    session.cancel()  # logged at INFO as a client that went away
                    raise session.aborted()
                data, ended = session.step(item)
                if data:
                    yield session.writing(data)
                    session.written()
            if session.error is not None:
                raise session.aborted()
        except GeneratorExit:  # closed early: the client went away (the finally)
            raise
        except BaseException as stop:  # raised here while we wait for the queue
            session.server_stopped(stop)  # nothing if the session ended (StreamAborted)
            raise
        finally:
            session.cancel(wait=JOIN_TIMEOUT)

    def close(self) -> None:
        # The server closes the body in a `finally`: when that runs because the process
        # is stopping (the SystemExit came while the server was writing), the exception
        # is the one being handled.
        stop = sys.exc_info()[1]
        if isinstance(stop, SERVER_STOPS):
            self.session.server_stopped(stop)
        self.session.cancel(wait=JOIN_TIMEOUT)


class AsyncStream:
    """The response body under ASGI: an async iterator (Django buffers sync ones whole)."""

    def __init__(self, job: StreamJob, wire, release: Callable[[], None] | None = None) -> None:
        self.session = _Session(job, wire, release)
        self._finalizer = weakref.finalize(self, self.session.cancel)

    def __aiter__(self):
        return self._run()

    async def _run(self):
        session = self.session
        session.client = TaskAbort()  # this task sends the response: cancel it to abort
        try:
            yield session.writing(session.start())
            session.written()
            ended = False
            while not ended:
                item = await asyncio.to_thread(session.queue.get, session.wait_time())
                data, ended = session.step(item)
                if data:
                    yield session.writing(data)
                    session.written()
            if session.error is not None:
                # Not StreamAborted: Django's handler would hand it to the server, which
                # logs it with its traceback a second time (see the module docstring).
                raise asyncio.CancelledError(session.abort_message()) from session.error
        finally:
            # Also on CancelledError: the client left and Django cancelled the response.
            session.cancel()

    def close(self) -> None:
        self.session.cancel()
