"""Background runs from the admin (form, preset list, run log) and the command line, and
the download of stored files: permission-checked, gzip or not, Range requests."""

import datetime as dt
import gzip
import io
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.core.files.storage import FileSystemStorage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.urls import reverse

from admin_reports.models import ReportRun, RunStatus
from admin_reports.stored import report_storage

from . import test_admin_reports as admin_flow
from .factories import ReportPresetFactory, UserFactory, grant
from .test_admin_reports import HEADER, REPORT_PERMISSIONS, body, first_step, second_step
from .test_background import work
from .waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

shop, staff = admin_flow.shop, admin_flow.staff  # the admin flow's fixtures

KITE_LINE = "TOY-1,Kite,2026-03-10,2,4.00,1\r\n"
MARCH = {"quick_range": "", "start": "2026-03-01", "end": "2026-03-31", "bom": ""}


def queued_from_the_form(client, shop, **fields):
    page = first_step(client, [shop["kite"].pk])
    return second_step(client, page, _report_step="background", **{**MARCH, **fields})


def file_url(run: ReportRun) -> str:
    return reverse("admin:admin_reports_reportrun_file", args=[run.token])


def test_run_in_background_from_the_form_then_download_from_the_run_log(client, staff, shop):
    response = queued_from_the_form(client, shop)
    run = ReportRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:admin_reports_reportrun_change", args=[run.pk])
    assert (run.status, run.background, run.user) == (RunStatus.QUEUED, True, staff)
    page = client.get(response["Location"]).content.decode()
    assert "runs in the background (run" in page
    work()
    log = client.get(reverse("admin:admin_reports_reportrun_changelist")).content.decode()
    assert f'href="{file_url(run)}" class="run-download">Download</a>' in log
    download = client.get(file_url(run))
    assert download.status_code == 200
    assert download["Content-Disposition"] == (
        'attachment; filename="daily_product_sales_2026-03-01_2026-03-31.csv"'
    )
    assert "Content-Encoding" not in download, "no gzip asked for: the CSV itself"
    assert body(download) == HEADER + KITE_LINE
    status = client.get(reverse("admin:admin_reports_reportrun_status", args=[run.token]))
    assert status.json()["file_url"] == file_url(run)


def test_the_stored_file_equals_the_streamed_download(client, staff, shop):
    queued_from_the_form(client, shop, bom="on")
    work()
    run = ReportRun.objects.get()
    page = first_step(client, [shop["kite"].pk])
    streamed = second_step(client, page, _report_step="download", **{**MARCH, "bom": "on"})
    expected = b"".join(streamed.streaming_content)
    assert expected.startswith(b"\xef\xbb\xbf")
    with report_storage().open(run.file, "rb") as stored:
        assert gzip.decompress(stored.read()) == expected


def test_a_gzip_client_gets_the_stored_bytes_and_ranges_of_them(client, staff, shop):
    queued_from_the_form(client, shop)
    work()
    run = ReportRun.objects.get()
    with report_storage().open(run.file, "rb") as stored:
        raw = stored.read()
    whole = client.get(file_url(run), HTTP_ACCEPT_ENCODING="gzip, deflate")
    assert whole["Content-Encoding"] == "gzip"
    assert b"".join(whole.streaming_content) == raw
    assert whole["Content-Length"] == str(len(raw))
    part = client.get(file_url(run), HTTP_ACCEPT_ENCODING="gzip", HTTP_RANGE="bytes=10-")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 10-{len(raw) - 1}/{len(raw)}"
    assert b"".join(part.streaming_content) == raw[10:]


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [("bytes=0-9", 0, 9), ("bytes=5-", 5, None), ("bytes=-7", -7, None), ("bytes=3-3", 3, 3)],
)
def test_a_range_of_the_csv_is_cut_from_the_decompressed_file(
    client, staff, shop, header, first, last
):
    queued_from_the_form(client, shop)
    work()
    run = ReportRun.objects.get()
    csv = (HEADER + KITE_LINE).encode()
    response = client.get(file_url(run), HTTP_RANGE=header)
    assert response.status_code == 206
    expected = csv[first : None if last is None else last + 1]
    assert b"".join(response.streaming_content) == expected
    start = first % len(csv)
    assert response["Content-Range"] == f"bytes {start}-{start + len(expected) - 1}/{len(csv)}"
    assert response["Content-Length"] == str(len(expected))


