"""
A report's columns as the cells of an XLSX sheet: typed, styled, escaped, a chunk at a time.

    sheet = SheetColumns(compiled.headers, compiled.formatters, compiled.tz)
    sheet.header_row()                      # '<row r="1">...</row>', the column labels in bold
    sheet.rows(columns, first=2)            # a fetch's columns (sources.orm_columns) as rows
    sheet.styles_xml(), sheet.cols_xml()    # the styles the cells name, the columns' widths

Each column's cells follow its formatter's kind (formats.CellFormatter.kind):

- number: the CSV's text of it (the same rounding) as a number; a text Excel could
  not hold exactly (more than 15 significant digits, NaN) stays text;
- date, datetime: an Excel serial in the report's time zone, to the second (to the
  microsecond with %f), styled with the CSV's pattern where Excel has one for it
  (else yyyy-mm-dd, yyyy-mm-dd hh:mm:ss); a day before 1900 is text;
- boolean: TRUE/FALSE, or the column's labels as text;
- duration: a number of days shown as [h]:mm:ss, Excel's durations; a negative one
  (Excel shows none) is the CSV's text;
- text: an inline string, never a formula (so without the CSV's guarding apostrophe);
  characters XML cannot hold as they are are written as Excel writes them (_x0001_),
  and a cell is cut at Excel's 32,767 characters.

NULL is an empty cell, or the column's empty label as text. A chunk's column is
checked at once for what needs care (escapes, long numbers), so that most columns
are written by one comprehension.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from itertools import chain, repeat
from typing import Any
from xml.sax.saxutils import escape, quoteattr
from zoneinfo import ZoneInfo

from .formats import BOOLEAN, DATE, DATETIME, DURATION, NUMBER, TEXT, loaded

# Excel's 1900 date system: serial 1 is 1900-01-01, 60 the 29 February 1900 it counts.
EPOCH_ORDINAL = dt.date(1899, 12, 30).toordinal()
UNIX_EPOCH_SERIAL = 25569  # 1970-01-01
UNIX_EPOCH = dt.datetime(1970, 1, 1)
FIRST_REAL_LEAP_SERIAL = 61  # 1900-03-01: serials below it are a day ahead
SECONDS_PER_DAY = 86400
MAX_CELL_CHARS = 32767
MAX_DIGITS = 15  # what a double holds exactly
NUMBER_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
NUMBER_TEXTS = re.compile(r"(?:-?[0-9]+(?:\.[0-9]+)?)?(?:\x00(?:-?[0-9]+(?:\.[0-9]+)?)?)*")
# What XML 1.0 cannot hold (and CR, which XML reads as LF), and an underscore that
# would read as the start of such an escape: written as _xHHHH_, as Excel does.
TO_ESCAPE = re.compile("[\x00-\x08\x0b-\x1f\ufffe\uffff]|_(?=x[0-9A-Fa-f]{4}_)")
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\ufffe\uffff]")
# XML's white space, which Excel drops at the edges of a text unless told to keep it.
EDGES = [edge for space in " \t\n\r" for edge in ("\x00" + space, space + "\x00")]

DATE_CODE = "yyyy-mm-dd"
DURATION_CODE = "[h]:mm:ss"
ONE_DAY = dt.timedelta(days=1)
DATETIME_CODE = "yyyy-mm-dd hh:mm:ss"
# strftime directives and the Excel number format codes that print the same (English).
EXCEL_CODES = {
    "Y": "yyyy",
    "y": "yy",
    "m": "mm",
    "d": "dd",
    "H": "hh",
    "M": "mm",
    "S": "ss",
    "b": "mmm",
    "B": "mmmm",
    "a": "ddd",
    "A": "dddd",
}
DIRECTIVE = re.compile(r"%([-_0^#]?.)|([^%]+)|(%)$", re.S)
# Characters a number format shows as they are; others are escaped with a backslash.
PLAIN = set("$-+/():!^&'~{}<>= ")
HEADER_STYLE = 1
XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def excel_code(pattern: str) -> str | None:
    """The number format code that shows a strftime pattern's text; None when none does."""
    parts: list[tuple[str, str]] = []  # (directive letter or "", code)
    for match in DIRECTIVE.finditer(pattern):
        directive, literal, lone = match.groups()
        if lone or (directive and directive not in EXCEL_CODES and directive != "%"):
            return None  # %j, %f, %p, a flag...: no code shows the same
        text = "%" if directive == "%" else literal
        if text is not None:
            parts.append(("", "".join(c if c in PLAIN else "\\" + c for c in text)))
        else:
            parts.append((directive, EXCEL_CODES[directive]))
    letters = [letter for letter, _code in parts if letter]
    for index, letter in enumerate(letters):
        # Excel reads mm as minutes right after hours or before seconds, else as a month.
        minutes = "H" in letters[index - 1 : index] or "S" in letters[index + 1 : index + 2]
        if (letter == "M" and not minutes) or (letter == "m" and minutes):
            return None
    return "".join(code for _letter, code in parts)


