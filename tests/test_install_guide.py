"""docs/install.md's first report validates against a library like the guide's, and
`run_report --explain` prints what the guide says it prints."""

from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command

from admin_reports.registry import registry

GUIDE = (settings.BASE_DIR / "docs" / "install.md").read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    """The guide's code blocks of this language ("" for those without one)."""
    found, current, fence = [], [], None
    for line in GUIDE.splitlines(keepends=True):
        if fence is None and line.startswith("```"):
            fence = line[3:].strip()
            current = []
        elif fence is not None and line.rstrip() == "```":
            if fence == language:
                found.append("".join(current))
            fence = None
        elif fence is not None:
            current.append(line)
    return found


@pytest.fixture
def guide_report(settings, tmp_path):
    (yaml,) = blocks("yaml")
    (tmp_path / "loans_per_branch.yaml").write_text(yaml, encoding="utf-8")
    settings.ADMIN_REPORTS_DIRS = [tmp_path]
    registry.reload()
    yield registry
    registry.reload()


def test_the_guides_report_is_valid(guide_report):
    assert guide_report.problems() == []
    assert list(guide_report.specs()) == ["loans_per_branch"]


@pytest.mark.django_db
def test_explain_prints_the_guides_permission_lines(guide_report, vendor):
    out, err = StringIO(), StringIO()
    call_command("run_report", "loans_per_branch", "--explain", stdout=out, stderr=err)
    needs = out.getvalue().split("\n\n")[-1].splitlines()
    (shown,) = [block for block in blocks("") if block.startswith("Reads:")]
    assert needs == shown.splitlines()
    assert err.getvalue().startswith("No dates given: the report's default range last_month")


def test_the_guides_python_compiles():
    python = blocks("python")
    assert len(python) == 3  # settings, urls, admin
    for block in python:
        compile(block, "install.md", "exec")  # "...," is Python too (Ellipsis)
