"""
make bench: the reports' downloads side by side with the database's own CSV output
and with the alternatives, on PostgreSQL and on SQLite.

    make bench LINES=500000
    scripts/with-postgres .venv/bin/python bench/run.py --lines 500000 [--seed 1]
        [--databases postgresql,sqlite] [--paths copy,orm] [--formats csv,xlsx]

The dataset comes from the cache (bench/dataset.py). Each case runs REPEATS times;
the tables give medians. The results go to bench/results/<lines>.md and stdout;
bench/README.md says what each case is.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dataset import PASSWORD, PRODUCTS, USER, prepare_postgres, prepare_sqlite
from harness import ROOT, django_setup, gunicorn, session_cookie, subprocess_env
from measure import Case, Sample, anchor, download, render

REPEATS = 3
# Where the hack and django-import-export run. Past 1 M lines they take minutes and
# gigabytes (the hack 154 s and 15.2 GB at 16 M lines; import-export 190 s and +1.0 GB
# at 1 M, about 50 min and 16 GB at 16 M).
SUBSETS = (100_000, 1_000_000)
WHOLE = "start=2000-01-01&end=2100-01-01"
EMPTY = "start=2100-01-01&end=2100-01-01"
YEAR = "start=2025-07-01&end=2026-06-30"
Measure = Callable[[], Sample]


def compiled_report(alias: str, name: str, query: str):
    """The report `name` compiled for `alias` with the download's query string."""
    from django.http import QueryDict

    from admin_reports.compiler import compile_report
    from admin_reports.registry import registry
    from admin_reports.run_request import parse_run_request

    spec = registry.get(name)
    return compile_report(spec, parse_run_request(spec, QueryDict(query)).params(), using=alias)


def compiled_sql(alias: str, name: str, query: str) -> str:
    """The SQL a report's download runs, its parameters bound by the database's quoting."""
    from django.db import connections

    from admin_reports.sqlformats import inner_query

    sql, params = inner_query(compiled_report(alias, name, query))
    connection = connections[alias]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            return cursor.mogrify(sql, params)
    connection.ensure_connection()
    return connection.ops.last_executed_query(None, sql, params)


def copy_statement(alias: str, name: str, query: str) -> list[str]:
    """psql's -c options that run the COPY path's statement as a download would."""
    from django.db import connections

    from admin_reports.pgcopy import typed_copy_query

    connection = connections[alias]
    statement = typed_copy_query(connection, compiled_report(alias, name, query))
    with connection.cursor() as cursor:  # mogrify: psycopg's quoting, on the client
        zone = cursor.mogrify("SET TimeZone = %s", [statement.time_zone])
        sql = cursor.mogrify(statement.sql, statement.params)
    return ["-c", zone, "-c", "SET DateStyle = ISO", "-c", sql]


def recorded_path(alias: str, name: str) -> str:
    """The path the report's last run recorded; "orm" where runs record none."""
    from admin_reports.models import ReportRun

    if not any(field.name == "path" for field in ReportRun._meta.get_fields()):
        return "orm"
    run = ReportRun.objects.using(alias).filter(report=name).order_by("-created_at").first()
    return getattr(run, "path", "") or "?"


def recorded_rows(alias: str, name: str) -> int:
    """The rows the report's last run recorded (an XLSX's rows are not lines to count)."""
    from admin_reports.models import ReportRun

    run = ReportRun.objects.using(alias).filter(report=name).order_by("-created_at").first()
    return run.rows if run is not None else 0


def subset_ends(alias: str, lines: int) -> dict[int, str]:
    """For each subset size the dataset holds, the day its first N lines end on."""
    from django.utils import timezone

    from project.shop.models import OrderLine

    ends = {}
    for size in (size for size in SUBSETS if size <= lines):
        lines_by_id = OrderLine.objects.using(alias).order_by("pk")
        placed_at = lines_by_id.values_list("order__placed_at", flat=True)[size - 1]
        ends[size] = timezone.localtime(placed_at).date().isoformat()
    return ends


