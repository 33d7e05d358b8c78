#!/usr/bin/env python3
"""Issue 6's benchmark: every policy indicator over a generated state, Lagoa against DuckDB.

Usage (scripts/bench-indicators does all of it):
    benches/indicators.py --lagoa PATH --workdir DIR [--municipalities 80] [--years 2015-2024] [--runs 5]

Steps
  1. `lagoa demo run` on a fresh lake: the state's deliveries generated, taken in by their sources
     (contracts, quarantine, encryption) and the indicators computed once. Timed as context.
  2. Every source table exported as plain Parquet (`lagoa query ... --format parquet`), for DuckDB.
  3. --runs alternating rounds of:
       - `lagoa indicator run --all`: all seven indicators over the encrypted lake (sessions over the
         catalog, decryption, the SQL, suppression, the check against the published results;
         the inputs do not change, so each run ends `unchanged` and writes nothing);
       - DuckDB 1.4.4 in a fresh process running the same SQL files (parameters at their defaults)
         over the plain Parquet files, collecting every result.
     Wall clock and peak RSS are per child process (os.wait4 ru_maxrss, as benches/compare.py).
  4. The answers are compared: DuckDB's numerador/denominador per municipality and year must equal
     what Lagoa published where Lagoa published them.

Outputs: a markdown report on stdout and <workdir>/report.md, JSON at <workdir>/results.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import ChildFailed, run_measured  # noqa: E402  (one measuring helper for all benches)

SCRIPT = os.path.abspath(__file__)
ROOT = os.path.dirname(os.path.dirname(SCRIPT))
SOURCES = ["sim_obitos", "sinasc_nascidos", "pni_vacinacao", "censo_matriculas", "ibge_populacao", "sinesp_ocorrencias"]
MIB = 1024 * 1024


def definitions() -> dict[str, str]:
    folder = os.path.join(ROOT, "sql", "indicators")
    out = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".sql"):
            text = open(os.path.join(folder, name), encoding="utf-8").read()
            # Parameters at their defaults, as `lagoa indicator run` uses them.
            for pname, default in re.findall(r"^-- param: (\w+) = ([\w.-]+)", text, re.M):
                text = text.replace("${" + pname + "}", default)
            out[name[:-4]] = text
    return out


def child_duckdb(parquet_dir: str, out_dir: str) -> None:
    """Runs every indicator's SQL in DuckDB over the plain Parquet files; writes each result as CSV."""
    import duckdb

    con = duckdb.connect()
    for table in SOURCES:
        path = os.path.join(parquet_dir, f"{table}.parquet").replace("'", "''")
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{path}')")
    for name, sql in definitions().items():
        rows = con.execute(sql).fetchall()
        with open(os.path.join(out_dir, f"{name}.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["municipio", "ano", "numerador", "denominador"])
            w.writerows(rows)


def lagoa(args, *rest: str) -> list[str]:
    return [args.lagoa, "--lake", os.path.join(args.workdir, "lake"), *rest]


def check_answers(args, duck_dir: str) -> list[str]:
    """DuckDB's counts must equal Lagoa's wherever Lagoa published them."""
    problems = []
    for name in definitions():
        published = run_measured(
            lagoa(args, "query", f"SELECT municipio, ano, numerador, denominador FROM ind_{name} WHERE NOT total_estado",
                  "--format", "csv"),
            f"export ind_{name}", 600).stdout
        ours = {(r["municipio"], int(r["ano"])): r for r in csv.DictReader(published.splitlines())}
        with open(os.path.join(duck_dir, f"{name}.csv")) as f:
            theirs = {(r["municipio"], int(r["ano"])): r for r in csv.DictReader(f)}
        if set(ours) != set(theirs):
            problems.append(f"{name}: cells differ ({len(ours)} in Lagoa, {len(theirs)} in DuckDB)")
            continue
        for key, r in ours.items():
            for col in ("numerador", "denominador"):
                if r[col] != "" and int(r[col]) != int(float(theirs[key][col])):
                    problems.append(f"{name} {key} {col}: Lagoa {r[col]}, DuckDB {theirs[key][col]}")
    return problems


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "_duckdb":
        child_duckdb(sys.argv[2], sys.argv[3])
        return 0
    p = argparse.ArgumentParser()
    p.add_argument("--lagoa", required=True)
    p.add_argument("--workdir", required=True)
    p.add_argument("--municipalities", type=int, default=80)
    p.add_argument("--years", default="2015-2024")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    args.lagoa = os.path.abspath(args.lagoa)
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    plain = os.path.join(args.workdir, "plain")
    duck_out = os.path.join(args.workdir, "duckdb")
    os.makedirs(plain)
    os.makedirs(duck_out)

    print(f"indicators: generating and taking in {args.municipalities} municipalities, {args.years}", file=sys.stderr)
    setup = run_measured(lagoa(args, "demo", "run", "--municipalities", str(args.municipalities),
                               "--years", args.years, "--seed", str(args.seed)), "lagoa demo run", 7200)
    rows = {}
    for table in SOURCES:
        out = os.path.join(plain, f"{table}.parquet")
        run_measured(lagoa(args, "query", f"SELECT * FROM {table}", "--format", "parquet", "--output", out),
                     f"export {table}", 3600)
        count = run_measured(lagoa(args, "query", f"SELECT count(*) AS n FROM {table}", "--format", "csv"),
                             f"count {table}", 600).stdout.splitlines()[1]
        rows[table] = int(count)
    plain_bytes = sum(os.path.getsize(os.path.join(plain, f)) for f in os.listdir(plain))
    store = os.path.join(args.workdir, "lake", "store", "tables")
    lake_bytes = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(store) for f in fs)

    lagoa_runs, duck_runs = [], []
    for i in range(args.runs + 1):  # the first round warms the page cache and is left out
        m = run_measured(lagoa(args, "indicator", "run", "--all"), "lagoa indicator run --all", 3600)
        if m.stdout.count(": unchanged") != len(definitions()):
            raise SystemExit(f"expected every indicator unchanged:\n{m.stdout}")
        d = run_measured([sys.executable, SCRIPT, "_duckdb", plain, duck_out], "duckdb", 3600)
        if i > 0:
            lagoa_runs.append(m)
            duck_runs.append(d)
    problems = check_answers(args, duck_out)

    med = lambda ms: statistics.median(x.wall_s for x in ms)
    peak = lambda ms: max(x.peak_rss for x in ms)
    result = {
        "municipalities": args.municipalities, "years": args.years, "seed": args.seed, "runs": args.runs,
        "rows": rows, "plain_parquet_bytes": plain_bytes, "lake_store_bytes": lake_bytes,
        "demo_run_s": setup.wall_s, "demo_run_peak_rss": setup.peak_rss,
        "lagoa_median_s": med(lagoa_runs), "lagoa_all_s": [x.wall_s for x in lagoa_runs],
        "lagoa_peak_rss": peak(lagoa_runs),
        "duckdb_median_s": med(duck_runs), "duckdb_all_s": [x.wall_s for x in duck_runs],
        "duckdb_peak_rss": peak(duck_runs),
        "ratio": med(lagoa_runs) / med(duck_runs),
        "answers": "identical" if not problems else problems,
    }
    with open(os.path.join(args.workdir, "results.json"), "w") as f:
        json.dump(result, f, indent=2)
    total_rows = sum(rows.values())
    report = f"""## Indicators over a generated state (issue 6)

{args.municipalities} municipalities, {args.years} (seed {args.seed}): {total_rows:,} source rows
({', '.join(f'{t} {n:,}' for t, n in rows.items())}); {lake_bytes / MIB:.0f} MiB of encrypted tables in the lake (the raw zone apart),
{plain_bytes / MIB:.0f} MiB as plain Parquet for DuckDB. Taking the deliveries in and computing once
(`lagoa demo run`): {setup.wall_s:.0f} s, peak RSS {setup.peak_rss / MIB:.0f} MiB.

All seven indicators, {args.runs} rounds (after one warm-up), each a fresh process:

| | median s | runs (s) | peak RSS MiB |
|---|---|---|---|
| `lagoa indicator run --all` (encrypted lake, suppression, run records) | {med(lagoa_runs):.2f} | {', '.join(f'{x.wall_s:.2f}' for x in lagoa_runs)} | {peak(lagoa_runs) / MIB:.0f} |
| DuckDB 1.4.4, same SQL, plain Parquet | {med(duck_runs):.2f} | {', '.join(f'{x.wall_s:.2f}' for x in duck_runs)} | {peak(duck_runs) / MIB:.0f} |
| **ratio Lagoa / DuckDB** | **{result['ratio']:.2f}** | | |

Answers: {'identical counts wherever Lagoa published them' if not problems else '; '.join(problems[:5])}.
"""
    print(report)
    with open(os.path.join(args.workdir, "report.md"), "w") as f:
        f.write(report)
    return 0 if not problems else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ChildFailed as e:
        print(e, file=sys.stderr)
        sys.exit(1)
