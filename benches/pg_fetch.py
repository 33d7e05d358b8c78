#!/usr/bin/env python3
"""Issue 19's measurement: fetching a large answer through the PostgreSQL port, against PostgreSQL.

The same rows (a synthetic table of deaths without personal columns, --rows of them, 1 M by
default) are served by:

- `lagoa`: an encrypted lake, the dataset at level `amplo`, read by an analyst through
  `lagoa serve`'s PostgreSQL port (the governed path: guard, policy, audit);
- `postgres`: the PostgreSQL on this machine (127.0.0.1:5432, database `test`), the rows in a
  table loaded with COPY.

psycopg 3 fetches every row (`SELECT * FROM t`, `fetchall`) in text and in binary results, best
of --runs, the two servers interleaved; the answers are compared (row count and column sums).
Then a BI tool's schema sync: SQLAlchemy's inspector lists the tables and reads every table's
columns, on each server (Lagoa's whole readable lake; PostgreSQL's `public` schema limited to the
benchmark table). Ratios are Lagoa's rows/s over PostgreSQL's (goal: at least 1).

Usage: benches/pg_fetch.py --lagoa target/bench-release/lagoa --workdir bench-data/pg-fetch \\
           [--rows 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from urllib.parse import quote

import psycopg
import sqlalchemy as sa

TABLE = "obitos_fetch"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
COLUMNS = [("municipio", "BIGINT"), ("ano", "BIGINT"), ("sexo", "TEXT"), ("idade", "BIGINT"),
           ("causa_cid", "TEXT"), ("data_obito", "DATE"), ("peso", "DOUBLE PRECISION")]


def log(msg: str) -> None:
    print(f"pg-fetch: {msg}", file=sys.stderr, flush=True)


def write_csv(path: str, rows: int) -> None:
    rng = random.Random(42)
    causes = [f"{chr(65 + i % 26)}{i % 100:02d}" for i in range(400)]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([c for c, _ in COLUMNS])
        for i in range(rows):
            ano = 2015 + i % 10
            w.writerow([2600000 + rng.randrange(185) * 5, ano, "FM"[rng.randrange(2)], rng.randrange(100),
                        causes[rng.randrange(len(causes))],
                        f"{ano}-{1 + rng.randrange(12):02d}-{1 + rng.randrange(28):02d}",
                        round(rng.uniform(0.5, 4.5), 3)])


def lagoa(bin_: str, lake: str | None, *args: str, token: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("LAGOA_LAKE", "LAGOA_TOKEN", "RUST_LOG")}
    if token:
        env["LAGOA_TOKEN"] = token
    cmd = [bin_] + (["--lake", lake] if lake else []) + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit(f"pg-fetch: {' '.join(args[:2])} failed:\n{r.stderr}")
    return r.stdout


def lagoa_lake(bin_: str, work: str, csv_path: str) -> tuple[str, str]:
    """The lake with the CSV as an `amplo` dataset and an analyst's token."""
    lake = os.path.join(work, "lake")
    shutil.rmtree(lake, ignore_errors=True)
    lagoa(bin_, None, "init", lake)
    lagoa(bin_, lake, "ingest", csv_path, "--dataset", TABLE, "--level", "amplo")
    lagoa(bin_, lake, "institution", "add", "educ", "--role", "consumer")
    lagoa(bin_, lake, "user", "add", "ana", "--institution", "educ", "--role", "analyst")
    return lake, lagoa(bin_, lake, "token", "create", "ana").strip()


