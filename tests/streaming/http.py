"""A raw HTTP client that records when every byte arrived, and curl."""

from __future__ import annotations

import itertools
import socket
import subprocess
import time
import zlib
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class Fetched:
    status: int
    headers: dict[str, str]
    body: bytes  # de-chunked, still content-encoded
    arrivals: list[tuple[float, int]] = field(default_factory=list)  # (seconds, bytes)
    complete: bool = False  # the terminating chunk arrived
    raw: bytes = b""  # as received: status line, headers, chunks

    def decoded_at(self, length: int) -> float:
        """Seconds until `length` bytes of the decoded body (gunzipped) had arrived."""
        gzipped = self.headers.get("content-encoding") == "gzip"
        received = 0
        for at, size in self.arrivals:
            received += size
            body = _parse(self.raw[:received], []).body
            if gzipped:
                body = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(body)
            if len(body) >= length:
                return at
        raise AssertionError(f"only {len(body)} of {length} decoded bytes arrived")

    @property
    def first_byte(self) -> float:
        return self.arrivals[0][0]

    @property
    def largest_gap(self) -> float:
        times = [at for at, _ in self.arrivals]
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


def fetch(
    url: str, headers: dict[str, str] | None = None, timeout: float = 120, version: str = "1.1"
) -> Fetched:
    """GET `url` over HTTP/`version` and read until the server closes the connection."""
    parts = urlsplit(url)
    request = [f"GET {parts.path}?{parts.query} HTTP/{version}", f"Host: {parts.netloc}"]
    request += [f"{name}: {value}" for name, value in (headers or {}).items()]
    request += ["Connection: close", "", ""]
    arrivals, raw = [], bytearray()
    deadline = time.monotonic() + timeout
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        started = time.monotonic()
        sock.sendall("\r\n".join(request).encode("latin-1"))
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            arrivals.append((time.monotonic() - started, len(data)))
            raw += data
    fetched = _parse(bytes(raw), arrivals)
    fetched.raw = bytes(raw)
    return fetched


def _parse(raw: bytes, arrivals) -> Fetched:
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() != "chunked":
        return Fetched(status, headers, rest, arrivals, complete=True)
    body, complete = bytearray(), False
    while rest:
        size_line, sep, rest = rest.partition(b"\r\n")
        if not sep:
            break
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            complete = True
            break
        if len(rest) < size + 2:
            body += rest[:size]
            break
        body += rest[:size]
        rest = rest[size + 2 :]
    return Fetched(status, headers, bytes(body), arrivals, complete)


def open_stream(url: str, read: int, headers: dict[str, str] | None = None) -> socket.socket:
    """Request and read at least `read` bytes; the caller leaves by closing the socket."""
    parts = urlsplit(url)
    request = [f"GET {parts.path}?{parts.query} HTTP/1.1", f"Host: {parts.netloc}"]
    request += [f"{name}: {value}" for name, value in (headers or {}).items()]
    request += ["", ""]
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    sock.sendall("\r\n".join(request).encode("latin-1"))
    received = 0
    while received < read:
        data = sock.recv(65536)
        if not data:
            break
        received += len(data)
    return sock


def leave(sock: socket.socket) -> float:
    """Close the connection as a browser whose user cancelled does; returns when."""
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()
    return time.monotonic()


def curl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["curl", "--silent", "--show-error", *args], capture_output=True, timeout=120
    )
