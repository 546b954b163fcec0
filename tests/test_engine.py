"""The engine on its own: heartbeats, gzip framing, bounded memory, failure and cancel."""

import asyncio
import errno
import gzip
import itertools
import logging
import signal
import socket
import sys
import threading
import time
import zlib

import pytest
from django.test import override_settings
from isal import isal_zlib

from admin_reports.clients import ClientWatch
from admin_reports.engine import (
    AsyncStream,
    ByteQueue,
    ClientStalled,
    GzipWire,
    IdentityWire,
    Outcome,
    ServerStopped,
    StreamAborted,
    StreamJob,
    SyncStream,
    cancel_with,
)

from .waiting import settled, wait_until


def slow_chunks(delay: float, chunks: list[bytes], fail: Exception | None = None):
    def run():
        time.sleep(delay)
        yield from chunks
        if fail is not None:
            raise fail

    return run


def gated_chunks(gate: threading.Event, chunks: list[bytes]):
    """Rows that come only once the gate opens (the test, a cancel, or 30 s): a signal
    due while the stream waits for them comes first, however late it is delivered."""

    def run():
        with cancel_with(gate.set):  # a cancelled query ends, as a real one does
            gate.wait(30)
        yield from chunks

    return run


def collect(stream) -> list[tuple[float, bytes]]:
    started = time.monotonic()
    return [(time.monotonic() - started, piece) for piece in stream]


def drain(stream) -> tuple[list[tuple[float, bytes]], BaseException | None]:
    """Every piece with its time, and the exception that ended the stream (if any)."""
    pieces, started = [], time.monotonic()
    try:
        for piece in stream:
            pieces.append((time.monotonic() - started, piece))
    except StreamAborted as exc:
        return pieces, exc
    return pieces, None


def finished_with():
    seen = []
    return seen, lambda outcome, error, sent: seen.append((outcome, error, sent))


HEARTBEAT = 0.3  # seconds
SILENCE = 6.0  # the query's time to its first row


@override_settings(ADMIN_REPORTS_HEARTBEAT_INTERVAL=HEARTBEAT)
def test_gzip_heartbeats_while_the_query_runs_and_the_file_stays_exact():
    seen, on_finish = finished_with()
    job = StreamJob(
        b"a,b\r\n", slow_chunks(SILENCE, [b"1,2\r\n", b"3,4\r\n"]), on_finish=on_finish
    )
    pieces = collect(SyncStream(job, GzipWire()))
    assert pieces[0][0] < SILENCE / 2, "the header goes out at once, long before the rows"
    heartbeats = [piece for at, piece in pieces if piece in EMPTY_FLUSHES.values()]
    assert len(heartbeats) >= 2
    # Without heartbeats the longest gap is the whole silence. With them it is about one
    # interval: ten intervals (half the silence) leave room for seconds of a busy machine.
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(pieces)]
    assert max(gaps) < 10 * HEARTBEAT
    body = b"".join(piece for _, piece in pieces)
    assert gzip.decompress(body) == b"a,b\r\n1,2\r\n3,4\r\n"
    assert seen == [(Outcome.SUCCEEDED, None, len(body))]


@override_settings(ADMIN_REPORTS_IDENTITY_HEARTBEAT_INTERVAL=0.3)
def test_identity_heartbeats_are_blank_lines_between_rows():
    rows = threading.Event()
    job = StreamJob(b"a,b\r\n", gated_chunks(rows, [b"1,2\r\n"]))
    iterator = iter(SyncStream(job, IdentityWire()))
    assert next(iterator) == b"a,b\r\n"
    assert next(iterator) == b"\r\n", "a blank line while the query runs"
    rows.set()
    rest = b"".join(iterator)  # more blank lines if the row is slow to come
    assert rest.endswith(b"1,2\r\n")
    assert set(rest.removesuffix(b"1,2\r\n").split(b"\r\n")) <= {b""}, "blank lines only"


