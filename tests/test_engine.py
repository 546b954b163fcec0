"""The engine on its own: heartbeats, gzip framing, bounded memory, failure and cancel."""

import gzip
import itertools
import threading
import time
import zlib

import pytest
from django.test import override_settings

from admin_reports.engine import (
    ByteQueue,
    GzipWire,
    IdentityWire,
    Outcome,
    StreamAborted,
    StreamJob,
    SyncStream,
)


def slow_chunks(delay: float, chunks: list[bytes], fail: Exception | None = None):
    def run():
        time.sleep(delay)
        yield from chunks
        if fail is not None:
            raise fail

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


@override_settings(ADMIN_REPORTS_HEARTBEAT_INTERVAL=0.2)
def test_gzip_heartbeats_while_the_query_runs_and_the_file_stays_exact():
    seen, on_finish = finished_with()
    job = StreamJob(b"a,b\r\n", slow_chunks(1.0, [b"1,2\r\n", b"3,4\r\n"]), on_finish=on_finish)
    pieces = collect(SyncStream(job, GzipWire()))
    assert pieces[0][0] < 0.1, "the header goes out at once"
    heartbeats = [piece for at, piece in pieces if piece == b"\x00\x00\x00\xff\xff"]
    assert len(heartbeats) >= 3
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(pieces)]
    assert max(gaps) < 0.45
    body = b"".join(piece for _, piece in pieces)
    assert gzip.decompress(body) == b"a,b\r\n1,2\r\n3,4\r\n"
    assert seen == [(Outcome.SUCCEEDED, None, len(body))]


@override_settings(ADMIN_REPORTS_IDENTITY_HEARTBEAT_INTERVAL=0.3)
def test_identity_heartbeats_are_blank_lines_between_rows():
    job = StreamJob(b"a,b\r\n", slow_chunks(1.0, [b"1,2\r\n"]))
    body = b"".join(SyncStream(job, IdentityWire()))
    assert body.startswith(b"a,b\r\n\r\n")
    assert body.endswith(b"\r\n1,2\r\n")
    assert body.replace(b"\r\n\r\n", b"\r\n").replace(b"\r\n\r\n", b"\r\n") in (b"a,b\r\n1,2\r\n",)


def test_identity_sends_nothing_extra_when_rows_come_in_time():
    job = StreamJob(b"\xef\xbb\xbfa\r\n", slow_chunks(0.1, [b"1\r\n", b"2\r\n"]))
    assert b"".join(SyncStream(job, IdentityWire())) == b"\xef\xbb\xbfa\r\n1\r\n2\r\n"


def test_an_empty_flush_decodes_to_nothing_and_costs_five_bytes():
    wire = GzipWire()
    first = wire.data(b"x\r\n")
    beats = [wire.heartbeat() for _ in range(3)]
    assert beats == [b"\x00\x00\x00\xff\xff"] * 3
    assert gzip.decompress(first + b"".join(beats) + wire.end()) == b"x\r\n"


def test_a_failure_marks_the_file_and_aborts(caplog):
    seen, on_finish = finished_with()
    error = RuntimeError("disk on fire")
    job = StreamJob(
        b"a\r\n", slow_chunks(0, [b"1\r\n"], fail=error), run_id="run42", on_finish=on_finish
    )
    pieces, aborted = drain(SyncStream(job, IdentityWire()))
    assert str(aborted) == "Report run run42 failed"
    assert aborted.__cause__ is error
    assert b"".join(piece for _, piece in pieces) == (
        b"a\r\n1\r\n\r\n# admin-reports: the report failed (run run42); this file is incomplete.\r\n"
    )
    assert seen[0][:2] == (Outcome.FAILED, error)
    assert "Report run run42 failed while streaming" in caplog.text
    assert "disk on fire" in caplog.text


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
    job = StreamJob(b"a\r\n", slow_chunks(3, [b"1\r\n"]), max_duration=0.3, on_finish=on_finish)
    pieces, aborted = drain(SyncStream(job, IdentityWire()))
    assert isinstance(aborted, StreamAborted)
    marked_at = [at for at, piece in pieces if b"failed" in piece]
    assert len(marked_at) == 1
    assert 0.3 <= marked_at[0] < 0.8
    assert seen[0][0] is Outcome.FAILED
    assert str(seen[0][1]) == "The report ran longer than 0.3 s and was stopped."


@override_settings(ADMIN_REPORTS_QUEUE_BYTES=10_000)
def test_closing_early_cancels_and_ends_the_thread():
    seen, on_finish = finished_with()
    produced = []

    def chunks():
        for i in range(1000):
            produced.append(i)
            yield b"x" * 1000

    before = threading.active_count()
    stream = SyncStream(StreamJob(b"h\r\n", chunks, on_finish=on_finish), IdentityWire())
    iterator = iter(stream)
    next(iterator)
    next(iterator)
    iterator.close()  # what the server does when the client is gone
    assert seen == [(Outcome.CANCELLED, None, seen[0][2])]
    deadline = time.monotonic() + 2
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == before, "no thread outlives the stream"
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
    time.sleep(0.3)
    assert 10 <= len(produced) <= 12, "the producer waits once 10 kB are queued"
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
