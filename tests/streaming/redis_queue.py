"""
A throwaway Redis and real RQ workers for the background-run tests on RQ.

    with redis_server(directory) as url:               # unix:///.../redis.sock
        with rq_workers(directory, url, "rq-a", "rq-b") as (a, b):   # idle in Redis
            ...

Redis listens on a unix socket only (no TCP port), keeps nothing on disk and is stopped
by its pid. A worker is `manage.py rqworker --job-class django_tasks_rq.Job reports`
with tests.server_settings (TASKS_BACKEND=rq) on the test database. RQ's worker forks a
"work horse" per job in a process group of its own: stopping a worker stops its horse
too, and `kill_worker` takes both down at once, as a machine that dies does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import redis
from django.conf import settings
from rq import Worker

from ..rq_settings import JOB_CLASS, QUEUE
from .conftest import STARTUP_TIMEOUT, server_env, stop


@contextmanager
def redis_server(directory: Path):
    """A redis-server on a unix socket in `directory`, without persistence; its URL."""
    sock = directory / "redis.sock"
    command = [
        "redis-server",
        "--port", "0",  # no TCP at all
        "--unixsocket", str(sock),
        "--unixsocketperm", "700",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(directory),
        "--logfile", str(directory / "redis.log"),
    ]  # fmt: skip
    process = subprocess.Popen(command, start_new_session=True)
    try:
        with redis.Redis(unix_socket_path=str(sock)) as client:
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while not _pings(client):
                if process.poll() is not None or time.monotonic() > deadline:
                    log = directory / "redis.log"
                    raise RuntimeError(f"redis-server did not start: {log.read_text()}")
                time.sleep(0.05)
        yield f"unix://{sock}"
    finally:
        stop(process)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


@dataclass
class RQWorker:
    name: str
    process: subprocess.Popen
    log: Path

    def horses(self) -> list[int]:
        """The pids of the work horses this worker forked (one while it runs a job)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []


@contextmanager
def rq_workers(directory: Path, redis_url: str, *names: str):
    """`manage.py rqworker` processes on the reports queue, once each waits for jobs."""
    with ExitStack() as stack:
        workers = [stack.enter_context(_started(directory, redis_url, name)) for name in names]
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not {worker.name for worker in workers} <= idle_workers(redis_url):
            for worker in workers:
                if worker.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"rqworker did not start: {worker.log.read_text()}")
            time.sleep(0.1)
        yield workers


@contextmanager
def _started(directory: Path, redis_url: str, name: str):
    log = directory / f"{name}.log"
    command = [
        sys.executable, "manage.py", "rqworker", QUEUE,
        "--job-class", JOB_CLASS,
        "--name", name,
    ]  # fmt: skip
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command,
            cwd=settings.BASE_DIR,
            env=server_env(TASKS_BACKEND="rq", REDIS_URL=redis_url),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    worker = RQWorker(name, process, log)
    try:
        yield worker
    finally:
        stop_worker(worker)


def idle_workers(redis_url: str) -> set[str]:
    """The names of the workers registered in Redis that wait for a job."""
    with redis.Redis.from_url(redis_url) as client:
        workers = Worker.all(connection=client)
    return {worker.name for worker in workers if worker.get_state() == "idle"}


def stop_worker(worker: RQWorker) -> None:
    """Stop a worker and the run its horse may still be running (the test is over)."""
    if worker.process.poll() is None:
        # A warm shutdown first: the worker takes no new job; then its horse goes.
        os.killpg(worker.process.pid, signal.SIGTERM)
        _kill(worker.horses())
    stop(worker.process)


def kill_worker(worker: RQWorker) -> None:
    """SIGKILL a worker and its horse at once, as a machine that dies takes them down."""
    horses = worker.horses()
    os.killpg(worker.process.pid, signal.SIGKILL)
    _kill(horses)
    worker.process.wait(10)


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with suppress(ProcessLookupError):  # it had finished its job
            os.kill(pid, signal.SIGKILL)
