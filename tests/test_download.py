"""The download endpoint through Django's test client: permissions, parameters, limits."""

import gzip

import pytest
from django.test import override_settings
from django.urls import reverse

from admin_reports.models import ReportRun
from admin_reports.runs import running_runs

from .factories import UserFactory, grant

pytestmark = pytest.mark.django_db(transaction=True)

URL = reverse("admin_reports:download", args=["daily_product_sales"])
MARCH = {"start": "2026-03-01", "end": "2026-03-31"}


@pytest.fixture
def superuser_client(client):
    client.force_login(UserFactory(is_superuser=True))
    return client


def body(response) -> bytes:
    data = b"".join(response.streaming_content)
    response.close()
    return data


def test_streams_the_csv(superuser_client, line):
    response = superuser_client.get(URL, {**MARCH, "select": str(line.product_id), "bom": "1"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="daily_product_sales_2026-03-01_2026-03-31.csv"'
    )
    assert "no-store" in response["Cache-Control"]
    assert response["X-Accel-Buffering"] == "no"
    assert "Content-Encoding" not in response
    assert body(response) == (
        "\ufeffSKU,Product,Day,Units,Revenue,Orders\r\nTOY-1,Kite,2026-03-10,2,7.00,1\r\n".encode()
    )


@pytest.mark.parametrize(
    ("setting", "param", "starts_with_bom"),
    [(True, None, True), (False, None, False), (True, "0", False), (False, "1", True)],
)
def test_bom_follows_the_setting_unless_the_run_says(
    superuser_client, line, settings, setting, param, starts_with_bom
):
    settings.ADMIN_REPORTS_BOM = setting
    params = {**MARCH} if param is None else {**MARCH, "bom": param}
    data = body(superuser_client.get(URL, params))
    assert data.startswith(b"\xef\xbb\xbfSKU") is starts_with_bom
    assert data.lstrip(b"\xef\xbb\xbf").startswith(b"SKU,Product")


def test_gzip_when_the_client_accepts_it(superuser_client, line):
    response = superuser_client.get(URL, MARCH, headers={"Accept-Encoding": "gzip, br"})
    assert response["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response["Vary"]
    assert gzip.decompress(body(response)).endswith(b"TOY-1,Kite,2026-03-10,2,7.00,1\r\n")


def test_quick_range(superuser_client, line, time_machine_today):
    response = superuser_client.get(URL, {"range": "last_month"})
    assert body(response).endswith(b"TOY-1,Kite,2026-03-10,2,7.00,1\r\n")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "2026-03-02", "end": "2026-03-01"}, "The start date is after the end date."),
        ({}, "This report needs a date range."),
        (
            {"start": "March", "end": "2026-03-01"},
            "start: 'March' is not a date in the form YYYY-MM-DD.",
        ),
        (
            {"range": "last_mnth"},
            "range: Unknown quick range 'last_mnth'; choose one of: today, yesterday, last_7_days, last_30_days, this_month, last_month, this_quarter, last_quarter, year_to_date, last_year.",
        ),
        (
            {**MARCH, "select": "1", "on": "shop.order"},
            "on: Name the selection's model, one of: shop.product.",
        ),
        # Case 2: a quick range and dates that disagree are refused, not half ignored.
        (
            {"range": "last_month", "start": "2026-01-01", "end": "2026-01-31"},
            "range: The dates 2026-01-01 to 2026-01-31 do not match the quick range “Last month” (2026-03-01 to 2026-03-31). Give a quick range or dates, not both.",
        ),
        # Case 6: input that gave 500s, or a 200 and then a failed download.
        ({**MARCH, "select": "abc"}, "select: 'abc' is not a valid key of a product."),
        (
            {**MARCH, "select": "' OR 1=1--"},
            'select: "\' OR 1=1--" is not a valid key of a product.',
        ),
        (
            {**MARCH, "select": "99999999999999999999999"},
            "select: '99999999999999999999999' is not a valid key of a product.",
        ),
        (
            {"start": "9999-12-31", "end": "9999-12-31"},
            "start: Dates must lie between 0001-01-01 and 9998-12-31.",
        ),
        ({**MARCH, "bom": "maybe"}, "bom: Give bom as 1 or 0 (or true/false, yes/no, on/off)."),
        (
            {"start": "20260301", "end": "2026-03-31"},
            "start: '20260301' is not a date in the form YYYY-MM-DD.",
        ),
        ({**MARCH, "select": ""}, "select: The selection names no object."),
        ({**MARCH, "run_token": "not-a-uuid"}, "run_token: The run token is not valid."),
    ],
)
def test_bad_parameters_get_400_and_nothing_starts(
    superuser_client, params, message, time_machine_today
):
    response = superuser_client.get(URL, params)
    assert response.status_code == 400
    assert response.content.decode().strip() == message
    assert not running_runs().exists(), "every run has ended"
    assert ReportRun.objects.count() == 0


def test_a_selection_by_key_is_capped(superuser_client, settings, time_machine_today):
    settings.ADMIN_REPORTS_MAX_SELECTED = 3
    three = superuser_client.get(URL, {**MARCH, "select": "1, 2,,3,", "bom": "0"})
    assert three.status_code == 200
    b"".join(three.streaming_content)
    response = superuser_client.get(URL, {**MARCH, "select": "1,2,3,4"})
    assert response.status_code == 400
    assert response.content.decode().strip() == (
        "select: At most 3 objects can be named by key; filter the changelist and select all"
        " instead."
    )
    assert ReportRun.objects.count() == 1


