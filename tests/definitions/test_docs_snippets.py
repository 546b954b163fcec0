"""
Every YAML snippet of the docs loads, validates and compiles (the registry's checks
included), so the docs cannot drift from the language.

- A snippet with a `model:` key is a whole definition: it is checked as it is.
- A snippet without one is a fragment: its top-level keys are put into a small base
  definition on the demo's shop.OrderLine (FRAGMENT_BASE: the columns order_id, sku,
  day, revenue, which fragments name), in place of the base's key of the same name.
  A key a fragment shows twice shows alternatives: each is checked on its own.

docs/example-library.md is for tests.library's models: tests/library/test_doc.py
checks that its snippets are the files the library's tests run.
"""

import re
from itertools import zip_longest
from pathlib import Path

import pytest
from django.conf import settings

from admin_reports.registry import load_definition

DOCS = [Path(settings.BASE_DIR) / name for name in ("README.md", "docs/definitions.md")]
DOCS += sorted(
    path
    for path in (Path(settings.BASE_DIR) / "docs").glob("*.md")
    if path.name not in ("definitions.md", "example-library.md")
)
SNIPPET = re.compile(r"```yaml\n(.*?)```", re.S)
TOP_KEY = re.compile(r"^([a-z_]+):", re.M)

FRAGMENT_BASE = """\
model: shop.OrderLine
columns:
  - {name: order_id, value: order.id}
  - {name: sku, value: product.sku}
  - {name: day, value: "trunc(order.placed_at, 'day')"}
  - {name: revenue, value: "sum(quantity * unit_price)"}
"""


def snippets() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        for number, text in enumerate(SNIPPET.findall(path.read_text(encoding="utf-8")), 1):
            found.append((f"{path.name}#{number}", text))
    return found


def chunks(text: str) -> list[tuple[str, str]]:
    """(key, its lines) for each top-level key of `text`, in order."""
    starts = [match.start() for match in TOP_KEY.finditer(text)]
    return [
        (TOP_KEY.match(text, start).group(1), text[start:end])
        for start, end in zip(starts, [*starts[1:], len(text)], strict=True)
    ]


def definitions(text: str) -> list[str]:
    """The definitions a snippet stands for: itself, or its fragment's alternatives."""
    if re.search(r"^model:", text, re.M):
        return [text]
    by_key: dict[str, list[str]] = {}
    for key, lines in chunks(text):
        by_key.setdefault(key, []).append(lines)
    variants = []
    for choice in zip_longest(*by_key.values()):
        base = dict(chunks(FRAGMENT_BASE))
        for key, lines in zip(by_key, choice, strict=True):
            base[key] = lines or by_key[key][0]
        variants.append("".join(base.values()))
    return variants


CASES = [(name, definition) for name, text in snippets() for definition in definitions(text)]


def test_the_docs_have_snippets_to_check():
    names = {name.split("#")[0] for name, _ in CASES}
    assert "definitions.md" in names
    assert len(CASES) >= 12


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "text"), CASES, ids=[name for name, _ in CASES])
def test_every_yaml_snippet_of_the_docs_loads_and_compiles(tmp_path, name, text):
    path = tmp_path / "snippet.yaml"
    path.write_text(text, encoding="utf-8")
    spec, problems = load_definition(path)
    assert [str(problem) for problem in problems] == [], text
    assert spec is not None
