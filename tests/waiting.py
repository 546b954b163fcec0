"""
Waiting for a state instead of sleeping a fixed time: on a busy machine a fixed sleep
is too short for the state to be reached, and on an idle one it is time lost.

    assert wait_until(lambda: active_queries() == 1, 15) is not None
    left_at = leave(sock)
    gone = wait_until(lambda: active_queries() == 0, 10, since=left_at)
    assert gone is not None
    assert gone <= 3.0, "the query is gone within 3 s of the leave"

    threads = settled(server.threads)  # once it has stopped changing

Deadlines are generous: they cost nothing when the state comes, and a deadline is not
a claim about speed. A bound on speed is asserted on what wait_until returns, counted
from the moment that matters (`since`), not from when the waiting began.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

POLL = 0.05  # seconds between looks


def wait_until(
    condition: Callable[[], object], timeout: float, since: float | None = None
) -> float | None:
    """Seconds from `since` (a time.monotonic(); by default now) until condition() held,
    or None if it still did not after `timeout` seconds of waiting."""
    started = time.monotonic()
    since = started if since is None else since
    while True:
        if condition():
            return time.monotonic() - since
        if time.monotonic() - started >= timeout:
            return None
        time.sleep(POLL)


def settled(measure: Callable[[], T], still: float = 0.5, timeout: float = 10) -> T:
    """measure()'s value once it has not changed for `still` seconds."""
    value, since, deadline = measure(), time.monotonic(), time.monotonic() + timeout
    while time.monotonic() - since < still and time.monotonic() < deadline:
        time.sleep(POLL)
        current = measure()
        if current != value:
            value, since = current, time.monotonic()
    return value