def date_serial(day: dt.date) -> int | None:
    serial = day.toordinal() - EPOCH_ORDINAL
    if serial < FIRST_REAL_LEAP_SERIAL:
        serial -= 1
    return serial if serial >= 1 else None


class DatetimeSerials:
    """Datetimes as Excel serials of their local time in `tz` (an offset a UTC hour)."""

    def __init__(self, tz: ZoneInfo, microseconds: bool) -> None:
        self.tz = tz
        self.microseconds = microseconds
        self.offsets: dict[float, float | None] = {}

    def __call__(self, value: dt.datetime) -> float | None:
        if value.tzinfo is None:  # naive: the time it says
            seconds = (value - UNIX_EPOCH).total_seconds()
        else:
            utc = value.timestamp()
            hour = utc // 3600
            if hour not in self.offsets:
                self.offsets[hour] = self._offset(hour)
            offset = self.offsets[hour]
            if offset is None:  # the zone's offset changes within this hour
                offset = value.astimezone(self.tz).utcoffset().total_seconds()  # type: ignore[union-attr]
            seconds = utc + offset
        if not self.microseconds:
            seconds //= 1
        serial = seconds / SECONDS_PER_DAY + UNIX_EPOCH_SERIAL
        if serial < FIRST_REAL_LEAP_SERIAL:
            serial -= 1
        return serial if serial >= 1 else None

    def _offset(self, hour: float) -> float | None:
        if len(self.offsets) > 100_000:
            self.offsets.clear()
        try:
            start = dt.datetime.fromtimestamp(hour * 3600, dt.UTC).astimezone(self.tz)
            end = dt.datetime.fromtimestamp(hour * 3600 + 3599, dt.UTC).astimezone(self.tz)
        except (OverflowError, ValueError, OSError):
            return None
        offset = start.utcoffset()
        if offset is None or offset != end.utcoffset():
            return None
        return offset.total_seconds()


class StyleSheet:
    """The number formats the columns use, as cellXfs indexes (0: general, 1: the header)."""

    def __init__(self) -> None:
        self.codes: list[str] = []

    def style(self, code: str) -> int:
        if code not in self.codes:
            self.codes.append(code)
        return HEADER_STYLE + 1 + self.codes.index(code)

    def xml(self) -> str:
        formats = "".join(
            f"<numFmt numFmtId={quoteattr(str(164 + index))} formatCode={quoteattr(code)}/>"
            for index, code in enumerate(self.codes)
        )
        xfs = "".join(
            f'<xf numFmtId="{164 + index}" fontId="0" fillId="0" borderId="0" xfId="0"'
            ' applyNumberFormat="1"/>'
            for index in range(len(self.codes))
        )
        number_formats = f'<numFmts count="{len(self.codes)}">{formats}</numFmts>'
        return (
            f'{XML_HEAD}<styleSheet xmlns="{MAIN}">{number_formats if self.codes else ""}'
            '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
            '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
            '<fills count="2"><fill><patternFill patternType="none"/></fill>'
            '<fill><patternFill patternType="gray125"/></fill></fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border>'
            "</borders>"
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
            "</cellStyleXfs>"
            f'<cellXfs count="{2 + len(self.codes)}">'
            '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
            '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
            f"{xfs}</cellXfs>"
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
            "</styleSheet>"
        )


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def inline_strings(texts: list[str]) -> list[str]:
    """Texts as the inside of inline string cells ('<is><t>..</t></is>'); "" stays ""."""
    if not texts:
        return texts
    lines = "\n".join(texts)  # a line feed: XML holds it, and it makes no "_x"
    if max(map(len, texts)) > MAX_CELL_CHARS:
        texts = [text[:MAX_CELL_CHARS] for text in texts]
    if "_x" in lines or CONTROL.search(lines):
        texts = [TO_ESCAPE.sub(_excel_escape, text) for text in texts]
    if "&" in lines or "<" in lines or ">" in lines:
        texts = [escape(text) for text in texts]
    between = "\x00" + "\x00".join(texts) + "\x00"  # each text between two NULs
    if any(edge in between for edge in EDGES):
        return [_inline(text) for text in texts]
    return [f"<is><t>{text}</t></is>" if text else "" for text in texts]