def test_identity_sends_nothing_extra_when_rows_come_in_time():
    job = StreamJob(b"\xef\xbb\xbfa\r\n", slow_chunks(0.1, [b"1\r\n", b"2\r\n"]))
    assert b"".join(SyncStream(job, IdentityWire())) == b"\xef\xbb\xbfa\r\n1\r\n2\r\n"


# An empty sync flush: zlib's empty stored block, ISA-L's empty fixed block first.
EMPTY_FLUSHES = {zlib: b"\x00\x00\x00\xff\xff", isal_zlib: b"\x02\x00\x00\x00\xff\xff"}


@pytest.mark.parametrize("library", [zlib, isal_zlib], ids=["zlib", "isal"])
@override_settings(ADMIN_REPORTS_GZIP_LEVEL=6)
def test_an_empty_flush_decodes_to_nothing_and_costs_five_or_six_bytes(library):
    wire = GzipWire(library)
    first = wire.data(b"x\r\n" * 1000)
    beats = [wire.heartbeat() for _ in range(3)]
    assert beats == [EMPTY_FLUSHES[library]] * 3
    more = wire.data(b"y\r\n")
    body = first + b"".join(beats) + more + wire.end()
    assert gzip.decompress(body) == b"x\r\n" * 1000 + b"y\r\n"
    assert len(first) < 100, "compressed"


def test_the_gzip_wire_uses_isal_when_it_is_installed():
    assert GzipWire().compressor.__class__.__module__.startswith("isal")


def test_a_failure_marks_the_file_and_aborts(caplog):
    seen, on_finish = finished_with()
    error = RuntimeError("disk on fire")
    job = StreamJob(
        b"a\r\n",
        slow_chunks(0, [b"1\r\n"], fail=error),
        stream_id="run42",
        name="Report run run42",
        on_finish=on_finish,
    )
    pieces, aborted = drain(SyncStream(job, IdentityWire()))
    assert aborted.strerror == "Report run run42 failed"
    assert aborted.__cause__ is error
    # A broken pipe: a WSGI server closes the connection without logging it again.
    assert isinstance(aborted, BrokenPipeError)
    assert aborted.errno == errno.EPIPE
    assert b"".join(piece for _, piece in pieces) == (
        b"a\r\n1\r\n\r\n# admin-reports: the stream failed; this file is incomplete.\r\n"
    )
    assert seen[0][:2] == (Outcome.FAILED, error)
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert record.getMessage() == (
        "Report run run42 failed while streaming; the download is aborted."
    )
    assert record.exc_info[1] is error, "logged once, with the traceback"


def test_a_cancel_is_logged_at_info_and_aborts_the_download(caplog):
    caplog.set_level(logging.INFO, logger="admin_reports")
    seen, on_finish = finished_with()
    job = StreamJob(
        b"a\r\n",
        slow_chunks(0.5, []),
        stream_id="run7",
        name="Report run run7",
        on_finish=on_finish,
    )
    iterator = iter(SyncStream(job, IdentityWire()))
    assert next(iterator) == b"a\r\n"
    reason = RuntimeError("Cancelled on request.")  # any reason: the runs layer's own
    job.control.stop(reason)
    pieces, aborted = drain(iterator)
    assert pieces[-1][0] < 10, "at once, not after the 20 s heartbeat interval"
    assert isinstance(aborted, StreamAborted), "a cancelled download must not look complete"
    assert b"".join(piece for _, piece in pieces).endswith(
        b"the stream was cancelled; this file is incomplete.\r\n"
    )
    assert seen[0][:2] == (Outcome.CANCELLED, reason)
    [record] = caplog.records
    assert (record.levelno, record.exc_info) == (logging.INFO, None)
    assert record.getMessage() == "Report run run7 cancelled: Cancelled on request."


async def adrain(stream) -> tuple[bytes, BaseException | None]:
    pieces = []
    try:
        async for piece in stream:
            pieces.append(piece)
    except asyncio.CancelledError as exc:
        return b"".join(pieces), exc
    return b"".join(pieces), None