def test_ranges_outside_the_file_or_after_a_change_are_handled(client, staff, shop):
    queued_from_the_form(client, shop)
    work()
    run = ReportRun.objects.get()
    size = len(HEADER + KITE_LINE)
    outside = client.get(file_url(run), HTTP_RANGE=f"bytes={size}-")
    assert outside.status_code == 416
    assert outside["Content-Range"] == f"bytes */{size}"
    whole = client.get(file_url(run))
    whole.close()  # as a server does, read or not
    etag = whole["ETag"]
    same = client.get(file_url(run), HTTP_RANGE="bytes=2-", HTTP_IF_RANGE=etag)
    assert same.status_code == 206
    assert body(same) == (HEADER + KITE_LINE)[2:]
    changed = client.get(file_url(run), HTTP_RANGE="bytes=2-", HTTP_IF_RANGE='"another"')
    assert changed.status_code == 200, "If-Range does not match: the whole file"
    assert body(changed) == HEADER + KITE_LINE
    several = client.get(file_url(run), HTTP_RANGE="bytes=0-1,4-5")
    assert several.status_code == 200
    assert body(several) == HEADER + KITE_LINE


def test_only_the_runs_user_who_still_may_run_it_downloads_the_file(client, staff, shop):
    queued_from_the_form(client, shop)
    work()
    run = ReportRun.objects.get()
    other = UserFactory()
    grant(other, *REPORT_PERMISSIONS)
    client.force_login(other)
    assert client.get(file_url(run)).status_code == 404, "another user's run does not exist"
    client.force_login(staff)
    staff.user_permissions.remove(*staff.user_permissions.filter(codename="view_orderline"))
    refused = client.get(file_url(run), HTTP_ACCEPT="text/plain")
    assert refused.status_code == 403
    assert "needs the permission" in refused.content.decode()


def test_a_run_without_a_file_has_no_download(client, staff, shop):
    queued_from_the_form(client, shop)
    run = ReportRun.objects.get()
    assert client.get(file_url(run)).status_code == 404, "queued: no file yet"
    log = client.get(reverse("admin:admin_reports_reportrun_changelist")).content.decode()
    assert "run-download" not in log


def test_a_preset_runs_in_the_background_from_the_preset_list(client, staff, shop):
    preset = ReportPresetFactory(
        owner=staff,
        selection_kind="filter",
        selection_model="shop.Product",
        selection_filter=f"category__id__exact={shop['toys'].pk}",
        range_kind="fixed",
        start="2026-03-01",
        end="2026-03-31",
    )
    presets = client.get(reverse("admin:admin_reports_reportpreset_changelist"))
    url = reverse("admin:admin_reports_reportpreset_background", args=[preset.pk])
    assert f'formaction="{url}"' in presets.content.decode()
    response = client.post(url)
    run = ReportRun.objects.get()
    assert response.status_code == 302
    assert run.preset == preset
    assert run.notify
    work()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert body(client.get(file_url(run))) == (
        HEADER + KITE_LINE + "TOY-2,Ball,2026-03-10,1,2.00,1\r\n"
    )


def test_cancel_from_the_run_log_stops_a_queued_run(client, staff, shop):
    queued_from_the_form(client, shop)
    run = ReportRun.objects.get()
    cancelled = client.post(reverse("admin:admin_reports_reportrun_cancel", args=[run.token]))
    assert cancelled.json()["status"] == "cancelled"
    work()
    assert ReportRun.objects.get().status == RunStatus.CANCELLED


def test_the_form_refuses_a_background_run_over_the_cap(client, staff, shop):
    with override_settings(ADMIN_REPORTS_MAX_BACKGROUND_PER_USER=1):
        queued_from_the_form(client, shop)
        response = queued_from_the_form(client, shop)
    assert response.status_code == 429
    assert "already have 1 report waiting" in response.content.decode()
    assert ReportRun.objects.count() == 1


@override_settings(ADMIN_REPORTS_KEEP_STREAMED=True)
def test_a_streamed_download_can_be_kept_too(client, staff, shop):
    page = first_step(client, [shop["kite"].pk])
    streamed = second_step(client, page, _report_step="download", **MARCH)
    data = b"".join(streamed.streaming_content)
    # The stream waits 5 s at most for the file to be stored and the end recorded.
    kept = ReportRun.objects.filter(status=RunStatus.SUCCEEDED)
    assert wait_until(kept.exists, 30) is not None
    run = ReportRun.objects.get()
    assert not run.background
    assert run.file
    assert body(client.get(file_url(run))).encode() == data


def test_the_command_line_queues_a_run(shop):
    user = UserFactory(username="ann")
    grant(user, *REPORT_PERMISSIONS)
    out = io.StringIO()
    call_command(
        "run_report",
        "daily_product_sales",
        "--start=2026-03-01",
        "--end=2026-03-31",
        "--background",
        "--user=ann",
        "--notify",
        stdout=out,
    )
    run = ReportRun.objects.get()
    assert out.getvalue().startswith(f"Queued run {run.pk} (")
    assert (run.user, run.notify, run.parameters["via"]) == (user, True, "cli")
    work()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert run.rows == 3