@dataclass
class Client:
    """A logged-in client of one gunicorn worker serving one database."""

    port: int
    worker: int
    cookie: str
    alias: str

    def get(self, path: str, gzipped: bool = False) -> Measure:
        return lambda: download(self.port, path, self.cookie, gzipped=gzipped, worker=self.worker)

    def report(self, name: str, query: str, gzipped: bool, file_format: str = "csv") -> Measure:
        fetch = self.get(
            f"/admin/reports/{name}/download/?{query}&bom=0&format={file_format}", gzipped
        )

        def measure() -> Sample:
            sample = fetch()
            sample.path = recorded_path(self.alias, name)
            if file_format == "xlsx":
                sample.rows = recorded_rows(self.alias, name)
            return sample

        return measure


@contextmanager
def serving(alias: str, **env: str) -> Iterator[Client]:
    """gunicorn, one gthread worker, on the bench site; logged in and warmed up."""
    env = subprocess_env(DJANGO_SETTINGS_MODULE="bench_settings", **env)
    options = ("--timeout", "120")
    with gunicorn(workers=1, threads=4, env=env, options=options) as server:
        client = Client(
            server.port, server.workers()[0], session_cookie(server.base, USER, PASSWORD), alias
        )
        # Imports and caches load before anything is measured.
        for name in ("order_lines", "daily_product_sales"):
            client.report(name, EMPTY, True)()
            client.report(name, EMPTY, True, "xlsx")()
        client.get(f"/bench/hack/order_lines/?{EMPTY}")()
        client.get(f"/bench/import-export/?{EMPTY}")()
        yield client


class Bench:
    """The cases of one run, in the order they ran."""

    def __init__(self, lines: int) -> None:
        self.lines = lines
        self.cases: list[Case] = []
        self.notes: list[str] = []

    def case(self, group: str, label: str, measure: Measure, against: Case | None = None) -> Case:
        case = Case(group, label, anchor=against)
        self.cases.append(case)
        print(f"{group}: {label}:", end=" ", flush=True)
        for _ in range(REPEATS):
            try:
                case.samples.append(measure())
            except Exception as error:  # a failed case is reported; the others still run
                case.error = f"{type(error).__name__}: {error}"[:300]
                break
            print(f"{case.samples[-1].seconds:.2f}s", end=" ", flush=True)
        print(case.error)
        return case


def encoding(gzipped: bool) -> str:
    return "gzip" if gzipped else "identity"


def product_keys(alias: str) -> str:
    from project.shop.models import Product

    keys = Product.objects.using(alias).order_by("pk").values_list("pk", flat=True)[:PRODUCTS]
    return ",".join(str(key) for key in keys)


def report_queries(alias: str) -> dict[str, tuple[str, str]]:
    selected = f"on=shop.product&select={product_keys(alias)}"
    return {
        "order_lines, whole range": ("order_lines", WHOLE),
        f"daily_product_sales, {PRODUCTS} products, a year": (
            "daily_product_sales",
            f"{YEAR}&{selected}",
        ),
    }


def xlsx_cases(bench: Bench, client: Client, group: str, report: tuple[str, str], against):
    """The report as XLSX (always on the ORM path), identity and gzip."""
    for gzipped in (False, True):
        measure = client.report(*report, gzipped, "xlsx")
        bench.case(group, f"ours, XLSX, {encoding(gzipped)}", measure, against)


def xlsx_notes(bench: Bench) -> None:
    """XLSX's time over the CSV's, in the same run, group and encoding."""
    cases = {(case.group, case.label): case for case in bench.cases if case.samples}
    for (group, label), case in cases.items():
        if not label.startswith("ours, XLSX, "):
            continue
        wire = label.rsplit(" ", 1)[1]
        csv_labels = {
            "ORM path": f"ours, COPY off, {wire}",
            "COPY path": f"ours, COPY on, {wire}",
            "SQLite": f"ours, {wire}",
        }
        ratios = [
            f"{case.median('seconds') / csv.median('seconds'):.2f}x the CSV's time ({path})"
            for path, csv_label in csv_labels.items()
            if (csv := cases.get((group, csv_label)))
        ]
        if ratios:
            bench.notes.append(f"{group}, XLSX over {wire}: " + "; ".join(ratios) + ".")