def test_an_async_failure_ends_the_body_as_django_ends_a_cancelled_one(caplog):
    seen, on_finish = finished_with()
    error = RuntimeError("disk on fire")
    job = StreamJob(b"a\r\n", slow_chunks(0, [b"1\r\n"], fail=error), on_finish=on_finish)
    body, aborted = asyncio.run(adrain(AsyncStream(job, IdentityWire())))
    # Django's ASGI handler stops sending on CancelledError and returns; the server
    # closes the unfinished response, without logging the error again.
    assert isinstance(aborted, asyncio.CancelledError)
    assert aborted.__cause__ is error
    assert body.endswith(b"this file is incomplete.\r\n")
    assert seen[0][:2] == (Outcome.FAILED, error)
    assert len(caplog.records) == 1


def stopped_server(seen) -> ServerStopped:
    """The error of a stream that ended because the server process stopped."""
    [(outcome, error, _)] = seen
    assert outcome is Outcome.FAILED
    assert isinstance(error, ServerStopped)
    assert str(error) == "The server process stopped."
    return error


def test_a_server_stop_while_waiting_for_rows_fails_the_stream_and_goes_on(caplog):
    seen, on_finish = finished_with()
    rows = threading.Event()
    job = StreamJob(b"a\r\n", gated_chunks(rows, [b"1\r\n"]), on_finish=on_finish)

    def abort(signum, frame):
        sys.exit(1)  # what gunicorn's sync worker does at its timeout (SIGABRT)

    previous = signal.signal(signal.SIGALRM, abort)
    try:
        iterator = iter(SyncStream(job, IdentityWire()))
        assert next(iterator) == b"a\r\n"
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        with pytest.raises(SystemExit):
            next(iterator)  # the signal comes while the stream waits for the rows
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        rows.set()  # however the test went, the producer ends
    assert isinstance(stopped_server(seen).__cause__, SystemExit)
    assert "failed: the server process stopped (SystemExit)" in caplog.text


class TimeLimit(Exception):
    """What a task queue raises into its job at its time limit (RQ's JobTimeoutException)."""


def test_another_exception_while_waiting_for_rows_fails_the_stream_with_its_name():
    seen, on_finish = finished_with()
    rows = threading.Event()
    job = StreamJob(b"a\r\n", gated_chunks(rows, [b"1\r\n"]), on_finish=on_finish)

    def time_limit(signum, frame):
        raise TimeLimit("Task exceeded maximum timeout value (180 seconds)")

    previous = signal.signal(signal.SIGALRM, time_limit)
    try:
        iterator = iter(SyncStream(job, IdentityWire()))
        assert next(iterator) == b"a\r\n"
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        with pytest.raises(TimeLimit):
            next(iterator)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        rows.set()  # however the test went, the producer ends
    outcome, error, _sent = seen[0]
    assert outcome is Outcome.FAILED, "not a client that went away"
    assert str(error) == (
        "The run was stopped by TimeLimit: Task exceeded maximum timeout value (180 seconds)"
    )


def serve(stream, stop: type[BaseException]) -> None:
    """What a WSGI server does when its process stops as it writes the first piece."""
    body = iter(stream)  # held, as Django's response holds it, until close()
    try:
        for _ in body:
            raise stop()  # in the server's write
    finally:
        stream.close()


@pytest.mark.parametrize("stop", [SystemExit, KeyboardInterrupt])
def test_a_server_stop_while_writing_fails_the_stream_and_goes_on(stop):
    seen, on_finish = finished_with()
    job = StreamJob(b"a\r\n", slow_chunks(0.1, []), on_finish=on_finish)
    with pytest.raises(stop):
        serve(SyncStream(job, IdentityWire()), stop)
    assert isinstance(stopped_server(seen).__cause__, stop)