def test_the_command_line_refuses_background_options_in_words(shop):
    march = ["daily_product_sales", "--start=2026-03-01", "--end=2026-03-31"]
    with pytest.raises(CommandError, match="no user is named 'nobody'"):
        call_command("run_report", *march, "--background", "--user=nobody")
    with pytest.raises(CommandError, match="--notify needs --user"):
        call_command("run_report", *march, "--background", "--notify")
    with pytest.raises(CommandError, match="go with --background"):
        call_command("run_report", *march, "--user=ann", "-o", "/dev/null")
    UserFactory(username="bob")
    with pytest.raises(CommandError, match="You may not run the report"):
        call_command("run_report", *march, "--background", "--user=bob")
    assert not ReportRun.objects.exists()


class SigningStorage(FileSystemStorage):
    """A local storage that signs its URLs the way django-storages' S3Storage does."""

    def url(self, name, parameters=None, expire=None):
        query = urlencode({"expires": expire, **(parameters or {})})
        return f"https://bucket.example/{name}?{query}"


def test_a_storage_with_signed_urls_can_take_the_downloads(client, staff, shop, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "reports": {
            "BACKEND": "tests.test_background_admin.SigningStorage",
            "OPTIONS": {"location": settings.MEDIA_ROOT + "/signed"},
        },
    }
    settings.ADMIN_REPORTS_STORAGE = "reports"
    settings.ADMIN_REPORTS_STORAGE_REDIRECT = True
    queued_from_the_form(client, shop)
    work()
    run = ReportRun.objects.get()
    assert report_storage().exists(run.file)
    response = client.get(file_url(run))
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == f"/{run.file}"
    assert parse_qs(location.query) == {
        "expires": ["300"],
        "ResponseContentDisposition": [
            'attachment; filename="daily_product_sales_2026-03-01_2026-03-31.csv.gz"'
        ],
        "ResponseContentType": ["application/gzip"],
    }
    other = UserFactory()
    client.force_login(other)
    assert client.get(file_url(run)).status_code == 404, "the redirect is permission-checked"


def test_the_command_line_stops_at_settings_it_cannot_use(shop):
    march = ["daily_product_sales", "--start=2026-03-01", "--end=2026-03-31"]
    with (
        override_settings(ADMIN_REPORTS_STORAGE="reports"),
        pytest.raises(CommandError, match=r"admin_reports\.E038: ADMIN_REPORTS_STORAGE is"),
    ):
        call_command("run_report", *march, "--background", stdout=io.StringIO())
    assert not ReportRun.objects.exists()
    user = UserFactory(username="ann")
    grant(user, *REPORT_PERMISSIONS)
    err = io.StringIO()
    call_command(
        "run_report",
        *march,
        "--background",
        "--user=ann",
        "--notify",
        stdout=io.StringIO(),
        stderr=err,
    )
    assert "ADMIN_REPORTS_SITE_URL is empty" in err.getvalue()


def test_a_file_gone_from_the_storage_or_expired_is_said_so(client, staff, shop, time_machine):
    queued_from_the_form(client, shop)
    work()
    run = ReportRun.objects.get()
    assert client.post(file_url(run)).status_code == 405, "a download is a GET"
    report_storage().delete(run.file)  # by hand, or where this server cannot see it
    gone = client.get(file_url(run), HTTP_ACCEPT="text/plain")
    assert gone.status_code == 410
    assert gone.content.decode().startswith("The file of this run is no longer in the storage")
    assert not ReportRun.objects.get().has_file, "the run log no longer offers it"
    log = client.get(reverse("admin:admin_reports_reportrun_changelist")).content.decode()
    assert "run-download" not in log
    queued_from_the_form(client, shop)
    work()
    later = ReportRun.objects.exclude(pk=run.pk).get()
    time_machine.move_to(later.expires_at + dt.timedelta(minutes=1))
    expired = client.get(file_url(later), HTTP_ACCEPT="text/plain")
    assert expired.status_code == 410
    assert expired.content.decode().startswith("The file of this run expired on ")


def test_e_mail_me_needs_an_address(client, shop):
    user = UserFactory(email="")
    grant(user, *REPORT_PERMISSIONS)
    client.force_login(user)
    page = first_step(client, [shop["kite"].pk])
    field = page.context["form"]["notify"]
    assert field.field.disabled
    assert "Your account has no e-mail address" in str(field.help_text)
    second_step(client, page, _report_step="background", **{**MARCH, "notify": "on"})
    assert ReportRun.objects.get().notify is False
