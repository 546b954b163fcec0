import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from admin_reports.checks import check_definitions
from admin_reports.registry import registry

DEMO = Path(settings.BASE_DIR) / "report_defs"


def test_the_demo_definitions_pass(capsys):
    call_command("check")
    assert "System check identified no issues" in capsys.readouterr().out
    assert sorted(registry.specs()) == ["daily_product_sales", "order_lines", "region_monthly"]


@pytest.fixture
def defs_dir(tmp_path, settings):
    target = tmp_path / "report_defs"
    shutil.copytree(DEMO, target)
    settings.ADMIN_REPORTS_DIRS = [target]
    return target


def test_a_misspelled_field_fails_check_with_file_and_line(defs_dir):
    path = defs_dir / "order_lines.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("value: customer.region.name", "value: customer.regoin.name"))
    line = 1 + text.splitlines().index("    value: customer.region.name")
    with pytest.raises(SystemCheckError) as caught:
        call_command("check")
    assert (
        f"order_lines.yaml:{line}:12: (admin_reports.E009) The value of 'columns[4].value'"
        in str(caught.value)
    )
    assert check_definitions() == [
        checks.Error(
            "The value of 'columns[4].value' refers to 'regoin', which is not a field of"
            " 'shop.Customer'. Did you mean 'region'?",
            hint=None,
            obj=f"{path}:{line}:12",
            id="admin_reports.E009",
        )
    ]


def test_a_broken_definition_is_left_out_and_logged(defs_dir, caplog):
    (defs_dir / "broken.yaml").write_text("model: shop.Nope\ncolumns: []\n", encoding="utf-8")
    registry.reload()
    assert sorted(registry.specs()) == ["daily_product_sales", "order_lines", "region_monthly"]
    assert "Report definition" in caplog.text
    assert "broken.yaml is invalid and left out" in caplog.text
    assert [problem.id for problem in registry.problems()] == ["E008"]


def test_directories_that_do_not_exist_are_empty(settings, tmp_path):
    settings.ADMIN_REPORTS_DIRS = [tmp_path / "missing"]
    assert registry.specs() == {}
    assert check_definitions() == []