def test_a_failed_gzip_stream_has_no_valid_trailer():
    job = StreamJob(b"a\r\n", slow_chunks(0, [b"1\r\n"], fail=RuntimeError("x")))
    pieces, aborted = drain(SyncStream(job, GzipWire()))
    assert isinstance(aborted, StreamAborted)
    body = b"".join(piece for _, piece in pieces)
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    assert decoder.decompress(body).endswith(b"this file is incomplete.\r\n")
    assert not decoder.eof, "a decoder must see the stream as cut short"
    with pytest.raises(EOFError):
        gzip.decompress(body)


def test_max_duration_stops_the_producer():
    seen, on_finish = finished_with()
    job = StreamJob(b"a\r\n", slow_chunks(6, [b"1\r\n"]), max_duration=0.3, on_finish=on_finish)
    pieces, aborted = drain(SyncStream(job, IdentityWire()))
    assert isinstance(aborted, StreamAborted)
    marked_at = [at for at, piece in pieces if b"failed" in piece]
    assert len(marked_at) == 1
    assert 0.3 <= marked_at[0] < 3.0, "stopped at the deadline, long before the row came"
    assert seen[0][0] is Outcome.FAILED
    assert str(seen[0][1]) == "Ran longer than 0.3 s and was stopped."


@override_settings(ADMIN_REPORTS_QUEUE_BYTES=10_000)
def test_closing_early_cancels_and_ends_the_thread():
    seen, on_finish = finished_with()
    produced = []

    def chunks():
        for i in range(1000):
            produced.append(i)
            yield b"x" * 1000

    # The threads that were there: an earlier test's producer may still end meanwhile.
    before = set(threading.enumerate())
    stream = SyncStream(StreamJob(b"h\r\n", chunks, on_finish=on_finish), IdentityWire())
    iterator = iter(stream)
    next(iterator)
    next(iterator)
    iterator.close()  # what the server does when the client is gone
    assert seen == [(Outcome.CANCELLED, None, seen[0][2])]
    gone = wait_until(lambda: not set(threading.enumerate()) - before, 30)
    assert gone is not None, "no thread outlives the stream"
    assert len(produced) < 1000


@override_settings(ADMIN_REPORTS_QUEUE_BYTES=10_000)
def test_the_queue_caps_memory_in_flight():
    produced = []

    def chunks():
        for i in range(100):
            produced.append(i)
            yield b"y" * 1000

    stream = SyncStream(StreamJob(b"h\r\n", chunks), IdentityWire())
    iterator = iter(stream)
    next(iterator)  # starts the producer; the consumer now reads nothing
    assert wait_until(lambda: len(produced) >= 10, 30) is not None, "10 kB are queued"
    waiting = settled(lambda: len(produced), still=0.3)
    assert waiting <= 12, "the producer waits once 10 kB are queued"
    assert stream.session.queue.size <= 10_000
    rest = list(iterator)
    assert len(b"".join(rest)) == 100_000
    assert len(produced) == 100


def test_byte_queue():
    queue = ByteQueue(5)
    assert queue.put(b"abcdefgh"), "one chunk always fits, however big"
    assert queue.get(0) == b"abcdefgh"
    assert queue.get(0.01) is None
    queue.close()
    assert queue.put(b"a") is False
    started = time.monotonic()
    assert queue.get(10) is None
    assert time.monotonic() - started < 5, "a closed queue does not wait"


def test_max_duration_holds_while_rows_keep_coming():
    """A slow reader keeps the queue full: the deadline stops the run all the same."""
    seen, on_finish = finished_with()

    def endless():
        while True:
            yield b"1\r\n"

    def read_slowly(stream) -> BaseException | None:
        started = time.monotonic()
        try:
            for _ in stream:
                time.sleep(0.01)  # there is always a chunk waiting
                if time.monotonic() - started > 30:
                    return None  # the deadline never stopped the stream
        except StreamAborted as exc:
            return exc
        return None

    job = StreamJob(b"a\r\n", endless, max_duration=0.3, on_finish=on_finish)
    assert isinstance(read_slowly(SyncStream(job, IdentityWire())), StreamAborted)
    assert seen[0][0] is Outcome.FAILED
    assert str(seen[0][1]) == "Ran longer than 0.3 s and was stopped."


