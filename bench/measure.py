"""
What bench/run.py measures and how it prints it.

    sample = download(port, "/admin/reports/order_lines/download/?...", cookie,
                      gzipped=True, worker=pid)
    measure = anchor(["psql", ...])        # a counted first run, then timed runs
    print(render(cases))

A download is read as it arrives (http.client, chunk by chunk, gzip decoded on the
way), so the time to the first byte and the largest gap between received bytes are
the client's. The serving worker's peak memory is its VmHWM, reset before the request.
"""

from __future__ import annotations

import http.client
import statistics
import subprocess
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from harness import proc_kib, reset_peak

CHUNK = 1 << 16


@dataclass
class Sample:
    seconds: float
    rows: int
    csv_bytes: int
    first_byte: float | None = None
    gap: float | None = None
    rss_growth_kib: int | None = None
    path: str = ""


@dataclass
class Case:
    group: str
    label: str
    anchor: Case | None = None
    samples: list[Sample] = field(default_factory=list)
    error: str = ""

    def median(self, name: str) -> float | None:
        values = [getattr(sample, name) for sample in self.samples]
        values = [value for value in values if value is not None]
        return statistics.median(values) if values else None

    @property
    def path(self) -> str:
        return "/".join(sorted({sample.path for sample in self.samples if sample.path}))


def download(port: int, path: str, cookie: str, *, gzipped: bool, worker: int) -> Sample:
    """GET path from the server as a browser would, timing every received chunk."""
    before = proc_kib(worker)
    reset_peak(worker)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    headers = {"Cookie": cookie, "Accept-Encoding": "gzip" if gzipped else "identity"}
    started = time.perf_counter()
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {response.read(300)!r}")
        decoder = None
        if response.getheader("Content-Encoding") == "gzip":
            decoder = zlib.decompressobj(wbits=31)
        first = last = None
        gap = 0.0
        size = newlines = 0
        while chunk := response.read1(CHUNK):
            now = time.perf_counter()
            gap = max(gap, now - last) if last else gap
            first, last = first or now, now
            data = decoder.decompress(chunk) if decoder else chunk
            size += len(data)
            newlines += data.count(b"\n")
        seconds = time.perf_counter() - started
    finally:
        connection.close()
    peak = proc_kib(worker, "VmHWM")
    return Sample(
        seconds=seconds,
        rows=newlines - 1,  # the header row
        csv_bytes=size,
        first_byte=first - started if first else None,
        gap=gap,
        rss_growth_kib=peak - before,
    )


def anchor(command: list[str]) -> Callable[[], Sample]:
    """Timed runs of a command whose CSV goes to /dev/null; rows and bytes from a first run."""
    counted: list[int] = []

    def measure() -> Sample:
        if not counted:
            counted.extend(count_output(command))
        started = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
        return Sample(time.perf_counter() - started, *counted)

    return measure


def count_output(command: list[str]) -> tuple[int, int]:
    """(lines, bytes) the command writes."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE)
    lines = size = 0
    with process.stdout:
        while chunk := process.stdout.read(CHUNK):
            lines += chunk.count(b"\n")
            size += len(chunk)
    if process.wait():
        raise RuntimeError(f"{command[0]} exited with status {process.returncode}")
    return lines, size


COLUMNS = (
    "case",
    "path",
    "rows",
    "time (s)",
    "rows/s",
    "MB/s",
    "vs anchor",
    "RSS growth (MiB)",
    "first byte (s)",
    "largest gap (s)",
)


def render(cases: list[Case]) -> str:
    """A markdown table a group of cases, in the order they ran."""
    groups: dict[str, list[Case]] = {}
    for case in cases:
        groups.setdefault(case.group, []).append(case)
    parts = []
    for group, members in groups.items():
        lines = [f"### {group}", "", f"| {' | '.join(COLUMNS)} |", f"|{' --- |' * len(COLUMNS)}"]
        lines += [f"| {' | '.join(cells(case))} |" for case in members]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def cells(case: Case) -> list[str]:
    if not case.samples:
        return [case.label, "", "", f"failed: {case.error}", *[""] * (len(COLUMNS) - 4)]
    seconds, rows = case.median("seconds"), int(case.median("rows"))
    speed = rows / seconds
    ratio = ""
    if case.anchor and case.anchor.samples:
        ratio = f"{speed / (case.anchor.median('rows') / case.anchor.median('seconds')):.2f}x"
    growth = case.median("rss_growth_kib")
    return [
        case.label + (f" (failed after {len(case.samples)}: {case.error})" if case.error else ""),
        case.path or "-",
        f"{rows:,}",
        f"{seconds:.2f}",
        f"{speed:,.0f}",
        f"{case.median('csv_bytes') / seconds / 1e6:.1f}",
        ratio or "-",
        f"{growth / 1024:.1f}" if growth is not None else "-",
        optional(case.median("first_byte"), "{:.3f}"),
        optional(case.median("gap"), "{:.2f}"),
    ]


def optional(value: float | None, spec: str) -> str:
    return "-" if value is None else spec.format(value)