def postgres_cases(bench: Bench, paths: set[str], formats: set[str] = frozenset({"csv"})) -> None:
    reports = report_queries("default")
    subsets = {
        f"order_lines, the first {size:,} lines": ("order_lines", f"start=2000-01-01&end={end}")
        for size, end in subset_ends("default", bench.lines).items()
        if len(paths) == 2  # the alternatives run in a whole run only, beside COPY's cases
    }
    url = os.environ["DATABASE_URL"]
    anchors = {}
    for group, report in {**reports, **subsets}.items():
        copy = f"\\copy ({compiled_sql('default', *report)}) to stdout csv"
        command = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", copy]
        anchors[group] = bench.case(
            f"PostgreSQL: {group}", "psql \\copy, the same SQL", anchor(command)
        )
        if group in reports and "copy" in paths:
            # The database's share of our COPY path: its statement, cells formatted in SQL.
            statement = copy_statement("default", *report)
            bench.case(
                f"PostgreSQL: {group}",
                "psql, our COPY statement (cells formatted)",
                anchor(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, *statement]),
                anchors[group],
            )
    settings = {"copy": ("1", "COPY on"), "orm": ("0", "COPY off")}
    chosen = [path for path in ("copy", "orm") if path in paths]
    for copy, setting in (settings[path] for path in chosen):
        with serving("default", BENCH_COPY=copy) as client:
            for group, (name, query) in reports.items():
                for gzipped in (False, True) if "csv" in formats else ():
                    label = f"ours, {setting}, {encoding(gzipped)}"
                    measure = client.report(name, query, gzipped)
                    bench.case(f"PostgreSQL: {group}", label, measure, anchors[group])
                # XLSX reads the ORM's rows whatever the setting: measured in one server.
                if "xlsx" in formats and setting == settings[chosen[-1]][1]:
                    report = (name, query)
                    xlsx_cases(bench, client, f"PostgreSQL: {group}", report, anchors[group])
            # The first N lines set ours against the alternatives: the COPY setting's
            # run only (the whole range already gives both settings).
            for group, (name, query) in subsets.items() if copy == "1" else ():
                cases = {
                    "ours, COPY on, identity": client.report(name, query, False),
                    "the original hack": client.get(f"/bench/hack/{name}/?{query}"),
                    "django-import-export": client.get(f"/bench/import-export/?{query}"),
                }
                for label, measure in cases.items():
                    bench.case(f"PostgreSQL: {group}", label, measure, anchors[group])
    for size in SUBSETS:
        if len(paths) < 2:
            bench.notes.append(
                f"The original hack and django-import-export at {size:,} lines: not run in a"
                f" run of one path (--paths {','.join(paths)})."
            )
        elif size > bench.lines:
            bench.notes.append(
                f"The original hack and django-import-export at {size:,} lines: not run, the"
                f" dataset has {bench.lines:,}."
            )


def sqlite_cases(bench: Bench, database: Path, formats: set[str] = frozenset({"csv"})) -> None:
    reports = report_queries("sqlite")
    anchors: dict[str, Case | None] = {}
    for group, report in reports.items():
        sql = compiled_sql("sqlite", *report)
        if "django_" in sql:
            anchors[group] = None
            bench.notes.append(
                f"SQLite, {group}: no anchor. Its SQL calls functions Django registers on its"
                " own connections (django_datetime_trunc...), which the sqlite3 shell lacks."
            )
            continue
        command = ["sqlite3", "-batch", "-csv", str(database), sql]
        anchors[group] = bench.case(
            f"SQLite: {group}", "sqlite3 shell -csv, the same SQL", anchor(command)
        )
    with serving("sqlite", DATABASE_URL=f"sqlite:///{database}") as client:
        for group, (name, query) in reports.items():
            for gzipped in (False, True) if "csv" in formats else ():
                measure = client.report(name, query, gzipped)
                bench.case(
                    f"SQLite: {group}", f"ours, {encoding(gzipped)}", measure, anchors[group]
                )
            if "xlsx" in formats:
                xlsx_cases(bench, client, f"SQLite: {group}", (name, query), anchors[group])


