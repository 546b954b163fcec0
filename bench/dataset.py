"""
The benchmark's dataset: built once per size and seed, cached, restored after.

    prepare_postgres(lines, seed)            # into DATABASE_URL's throwaway PostgreSQL
    prepare_sqlite(lines, seed, workdir)     # -> a working copy of the cached SQLite file

    DATABASE_URL=... python bench/dataset.py --lines 500000 --seed 1   # the build itself

The build loads the demo shop, adds products up to 500 (the aggregated report runs
on 500 selected products), generates the order lines over two years ending on END
and creates the staff user the benchmark logs in as. PostgreSQL's is kept as a
pg_dump archive, SQLite's as the database file, under $BENCH_CACHE (default
~/.cache/admin-reports-bench), in a directory named by the size, the seed and a
digest of the code that makes the rows: change that code and the next run rebuilds.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import time
from decimal import Decimal
from pathlib import Path

from harness import BENCH, PYTHON, ROOT, django_setup, manage, subprocess_env

END = "2026-06-30"
PRODUCTS = 500
USER, PASSWORD = "bench", "bench-password"
SOURCES = [
    BENCH / "dataset.py",
    ROOT / "project/shop/demo_data.py",
    ROOT / "fixtures/demo_shop.json",
]


def cache_dir(lines: int, seed: int) -> Path:
    root = Path(os.environ.get("BENCH_CACHE") or Path.home() / ".cache/admin-reports-bench")
    digest = hashlib.sha1(b"".join(path.read_bytes() for path in SOURCES)).hexdigest()
    return root / f"{lines}-lines-seed-{seed}-{digest[:10]}"


def shown(path: Path) -> str:
    """The path for the results, the home directory as ~."""
    try:
        return f"~/{path.relative_to(Path.home())}"
    except ValueError:
        return str(path)


def build(lines: int, seed: int, database_url: str) -> None:
    subprocess.run(
        [PYTHON, str(BENCH / "dataset.py"), "--lines", str(lines), "--seed", str(seed)],
        cwd=ROOT,
        env=subprocess_env(DATABASE_URL=database_url),
        check=True,
    )


def prepare_postgres(lines: int, seed: int) -> str:
    """Fill DATABASE_URL's empty PostgreSQL from the cache (built first if missing)."""
    url = os.environ["DATABASE_URL"]
    archive = cache_dir(lines, seed) / "postgres.dump"
    if not archive.exists():
        archive.parent.mkdir(parents=True, exist_ok=True)
        build(lines, seed, url)
        partial = archive.with_suffix(".partial")
        subprocess.run(["pg_dump", "-Fc", "-Z", "1", "-f", str(partial), url], check=True)
        partial.rename(archive)
        return f"built and cached in {shown(archive)}"
    restore = ["pg_restore", "--no-owner", "--no-privileges", "--jobs", "2", "-d", url]
    subprocess.run([*restore, str(archive)], check=True)
    # pg_restore brings no planner statistics; migrations newer than the archive apply.
    subprocess.run(["psql", "-X", "-q", "-d", url, "-c", "ANALYZE"], check=True)
    manage("migrate", "--noinput")
    return f"restored from {shown(archive)}"


def prepare_sqlite(lines: int, seed: int, workdir: Path) -> tuple[Path, str]:
    """A working copy of the cached SQLite database (built first if missing)."""
    cached = cache_dir(lines, seed) / "bench.sqlite3"
    how = f"copied from {shown(cached)}"
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        build(lines, seed, f"sqlite:///{partial}")
        partial.rename(cached)
        how = f"built and cached in {shown(cached)}"
    copy = workdir / "bench.sqlite3"
    shutil.copyfile(cached, copy)
    manage("migrate", "--noinput", env=subprocess_env(DATABASE_URL=f"sqlite:///{copy}"))
    return copy, how


def fill(lines: int, seed: int) -> None:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from project.shop.models import Category, Product

    call_command("migrate", "--noinput", verbosity=0)
    call_command("loaddata", "demo_shop", verbosity=0)
    categories = list(Category.objects.order_by("pk"))
    Product.objects.bulk_create(
        Product(
            sku=f"BENCH-{number:04d}",
            name=f"Bench product {number}",
            category=categories[number % len(categories)],
            price=Decimal(100 + number * 37 % 9900) / 100,
        )
        for number in range(Product.objects.count(), PRODUCTS)
    )
    call_command("generate_demo_data", "--lines", str(lines), "--seed", str(seed), "--end", END)
    get_user_model().objects.create_superuser(USER, f"{USER}@example.com", PASSWORD)


def main() -> None:
    parser = argparse.ArgumentParser(description="Build the benchmark's dataset.")
    parser.add_argument("--lines", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    django_setup()
    started = time.monotonic()
    fill(options.lines, options.seed)
    print(f"dataset built in {time.monotonic() - started:.1f}s", flush=True)


if __name__ == "__main__":
    main()