def _inline(text: str) -> str:
    if not text:
        return ""
    if text[0].isspace() or text[-1].isspace():
        return f'<is><t xml:space="preserve">{text}</t></is>'
    return f"<is><t>{text}</t></is>"


def _excel_escape(match: re.Match) -> str:
    return f"_x{ord(match.group()):04X}_"


def _texts(cells: Sequence[Any]) -> list[str]:
    """Cells of a CSV column formatter (text, or values csv.writer turns into text)."""
    if set(map(type, cells)) <= {str}:
        return list(cells)
    return ["" if cell is None else str(cell) for cell in cells]


class SheetColumn:
    """One column's cells, a chunk at a time."""

    def __init__(self, index: int, formatter: Any, tz: ZoneInfo, styles: StyleSheet) -> None:
        self.letter = column_letter(index)
        self.formatter = formatter
        self.tz = tz
        column = getattr(formatter, "column", None)
        self.format_column: Callable[[list], list] = column or (
            lambda values: [formatter(value) for value in loaded(values)]
        )
        self.kind = getattr(formatter, "kind", TEXT)
        fmt = getattr(formatter, "fmt", None)
        self.empty = getattr(formatter, "empty", "")
        self.style = self.date_style = 0
        self.width = 16
        if self.kind == BOOLEAN and (fmt is None or {fmt.true_label, fmt.false_label} != {None}):
            self.kind = TEXT  # labels are words
        if self.kind == NUMBER:
            places = getattr(formatter, "places", None)
            if places is not None:
                self.style = styles.style("0." + "0" * places if places else "0")
            self.width = 12
        if self.kind in (DATE, DATETIME):
            date_code = excel_code(getattr(fmt, "date", None) or "")
            self.style = self.date_style = styles.style(date_code or DATE_CODE)
            self.width = 11
        if self.kind == DURATION:
            self.style = styles.style(DURATION_CODE)
            self.width = 12
        if self.kind == DATETIME:
            pattern = getattr(fmt, "datetime", None) or ""
            self.style = styles.style(excel_code(pattern) or DATETIME_CODE)
            self.serial = DatetimeSerials(tz, "%f" in pattern)
            self.width = 19

    def cells(self, values: list, rows: list[str]) -> list[str]:
        """The column's cells of a chunk, whose rows are numbered `rows`."""
        if self.kind == NUMBER:
            return self._numbers(values, rows)
        if self.kind in (DATE, DATETIME):
            return self._dates(values, rows)
        if self.kind == BOOLEAN:
            return self._booleans(values, rows)
        if self.kind == DURATION:
            return self._durations(values, rows)
        return self._strings(self._unguarded(values), rows)

    def _strings(self, texts: list[str], rows: list[str]) -> list[str]:
        letter = self.letter
        return [
            f'<c r="{letter}{row}" t="inlineStr">{inline}</c>' if inline else ""
            for row, inline in zip(rows, inline_strings(texts), strict=True)
        ]

    def _numbers(self, values: list, rows: list[str]) -> list[str]:
        texts = _texts(self.format_column(values))
        letter = self.letter
        style = f' s="{self.style}"' if self.style else ""
        if NUMBER_TEXTS.fullmatch("\x00".join(texts)) and max(map(len, texts), default=0) <= 15:
            return [
                f'<c r="{letter}{row}"{style}><v>{text}</v></c>' if text else ""
                for row, text in zip(rows, texts, strict=True)
            ]
        numbers = [_exact_number(text) for text in texts]
        strings = self._strings(
            ["" if number else text for number, text in zip(numbers, texts, strict=True)], rows
        )
        return [
            f'<c r="{letter}{row}"{style}><v>{text}</v></c>' if number else string
            for row, text, number, string in zip(rows, texts, numbers, strings, strict=True)
        ]

    def _dates(self, values: list, rows: list[str]) -> list[str]:
        values = loaded(values)
        serial = self._serial
        serials = [None if value is None else serial(value) for value in values]
        letter, style, date_style = self.letter, self.style, self.date_style
        if self.kind == DATETIME and int in set(map(type, serials)):  # days in datetimes
            styles = [date_style if type(s) is int else style for s in serials]
        else:
            styles = [style] * len(serials)
        cells = [
            "" if s is None else f'<c r="{letter}{row}" s="{cell_style}"><v>{s!r}</v></c>'
            for row, s, cell_style in zip(rows, serials, styles, strict=True)
        ]
        if None not in serials:
            return cells
        # Written as text: an empty label, a day Excel cannot hold (before 1900).
        texts = [
            (self.empty if value is None else self.formatter(value)) if s is None else ""
            for value, s in zip(values, serials, strict=True)
        ]
        strings = self._strings(texts, rows)
        return [cell or string for cell, string in zip(cells, strings, strict=True)]

    def _serial(self, value: Any) -> int | float | None:
        """A date's serial (int), a datetime's (float; a date column's: its day's)."""
        if type(value) is dt.datetime:
            if self.kind == DATETIME:
                return self.serial(value)
            local = value.astimezone(self.tz) if value.tzinfo else value
            return date_serial(local.date())
        return date_serial(value)

    def _durations(self, values: list, rows: list[str]) -> list[str]:
        values = loaded(values)
        letter, style = self.letter, self.style
        cells = [
            f'<c r="{letter}{row}" s="{style}"><v>{value / ONE_DAY!r}</v></c>'
            if value is not None and value >= dt.timedelta(0)
            else ""
            for row, value in zip(rows, values, strict=True)
        ]
        texts = [
            (self.empty if value is None else self.formatter(value)) if not cell else ""
            for value, cell in zip(values, cells, strict=True)
        ]
        strings = self._strings(texts, rows)
        return [cell or string for cell, string in zip(cells, strings, strict=True)]

    def _booleans(self, values: list, rows: list[str]) -> list[str]:
        letter = self.letter
        cells = [
            "" if value is None else f'<c r="{letter}{row}" t="b"><v>{1 if value else 0}</v></c>'
            for row, value in zip(rows, loaded(values), strict=True)
        ]
        if self.empty and "" in cells:
            strings = self._strings([self.empty if not cell else "" for cell in cells], rows)
            return [cell or string for cell, string in zip(cells, strings, strict=True)]
        return cells

    def _unguarded(self, values: list) -> list[str]:
        """The CSV's cells, less the apostrophe that guards a formula-like text: XLSX text
        is never a formula."""
        texts = _texts(self.format_column(values))
        if "\x00'" not in "\x00" + "\x00".join(texts):
            return texts
        raw = loaded(values)
        return [
            text[1:]
            if text.startswith("'") and value is not None and text[1:] == str(value)
            else text
            for text, value in zip(texts, raw, strict=True)
        ]