def machine() -> list[str]:
    import django
    from django.db import connections

    cpu = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
    memory = int(re.search(r"^MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text(), re.M)[1])
    with connections["default"].cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    sqlite = subprocess.run(["sqlite3", "--version"], capture_output=True, text=True).stdout
    commit = git("rev-parse", "--short", "HEAD") + (
        " (with changes)" if git("status", "--porcelain") else ""
    )
    return [
        f"- machine: {cpu[1] if cpu else platform.machine()}, {os.cpu_count()} cores,"
        f" {memory / 1024 / 1024:.0f} GiB; load at the start {os.getloadavg()[0]:.2f}",
        f"- PostgreSQL {postgres}, SQLite {sqlite.split()[0]}, Python {platform.python_version()},"
        f" Django {django.get_version()}; gunicorn, 1 gthread worker of 4 threads",
        f"- code: {commit}",
    ]


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def results(bench: Bench, seconds: float, lines: list[str]) -> str:
    head = [
        f"# make bench LINES={bench.lines}",
        "",
        f"Run on {datetime.date.today():%Y-%m-%d}, {seconds / 60:.1f} minutes in all"
        f" (load average at the end {os.getloadavg()[0]:.2f}).",
        "",
        *lines,
        f'- each case {REPEATS} times, medians; "vs anchor" is the case\'s rows/s over its'
        " anchor's (1.00x: as fast as the database's own CSV output of the same SQL)",
        "- MB/s counts the file as decoded, gzip or not (an XLSX: its zip; its rows are the"
        " run's recorded rows);"
        ' "path" is what the run recorded (ReportRun.path, or "orm" where runs record none)',
        "",
    ]
    notes = ["## Notes", "", *(f"- {note}" for note in bench.notes)] if bench.notes else []
    return "\n".join(head) + "\n" + render(bench.cases) + "\n" + "\n".join(notes) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--lines", type=int, default=500_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--databases",
        default="postgresql,sqlite",
        help="the databases to measure, comma-separated (default: postgresql,sqlite)",
    )
    parser.add_argument(
        "--formats",
        default="csv,xlsx",
        help="the file formats of our downloads, comma-separated (default: csv,xlsx); XLSX"
        " takes the ORM path, measured in the last server of --paths",
    )
    parser.add_argument(
        "--paths",
        default="copy,orm",
        help="PostgreSQL: the row paths to measure, comma-separated (default: copy,orm);"
        " a run of one path writes bench/results/<lines>-<path>.md",
    )
    options = parser.parse_args()
    databases = set(options.databases.split(","))
    if not databases or databases - {"postgresql", "sqlite"}:
        parser.error("--databases: postgresql, sqlite or both")
    paths = set(options.paths.split(","))
    if not paths or paths - {"copy", "orm"}:
        parser.error("--paths: copy, orm or both")
    formats = set(options.formats.split(","))
    if not formats or formats - {"csv", "xlsx"}:
        parser.error("--formats: csv, xlsx or both")
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Run under scripts/with-postgres: DATABASE_URL must be a throwaway PostgreSQL.")
    started = time.monotonic()
    bench = Bench(options.lines)
    with tempfile.TemporaryDirectory(prefix="admin-reports-bench-") as workdir:
        lines = [f"- dataset: {options.lines:,} order lines, seed {options.seed};"]
        lines[0] += f" PostgreSQL's {prepare_postgres(options.lines, options.seed)},"
        database = None
        if "sqlite" in databases:
            database, how = prepare_sqlite(options.lines, options.seed, Path(workdir))
            lines[0] += f" SQLite's {how};"
            os.environ["BENCH_SQLITE"] = str(database)
        else:
            bench.notes.append("SQLite: not measured in this run (--databases postgresql).")
        lines[0] += f" ready after {time.monotonic() - started:.0f} s"
        django_setup("bench_settings")
        from django.db import connections

        lines += machine()
        try:
            if "postgresql" in databases:
                postgres_cases(bench, paths, formats)
            if database is not None:
                sqlite_cases(bench, database, formats)
        finally:
            connections.close_all()
        xlsx_notes(bench)
    text = results(bench, time.monotonic() - started, lines)
    suffix = "" if len(paths) == 2 else f"-{''.join(paths)}"
    suffix += "" if len(formats) == 2 else f"-{''.join(formats)}"
    target = ROOT / "bench" / "results" / f"{options.lines}{suffix}.md"
    target.parent.mkdir(exist_ok=True)
    target.write_text(text)
    print(f"\n{text}\nwritten to {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