def serve(bin_: str, lake: str, rows: int) -> tuple[subprocess.Popen, int]:
    env = {k: v for k, v in os.environ.items() if k not in ("LAGOA_LAKE", "RUST_LOG")}
    env["LAGOA__QUERY__PG_LISTEN"] = "127.0.0.1:0"
    env["LAGOA__QUERY__MAX_ROWS"] = str(rows + 1)
    env["RUST_LOG"] = "warn"
    server = subprocess.Popen([bin_, "--lake", lake, "serve", "--listen", "127.0.0.1:0"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, env=env, text=True)
    found: list[int] = []
    ready = threading.Event()

    def read_stderr():
        for line in server.stderr:
            if line.startswith("PostgreSQL: ") and not found:
                found.append(int(line.split()[1].rsplit(":", 1)[1]))
                ready.set()

    threading.Thread(target=read_stderr, daemon=True).start()
    if not ready.wait(60):
        server.kill()
        raise SystemExit("pg-fetch: lagoa serve did not print its PostgreSQL address within 60 s")
    return server, found[0]


def load_postgres(csv_path: str) -> None:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute(f"CREATE TABLE {TABLE} ({', '.join(f'{c} {t}' for c, t in COLUMNS)})")
        with conn.cursor().copy(f"COPY {TABLE} FROM STDIN WITH (FORMAT csv, HEADER)") as copy:
            with open(csv_path, "rb") as f:
                while block := f.read(1 << 20):
                    copy.write(block)
        conn.execute(f"ANALYZE {TABLE}")


def fetch_all(url: str, binary: bool) -> tuple[float, list]:
    """Seconds to fetch every row (connection made before the clock starts), and a digest."""
    with psycopg.connect(url) as conn:
        cur = conn.cursor(binary=binary)
        start = time.perf_counter()
        cur.execute(f"SELECT * FROM {TABLE}")
        rows = cur.fetchall()
        took = time.perf_counter() - start
    digest = [len(rows), sum(r[0] for r in rows), sum(r[3] for r in rows), round(sum(r[6] for r in rows), 3),
              sum(1 for r in rows if r[2] == "F"), min(r[5] for r in rows).isoformat()]
    return took, digest


def schema_sync(url: str, only: str | None) -> tuple[float, int]:
    """A BI tool's sync: the tables, then every table's columns (a fresh engine: nothing cached)."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    start = time.perf_counter()
    inspector = sa.inspect(engine)
    tables = [t for t in inspector.get_table_names() if only is None or t == only]
    columns = sum(len(inspector.get_columns(t)) for t in tables)
    took = time.perf_counter() - start
    engine.dispose()
    return took, columns


def report(r: dict) -> str:
    lines = [f"## PostgreSQL port: fetching {r['rows']:,} rows with psycopg {psycopg.__version__} "
             f"(best of {r['runs']})", "",
             "| format | Lagoa (governed, encrypted) | PostgreSQL | ratio (rows/s) |", "|---|---:|---:|---:|"]
    for fmt in ("text", "binary"):
        lg, pg = r["fetch"][fmt]["lagoa"], r["fetch"][fmt]["postgres"]
        lines.append(f"| {fmt} | {lg['best_s']:.2f} s ({r['rows'] / lg['best_s']:,.0f} rows/s) | "
                     f"{pg['best_s']:.2f} s ({r['rows'] / pg['best_s']:,.0f} rows/s) | "
                     f"{pg['best_s'] / lg['best_s']:.2f}× |")
    s = r["schema_sync"]
    lines += ["", f"Schema sync (SQLAlchemy inspector, tables then columns): Lagoa {s['lagoa']['best_s']:.3f} s "
              f"({s['lagoa']['columns']} columns), PostgreSQL {s['postgres']['best_s']:.3f} s "
              f"({s['postgres']['columns']} columns)."]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lagoa", required=True)
    p.add_argument("--workdir", required=True)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args(argv)
    work = os.path.abspath(a.workdir)
    os.makedirs(work, exist_ok=True)
    bin_ = os.path.abspath(a.lagoa)
    csv_path = os.path.join(work, f"obitos-fetch-{a.rows}.csv")
    if not os.path.exists(csv_path):
        log(f"writing {csv_path}")
        write_csv(csv_path, a.rows)
    log("loading PostgreSQL")
    load_postgres(csv_path)
    log("making the lake")
    lake, token = lagoa_lake(bin_, work, csv_path)
    server, port = serve(bin_, lake, a.rows)
    lagoa_url = f"postgresql://ana:{quote(token, safe='')}@127.0.0.1:{port}/lagoa"
    results: dict = {"rows": a.rows, "runs": a.runs, "fetch": {}, "schema_sync": {}}
    mismatches = []
    try:
        for fmt, binary in (("text", False), ("binary", True)):
            times: dict = {"lagoa": [], "postgres": []}
            digests: dict = {}
            for i in range(a.runs + 1):  # the first round warms both up, untimed
                for name, url in (("lagoa", lagoa_url), ("postgres", PG_URL)):
                    took, digests[name] = fetch_all(url, binary)
                    if i:
                        times[name].append(took)
                    log(f"{fmt} {name} run {i}: {took:.3f} s")
            if digests["lagoa"] != digests["postgres"]:
                mismatches.append(f"{fmt}: lagoa {digests['lagoa']} != postgres {digests['postgres']}")
            results["fetch"][fmt] = {n: {"best_s": min(t), "runs_s": t} for n, t in times.items()}
        for name, url, only in (("lagoa", lagoa_url, None), ("postgres", PG_URL, TABLE)):
            runs = [schema_sync(url, only) for _ in range(a.runs)]
            results["schema_sync"][name] = {"best_s": min(t for t, _ in runs), "columns": runs[0][1]}
    finally:
        server.terminate()
        server.wait(30)
    with open(os.path.join(work, "results.json"), "w") as f:
        json.dump(results | {"mismatches": mismatches}, f, indent=2)
    print(report(results))
    for m in mismatches:
        print(f"MISMATCH {m}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
