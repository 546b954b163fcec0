"""docs/example-library.md shows the library's definitions as they are in report_defs/."""

import re
from pathlib import Path

from django.conf import settings

DOC = settings.BASE_DIR / "docs" / "example-library.md"
DEFS = Path(__file__).parent / "report_defs"


def yaml_blocks(text: str) -> list[str]:
    return re.findall(r"^```yaml\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def test_the_doc_shows_every_definition_once_as_it_is():
    files = {path.name: path.read_text() for path in sorted(DEFS.glob("*.yaml"))}
    text = DOC.read_text()
    blocks = yaml_blocks(text)
    assert len(files) == 4
    assert sorted(blocks) == sorted(files.values())
    for name in files:
        assert f"`tests/library/report_defs/{name}`" in text


def test_definitions_md_links_the_example():
    text = (settings.BASE_DIR / "docs" / "definitions.md").read_text()
    assert "(example-library.md)" in text