def test_a_quick_range_with_its_own_dates_is_fine(superuser_client, line, time_machine_today):
    response = superuser_client.get(
        URL, {"range": "last_month", "start": "2026-03-01", "end": "2026-03-31", "bom": "0"}
    )
    assert response.status_code == 200
    assert body(response).endswith(b"TOY-1,Kite,2026-03-10,2,7.00,1\r\n")


def test_the_first_and_the_last_day_run(superuser_client, line):
    response = superuser_client.get(
        reverse("admin_reports:download", args=["order_lines"]),
        {"start": "0001-01-01", "end": "9998-12-31", "bom": "0"},
    )
    assert response.status_code == 200
    data = body(response)
    assert data.count(b"\r\n") == 2, data
    assert ReportRun.objects.get().status == "succeeded"


def test_a_user_without_the_permissions_gets_403(client, line):
    user = UserFactory()
    grant(user, "shop.view_orderline", "shop.view_order")  # no view_product, no run_report
    client.force_login(user)
    refused = client.get(URL, MARCH)
    assert refused.status_code == 403
    assert refused.content.decode().strip() == (
        "You may not run the report “Daily sales by product”: it needs the permissions"
        " “Can run reports” (admin_reports.run_report), “Can view product” (shop.view_product)."
    )
    grant(user, "shop.view_product")
    refused = client.get(URL, MARCH, headers={"Accept": "text/html"})
    assert refused.status_code == 403, "admin_reports.run_report is needed too"
    html = refused.content.decode()
    assert '<div id="site-name">' in html, "a browser gets the admin's page"
    assert "it needs the permission “Can run reports” (admin_reports.run_report)." in html
    assert not running_runs().exists(), "every run has ended"


def test_anonymous_users_are_sent_to_the_login(client):
    response = client.get(URL, MARCH)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_unknown_report_is_404_saying_so(superuser_client, settings, tmp_path):
    response = superuser_client.get(reverse("admin_reports:download", args=["nope"]))
    assert response.status_code == 404
    assert response.content.decode().startswith("No valid report is named 'nope'.")
    (tmp_path / "broken.yaml").write_text("model: shop.OrderLine\ncolumns: []\n")
    settings.ADMIN_REPORTS_DIRS = [tmp_path]
    response = superuser_client.get(reverse("admin_reports:download", args=["broken"]))
    assert response.status_code == 404
    assert response.content.decode().startswith("The report definition 'broken' is invalid:")


def test_while_developing_an_unknown_report_names_the_directories_searched(
    superuser_client, settings, tmp_path
):
    """A misspelled ADMIN_REPORTS_DIRS shows on the 404; the server's paths only with DEBUG."""
    settings.ADMIN_REPORTS_DIRS = [tmp_path / "report_def"]
    url = reverse("admin_reports:download", args=["overdue"])
    assert superuser_client.get(url).content.decode() == "No valid report is named 'overdue'.\n"
    settings.DEBUG = True
    response = superuser_client.get(url)
    assert response.status_code == 404
    assert response.content.decode() == (
        "No valid report is named 'overdue'. Definitions are read from ADMIN_REPORTS_DIRS:"
        f" {tmp_path.resolve() / 'report_def'} (no such directory).\n"
    )


def test_a_head_request_starts_nothing(superuser_client, line):
    response = superuser_client.head(URL, MARCH)
    assert response.status_code == 405
    assert ReportRun.objects.count() == 0


@override_settings(ADMIN_REPORTS_MAX_STREAMS_PER_USER=2, ADMIN_REPORTS_MAX_STREAMS=3)
def test_stream_caps_refuse_with_429(client, line, request):
    first, second = UserFactory(is_superuser=True), UserFactory(is_superuser=True)
    client.force_login(first)
    held = [client.get(URL, MARCH), client.get(URL, MARCH)]
    request.addfinalizer(lambda: [response.close() for response in held])
    refused = client.get(URL, MARCH)
    assert refused.status_code == 429
    assert refused.content.decode().strip() == (
        "You already have 2 reports running. Wait for one to finish."
    )
    client.force_login(second)
    held.append(client.get(URL, MARCH))
    refused = client.get(URL, MARCH)
    assert refused.status_code == 429
    assert refused.content.decode().strip() == (
        "Too many reports are running right now. Try again in a minute."
    )
    for response in held:
        response.close()
    assert not running_runs().exists(), "every run has ended"
    assert client.get(URL, MARCH).status_code == 200


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Sec-Fetch-Site": "same-site"}, 403),
        ({"Referer": "https://elsewhere.example/page"}, 403),
        ({"Sec-Fetch-Site": "same-origin"}, 200),
        ({"Sec-Fetch-Site": "none"}, 200),  # typed, or a bookmark
        ({"Referer": "http://testserver/admin/"}, 200),
        ({}, 200),  # curl
    ],
)
def test_a_run_never_starts_from_another_sites_page(superuser_client, line, headers, status):
    response = superuser_client.get(URL, MARCH, headers=headers)
    assert response.status_code == status
    if status == 403:
        assert "from another site" in response.content.decode()
        assert ReportRun.objects.count() == 0
    else:
        body(response)
        assert ReportRun.objects.count() == 1
