"""Stream caps are counted in the database: they hold across processes and machines."""

import datetime as dt
import threading

import pytest
from django.db import connections
from django.test import override_settings
from django.utils import timezone

from admin_reports import runs
from admin_reports.exceptions import TooManyStreams
from admin_reports.models import ReportRun, RunStatus
from admin_reports.registry import registry
from admin_reports.run_request import RunRequest
from admin_reports.runs import open_stream, running_runs

from .factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

EARLY, LATE = dt.date(2000, 1, 1), dt.date(2100, 1, 1)


def request() -> RunRequest:
    return RunRequest(registry.get("order_lines"), EARLY, LATE)


def elsewhere(user, **fields) -> ReportRun:
    """A run row as another process or machine writes it while its report runs."""
    now = timezone.now()
    defaults = {"status": RunStatus.STREAMING, "heartbeat_at": now, "started_at": now}
    return ReportRun.objects.create(report="order_lines", user=user, **{**defaults, **fields})


@override_settings(ADMIN_REPORTS_MAX_STREAMS_PER_USER=1)
def test_a_run_of_another_process_counts_for_its_user():
    ann, bob = UserFactory(is_superuser=True), UserFactory(is_superuser=True)
    elsewhere(ann)
    with pytest.raises(TooManyStreams, match="You already have 1 report running"):
        open_stream(request(), user=ann)
    handle = open_stream(request(), user=bob)
    assert handle.run.user == bob
    handle.job.control.stop(RuntimeError("not run"))


@override_settings(ADMIN_REPORTS_MAX_STREAMS=2)
def test_the_site_cap_counts_streams_and_running_background_runs():
    ann = UserFactory(is_superuser=True)
    elsewhere(UserFactory())
    elsewhere(UserFactory(), background=True, status=RunStatus.RUNNING)
    with pytest.raises(TooManyStreams, match="Too many reports are running right now"):
        open_stream(request(), user=ann)


@override_settings(ADMIN_REPORTS_MAX_STREAMS=1, ADMIN_REPORTS_MAX_STREAMS_PER_USER=1)
def test_queued_finished_and_lost_runs_do_not_count():
    ann = UserFactory(is_superuser=True)
    long_ago = timezone.now() - dt.timedelta(seconds=runs.LOST_AFTER + 5)
    elsewhere(ann, background=True, status=RunStatus.QUEUED, heartbeat_at=None)
    elsewhere(ann, status=RunStatus.SUCCEEDED)
    elsewhere(ann, heartbeat_at=long_ago)  # its process died: lost, not running
    assert not running_runs().exists()
    open_stream(request(), user=ann).job.control.stop(RuntimeError("not run"))


@override_settings(ADMIN_REPORTS_MAX_STREAMS_PER_USER=1)
def test_two_starts_at_once_get_one_stream():
    ann = UserFactory(is_superuser=True)
    barrier = threading.Barrier(4)
    outcomes: list[object] = []

    def start() -> None:
        try:
            barrier.wait(30)
            outcomes.append(open_stream(request(), user=ann).run.pk)
        except TooManyStreams as exc:
            outcomes.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    started = [outcome for outcome in outcomes if isinstance(outcome, int)]
    assert len(outcomes) == 4
    assert len(started) == 1, outcomes
    assert ReportRun.objects.count() == 1, "a refused start stores nothing"
