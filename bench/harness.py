"""
What the benchmarks share: the demo site's manage.py, a gunicorn to measure, its
workers' memory, and a logged-in staff session.

    from harness import gunicorn, login, proc_kib

    with gunicorn(workers=1, threads=4) as server:
        worker = server.workers()[0]
        before = proc_kib(worker)

bench/ is each script's own directory, so its modules import by their bare names.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PYTHON = sys.executable


def use_this_checkout() -> None:
    """Import admin_reports and project from this checkout, whatever is installed."""
    for path in (str(BENCH), str(ROOT)):
        if path in sys.path:
            sys.path.remove(path)
        sys.path.insert(0, path)


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment of a child that must import this checkout and bench/ too."""
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{BENCH}", **extra}


def manage(*args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout


def django_setup(settings: str = "project.settings") -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings)
    use_this_checkout()
    import django

    django.setup()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def proc_kib(pid: int, field: str = "VmRSS") -> int:
    """A memory figure of /proc/<pid>/status, in KiB (VmRSS now, VmHWM its peak)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE).group(1))


def reset_peak(pid: int) -> None:
    """Set the process's VmHWM back to its current RSS."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


@dataclass
class Server:
    port: int
    process: subprocess.Popen

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[int]:
        return children(self.process.pid)


@contextmanager
def gunicorn(
    *,
    workers: int = 1,
    threads: int = 4,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    options: tuple[str, ...] = (),
) -> Iterator[Server]:
    """gunicorn (gthread) on a free local port, up and its workers started; stopped after."""
    port = free_port()
    command = [PYTHON, "-m", "gunicorn", "project.wsgi", "--worker-class", "gthread"]
    command += ["--workers", str(workers), "--threads", str(threads)]
    command += ["--bind", f"127.0.0.1:{port}", *options]
    with open(log or os.devnull, "wb") as errors:  # the child keeps its own copy
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env or {**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings"},
            stdout=subprocess.DEVNULL,
            stderr=errors,
            start_new_session=True,
        )
    server = Server(port, process)
    try:
        _wait_until_up(server, workers)
        yield server
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


def _wait_until_up(server: Server, workers: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {server.process.returncode}")
        if len(server.workers()) >= workers:
            try:
                socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
                return
            except OSError:
                pass
        time.sleep(0.1)
    raise RuntimeError("gunicorn did not come up within 60 s")


def login(base: str, opener, username: str = "bench", password: str = "bench-password") -> None:
    page = opener.open(f"{base}/admin/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode(
        {
            "csrfmiddlewaretoken": token,
            "username": username,
            "password": password,
            "next": "/admin/",
        }
    ).encode()
    request = urllib.request.Request(
        f"{base}/admin/login/", data, {"Referer": f"{base}/admin/login/"}
    )
    opener.open(request).read()


def session_cookie(base: str, username: str, password: str) -> str:
    """The Cookie header of a staff session, logged in through the admin's form."""
    jar = http.cookiejar.CookieJar()
    login(
        base,
        urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar)),
        username,
        password,
    )
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in jar)