def test_a_client_watch_sees_the_other_end_close():
    ours, theirs = socket.socketpair()
    with ours:
        watch = ClientWatch(ours)
        assert watch.gone() is False, "connected and silent"
        theirs.sendall(b"G")
        assert watch.gone() is False, "a next request is no departure (and is left unread)"
        assert ours.recv(1) == b"G"
        theirs.close()
        assert watch.gone() is True


def wait_for(condition, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


class StalledClient:
    """A client that stopped reading: its abort() is what frees the blocked write."""

    interval = None

    def __init__(self) -> None:
        self.aborted = threading.Event()

    def gone(self) -> bool:
        return False

    def abort(self) -> None:
        self.aborted.set()


def endless():
    while True:
        yield b"1\r\n" * 100


@override_settings(ADMIN_REPORTS_SEND_TIMEOUT=0.5)
def test_a_write_blocked_past_the_send_timeout_closes_the_client(caplog):
    caplog.set_level(logging.INFO, "admin_reports.engine")
    seen, on_finish = finished_with()
    client = StalledClient()
    job = StreamJob(b"a\r\n", endless, name="Stream s1", on_finish=on_finish)
    iterator = iter(SyncStream(job, IdentityWire(), client=client))
    next(iterator)  # the server writes the header, and the write never returns
    assert client.aborted.wait(30), "the watchdog closed the stalled client's connection"
    assert seen[0][0] is Outcome.CANCELLED
    assert isinstance(seen[0][1], ClientStalled)
    assert "Stream s1 cancelled: The client read nothing for 0.5 s" in caplog.text
    with pytest.raises(StreamAborted):
        next(iterator)  # a server that tries again finds the stream over
    assert wait_for(
        lambda: not any(t.name == "admin-reports-watchdog" for t in threading.enumerate())
    )


@override_settings(ADMIN_REPORTS_SEND_TIMEOUT=None)
def test_a_cancel_asked_again_and_again_still_frees_a_stalled_client():
    """A run's tracker repeats the stop at each look while the cancel is pending."""
    seen, on_finish = finished_with()
    client = StalledClient()
    job = StreamJob(b"a\r\n", endless, on_finish=on_finish)
    iterator = iter(SyncStream(job, IdentityWire(), client=client))
    next(iterator)  # the write that never returns
    deadline = time.monotonic() + 30
    while not client.aborted.wait(0.5) and time.monotonic() < deadline:
        job.control.stop(RuntimeError("Cancelled on request."))
    assert client.aborted.is_set(), "the client's connection was closed"
    assert seen[0][0] is Outcome.CANCELLED
    with pytest.raises(StreamAborted):
        next(iterator)


@override_settings(ADMIN_REPORTS_SEND_TIMEOUT=None)
def test_without_a_send_timeout_a_slow_write_is_left_alone():
    client = StalledClient()
    stream = SyncStream(StreamJob(b"a\r\n", endless), IdentityWire(), client=client)
    session, looks = stream.session, []
    check = session.check
    session.check = lambda now: (looks.append(now), check(now))  # type: ignore[method-assign]
    iterator = iter(stream)
    next(iterator)
    assert wait_for(lambda: len(looks) >= 2 and looks[-1] - session.writing_since >= 1.0)
    assert not client.aborted.is_set()
    iterator.close()


@override_settings(ADMIN_REPORTS_SEND_TIMEOUT=0.5)
def test_under_asgi_a_stalled_send_is_cancelled():
    seen, on_finish = finished_with()
    job = StreamJob(b"a\r\n", endless, on_finish=on_finish)

    async def serve() -> str:
        stream = AsyncStream(job, IdentityWire())
        body = aiter(stream)
        await anext(body)  # the header; then the send blocks, as on a full socket
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            await body.aclose()
            return "cancelled"
        return "never cancelled"

    assert asyncio.run(serve()) == "cancelled"
    assert seen[0][0] is Outcome.CANCELLED
    assert isinstance(seen[0][1], ClientStalled)