def _exact_number(text: str) -> bool:
    """Whether Excel holds the number of `text` exactly (at most 15 significant digits)."""
    if not NUMBER_TEXT.fullmatch(text):
        return False
    # Zeros before the first digit and after the last are no significant digits:
    # 24000000000000000 has two, and Excel shows it whole.
    return len(text.lstrip("-").replace(".", "").strip("0")) <= MAX_DIGITS


class SheetColumns:
    """The sheet's columns: its header row, its rows a chunk at a time, its styles."""

    def __init__(self, headers: Sequence[str], formatters: Sequence[Any], tz: ZoneInfo) -> None:
        self.headers = list(headers)
        self.styles = StyleSheet()
        self.columns = [
            SheetColumn(index, formatter, tz, self.styles)
            for index, formatter in enumerate(formatters)
        ]

    def header_row(self) -> str:
        cells = inline_strings([str(header) for header in self.headers])
        return (
            '<row r="1">'
            + "".join(
                f'<c r="{column.letter}1" s="{HEADER_STYLE}" t="inlineStr">{cell}</c>'
                if cell
                else ""
                for column, cell in zip(self.columns, cells, strict=True)
            )
            + "</row>"
        )

    def rows(self, columns: Sequence[list], first: int) -> str:
        """A chunk's rows (one list of values per column), numbered from `first`."""
        count = len(columns[0]) if columns else 0
        numbers = list(map(str, range(first, first + count)))
        cells = [
            column.cells(values, numbers)
            for column, values in zip(self.columns, columns, strict=True)
        ]
        starts = [f'<row r="{number}">' for number in numbers]
        pieces = zip(starts, *cells, repeat("</row>", count), strict=True)
        return "".join(chain.from_iterable(pieces))

    def cols_xml(self) -> str:
        widths = [
            max(column.width, min(len(header) + 2, 50))
            for column, header in zip(self.columns, self.headers, strict=True)
        ]
        cols = "".join(
            f'<col min="{index}" max="{index}" width="{width}" customWidth="1"/>'
            for index, width in enumerate(widths, start=1)
        )
        return f"<cols>{cols}</cols>"

    def styles_xml(self) -> str:
        return self.styles.xml()
