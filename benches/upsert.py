#!/usr/bin/env python3
"""Issue 15's measurement: an upsert of 1 % changed rows into a 10 M-row table.

Side by side, on the same rows, in one run:

- the upsert (`lagoa ingest --mode upsert`) against a plain append of the
  same rows into a copy of the same lake: wall time, and bytes written
  (new data files, plus the deletion vectors' text in the catalog);
- what a copy-on-write design would have rewritten (every file holding a
  changed key), from the catalog;
- query time on the current state with the deletion vectors, after
  `lagoa compact`, and DuckDB over the same current rows as one plain
  Parquet file (DuckDB in-process, Lagoa's whole `lagoa query` process);
- every answer checked equal between Lagoa and DuckDB.

Usage: benches/upsert.py --lagoa target/bench-release/lagoa --workdir bench-data/upsert [--rows N]
"""

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time

import duckdb

CONTRACT = """[dataset]
name = "atendimentos"
level = "especial"
primary_key = ["id"]

[[columns]]
name = "id"
type = "integer"
nullable = false

[[columns]]
name = "municipio"
type = "string"

[[columns]]
name = "ano"
type = "integer"

[[columns]]
name = "sexo"
type = "string"

[[columns]]
name = "valor"
type = "decimal(18,2)"

[[columns]]
name = "cpf"
type = "string"
personal = "pessoal"
"""

QUERIES = [
    ("count", "SELECT count(*) AS n, sum(valor) AS total FROM atendimentos"),
    (
        "by_municipio",
        "SELECT municipio, count(*) AS n, sum(valor) AS total FROM atendimentos "
        "GROUP BY municipio ORDER BY total DESC, municipio LIMIT 10",
    ),
    ("point", "SELECT id, municipio, valor FROM atendimentos WHERE id = 4242421"),
]


def log(msg):
    print(f"upsert-bench: {msg}", file=sys.stderr, flush=True)


def timed(cmd, **kw):
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, **kw)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")
    return elapsed, out.stdout


def dir_bytes(path):
    return sum(
        os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files
    )


def generate(work, rows):
    """base.csv (rows), change.csv (1 % of the ids with a new valor), and
    current.parquet (the table after the change, plain) with DuckDB."""
    base, change, current = (os.path.join(work, n) for n in ("base.csv", "change.csv", "current.parquet"))
    stamp = os.path.join(work, "data.stamp")
    if os.path.exists(stamp) and open(stamp).read() == str(rows):
        return base, change, current
    log(f"generating {rows} rows")
    con = duckdb.connect()
    con.execute(
        f"""CREATE TABLE base AS SELECT
              i AS id,
              lpad(CAST(110000 + (hash(i) % 5570) AS VARCHAR), 6, '0') AS municipio,
              2015 + CAST(hash(i * 7) % 10 AS INTEGER) AS ano,
              CAST(1 + hash(i * 13) % 2 AS VARCHAR) AS sexo,
              CAST((hash(i * 31) % 1000000) / 100.0 AS DECIMAL(18,2)) AS valor,
              lpad(CAST(hash(i * 37) % 100000000000 AS VARCHAR), 11, '0') AS cpf
            FROM range(1, {rows} + 1) t(i)"""
    )
    con.execute(
        """CREATE TABLE change AS SELECT id, municipio, ano, sexo,
              CAST(valor + 1000 AS DECIMAL(18,2)) AS valor, cpf
            FROM base WHERE hash(id * 101) % 100 = 0"""
    )
    con.execute(f"COPY base TO '{base}' (HEADER true)")
    con.execute(f"COPY change TO '{change}' (HEADER true)")
    con.execute(
        f"""COPY (SELECT * FROM base WHERE id NOT IN (SELECT id FROM change)
                  UNION ALL SELECT * FROM change) TO '{current}' (FORMAT parquet)"""
    )
    open(stamp, "w").write(str(rows))
    return base, change, current


def lagoa(binary, lake, *args):
    return [binary, "--lake", lake, *args]


def catalog(lake):
    return sqlite3.connect(os.path.join(lake, "catalog.db"))


def files_of(lake):
    with catalog(lake) as db:
        return db.execute(
            "SELECT f.file_id, f.size_bytes, f.end_snapshot FROM lagoa_data_file f"
        ).fetchall()


def best(samples):
    return min(samples)


def query_lagoa(binary, lake, sql, runs):
    times, answer = [], None
    for _ in range(runs):
        t, out = timed(lagoa(binary, lake, "query", sql, "--format", "csv"))
        times.append(t)
        answer = out
    return best(times), answer


def query_duckdb(parquet, sql, runs):
    con = duckdb.connect()
    con.execute(f"CREATE VIEW atendimentos AS SELECT * FROM read_parquet('{parquet}')")
    con.execute(sql).fetchall()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        rows = con.execute(sql).fetchall()
        times.append(time.perf_counter() - start)
    header = [d[0] for d in con.description]
    return best(times), header, rows


