"""The development loop: runserver's autoreloader watches the report definitions."""

import os
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.core.management.commands import runserver
from django.urls import reverse
from django.utils import autoreload

from admin_reports.apps import watch_definitions
from admin_reports.registry import registry


def test_the_autoreloader_watches_every_definition_directory(settings, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "deep").mkdir()
    definition = tmp_path / "a" / "deep" / "sales.yml"
    definition.write_text("model: shop.OrderLine\n", encoding="utf-8")
    other = tmp_path / "a" / "notes.txt"
    other.write_text("not a definition", encoding="utf-8")
    settings.ADMIN_REPORTS_DIRS = [tmp_path / "a", tmp_path / "missing"]
    reloader = autoreload.StatReloader()
    autoreload.autoreload_started.send(sender=reloader)
    watched = set(reloader.watched_files(include_globs=True))
    assert definition.resolve() in watched
    assert other.resolve() not in watched
    assert (tmp_path / "a").resolve() in reloader.directory_globs


def test_the_handler_is_connected_when_the_app_is_ready():
    assert watch_definitions in autoreload.autoreload_started._live_receivers(None)[0]


class RecordingReloader:
    """Stands in for runserver's reloader: records what it is asked to watch."""

    def __init__(self):
        self.watched = []

    def watch_dir(self, path, glob):
        self.watched.append((path, glob))


def test_each_existing_directory_is_watched_for_yaml_and_yml(settings, tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    settings.ADMIN_REPORTS_DIRS = [tmp_path / "one", str(tmp_path / "two"), tmp_path / "gone"]
    sender = RecordingReloader()
    watch_definitions(sender)
    one, two = (tmp_path / "one").resolve(), (tmp_path / "two").resolve()
    assert sender.watched == [
        (one, "**/*.yaml"),
        (one, "**/*.yml"),
        (one, "**/"),
        (two, "**/*.yaml"),
        (two, "**/*.yml"),
        (two, "**/"),
    ]


def test_a_new_definition_changes_a_watched_time(settings, tmp_path):
    """The reloader restarts on a changed time of a file it saw before: a definition
    added or removed changes its directory's."""
    settings.ADMIN_REPORTS_DIRS = [tmp_path]
    reloader = autoreload.StatReloader()
    autoreload.autoreload_started.send(sender=reloader)
    before = dict(reloader.snapshot_files())
    assert tmp_path.resolve() in before
    stamp = before[tmp_path.resolve()]
    (tmp_path / "new.yaml").write_text("model: shop.OrderLine\n", encoding="utf-8")
    os.utime(tmp_path, (stamp + 5, stamp + 5))  # a coarse clock may not move at once
    after = dict(reloader.snapshot_files())
    assert after[tmp_path.resolve()] != stamp


GOOD = "model: shop.Product\ncolumns:\n  - {name: sku, value: sku}\n"
BROKEN = "model: shop.Product\ncolumns:\n  - {name: sku, value: skuu}\n"


@pytest.mark.django_db(transaction=True)  # runserver closes the connections
def test_runserver_serves_nothing_while_a_definition_is_invalid_unless_told_to_skip_checks(
    settings, tmp_path, monkeypatch, admin_client
):
    (tmp_path / "good.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "broken.yaml").write_text(BROKEN, encoding="utf-8")
    settings.ADMIN_REPORTS_DIRS = [tmp_path]
    settings.ALLOWED_HOSTS = ["127.0.0.1", "testserver"]
    served = []  # the server runner records its address instead of serving
    monkeypatch.setattr(runserver, "run", lambda addr, port, *args, **kwargs: served.append(port))
    with pytest.raises(SystemCheckError) as caught:
        call_command(  # call_command skips the checks unless told not to; manage.py does not
            "runserver", "127.0.0.1:8999", use_reloader=False, skip_checks=False, stdout=StringIO()
        )
    assert f"{tmp_path / 'broken.yaml'}:3:24: (admin_reports.E009)" in str(caught.value)
    assert served == []
    call_command(
        "runserver", "127.0.0.1:8999", use_reloader=False, skip_checks=True, stdout=StringIO()
    )
    assert served == [8999]
    # What it serves then: the other reports, and the broken one's problems.
    assert list(registry.specs()) == ["good"]
    response = admin_client.get(reverse("admin_reports:download", args=["broken"]))
    assert response.status_code == 404
    assert "'skuu', which is not a field of 'shop.Product'" in response.content.decode()