def same_answer(csv_text, header, rows):
    lines = [l for l in csv_text.strip().splitlines()]
    if lines[0].split(",") != header:
        return False
    got = [l.split(",") for l in lines[1:]]
    want = [[("" if v is None else str(v)) for v in r] for r in rows]
    return got == want


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--lagoa", required=True)
    p.add_argument("--workdir", required=True)
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()
    work = os.path.abspath(a.workdir)
    os.makedirs(work, exist_ok=True)
    base, change, current = generate(work, a.rows)
    changed = sum(1 for _ in open(change)) - 1
    contract = os.path.join(work, "atendimentos.toml")
    open(contract, "w").write(CONTRACT)

    lake = os.path.join(work, "lake")
    append_lake = os.path.join(work, "lake-append")
    for d in (lake, append_lake):
        shutil.rmtree(d, ignore_errors=True)
    timed(lagoa(a.lagoa, lake, "init"))
    log("ingesting the base table")
    t_base, _ = timed(
        lagoa(a.lagoa, lake, "ingest", base, "--dataset", "atendimentos", "--contract", contract)
    )
    shutil.copytree(lake, append_lake)
    base_files = files_of(lake)
    base_bytes = sum(f[1] for f in base_files)

    log("upsert of the changed rows")
    t_upsert, out_upsert = timed(
        lagoa(a.lagoa, lake, "ingest", change, "--dataset", "atendimentos", "--mode", "upsert")
    )
    after = files_of(lake)
    new_bytes = sum(f[1] for f in after if f[0] not in {b[0] for b in base_files})
    with catalog(lake) as db:
        dv_bytes = db.execute("SELECT COALESCE(sum(length(positions)), 0) FROM lagoa_file_deletes").fetchone()[0]
        with_deletes = {r[0] for r in db.execute("SELECT DISTINCT file_id FROM lagoa_file_deletes")}
    touched_files = [f for f in base_files if f[0] in with_deletes]
    touched = (sum(f[1] for f in touched_files), len(touched_files))

    log("plain append of the same rows, into a copy of the lake")
    t_append, _ = timed(
        lagoa(a.lagoa, append_lake, "ingest", change, "--dataset", "atendimentos")
    )
    append_bytes = sum(f[1] for f in files_of(append_lake) if f[0] not in {b[0] for b in base_files})

    results = {"rows": a.rows, "changed": changed}
    log("queries on the current state, with deletion vectors")
    before = {}
    for qid, sql in QUERIES:
        before[qid] = query_lagoa(a.lagoa, lake, sql, a.runs)
    log("compaction")
    t_compact, out_compact = timed(lagoa(a.lagoa, lake, "compact"))
    compacted = [f for f in files_of(lake) if f[2] is None]
    compact_bytes = sum(f[1] for f in compacted)
    after_q = {qid: query_lagoa(a.lagoa, lake, sql, a.runs) for qid, sql in QUERIES}
    duck = {qid: query_duckdb(current, sql, a.runs) for qid, sql in QUERIES}

    mib = lambda b: b / 2**20
    print(f"## Upsert of {changed:,} changed rows ({changed / a.rows:.1%}) into {a.rows:,} rows\n")
    print("| | time | bytes written |")
    print("|---|---:|---:|")
    print(f"| base load (append, {a.rows:,} rows) | {t_base:.2f} s | {mib(base_bytes):.1f} MiB |")
    print(f"| **upsert** (new files + deletion vectors) | {t_upsert:.2f} s | {mib(new_bytes):.2f} MiB + {dv_bytes / 1024:.0f} KiB |")
    print(f"| plain append of the same rows | {t_append:.2f} s | {mib(append_bytes):.2f} MiB |")
    print(f"| copy-on-write would rewrite ({touched[1]} of {len(base_files)} files hold a changed key) | | {mib(touched[0] + new_bytes):.1f} MiB |")
    print(f"| `lagoa compact` afterwards | {t_compact:.2f} s | {mib(compact_bytes):.1f} MiB |")
    print(f"\nupsert / append time: **{t_upsert / t_append:.2f}×**; "
          f"bytes written upsert / append: **{(new_bytes + dv_bytes) / append_bytes:.2f}×**, "
          f"upsert / copy-on-write: **{(new_bytes + dv_bytes) / (touched[0] + new_bytes):.3f}×**\n")
    print("| query | Lagoa with deletion vectors | Lagoa after compact | DuckDB, plain Parquet of the same rows | before / after | after / DuckDB | same answer |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for qid, _ in QUERIES:
        (tb, ab), (ta, aa), (td, header, rows) = before[qid], after_q[qid], duck[qid]
        same = same_answer(ab, header, rows) and same_answer(aa, header, rows)
        print(f"| {qid} | {tb:.3f} s | {ta:.3f} s | {td:.3f} s | {tb / ta:.2f}× | {ta / td:.1f}× | {'yes' if same else 'NO'} |")
        results[qid] = {"with_deletes_s": tb, "compacted_s": ta, "duckdb_s": td, "same": same}
    results.update(
        base_s=t_base, upsert_s=t_upsert, append_s=t_append, compact_s=t_compact,
        base_bytes=base_bytes, upsert_bytes=new_bytes, deletion_vector_bytes=dv_bytes,
        append_bytes=append_bytes, copy_on_write_bytes=touched[0] + new_bytes,
        compacted_bytes=compact_bytes, upsert_output=out_upsert.strip(), compact_output=out_compact.strip(),
    )
    json.dump(results, open(os.path.join(work, "results.json"), "w"), indent=2)
    print(f"\nLagoa's times are its whole `lagoa query` process (start, catalog, keys); DuckDB's are in-process. Best of {a.runs}.")


if __name__ == "__main__":
    main()
