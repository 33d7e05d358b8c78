#!/usr/bin/env python3
"""Connector benchmarks: Lagoa against the usual peer path, in one run, with ratios.

Usage:
    benches/connectors.py --lagoa PATH --gen PATH --workdir DIR
                          [--pg-rows 10000000] [--csv-bytes 2147483648] [--runs 2]
                          [--skip-pg] [--skip-csv] [--keep-db] [--pg-host 127.0.0.1] ...

Run it with the project virtualenv: .venv/bin/python benches/connectors.py ...
(scripts/bench-connectors builds the binaries and does all of it).

A. PostgreSQL extraction. A fresh database `lagoa_bench` holds a table `atendimentos` of
   --pg-rows e-SUS-like rows (bigint id, text codes, accented names, smallint, dates, a
   timestamp, numeric(10,2)), made server-side with INSERT ... SELECT FROM generate_series
   and frozen with VACUUM (FREEZE, ANALYZE). Measured, each as its own child process:
     1. lagoa: `lagoa --lake LAKE source run pg.toml` into a fresh encrypted lake with a
        contract (the run also writes the raw zone's encrypted Arrow IPC copy);
     2. peer: `psql -c "\\copy (SELECT * FROM atendimentos) TO 'x.csv' CSV HEADER"`, then
        DuckDB (a child Python process) `COPY (SELECT * FROM read_csv('x.csv', columns={...}))
        TO 'x.parquet' (FORMAT parquet)`: both steps timed, and their sum.
   The database is dropped at the end (unless --keep-db).
B. Latin-1 CSV. `lagoa-bench-gen --latin1-br --target-bytes --csv-bytes` writes a SIM-like
   `;` file with DD/MM/YYYY dates, decimal commas and accented names. Measured:
     1. lagoa: `lagoa --lake LAKE ingest sim.csv --dataset sim --contract sim.toml
        --encoding latin1 --delimiter ';'` into a fresh encrypted lake;
     2. DuckDB: `COPY (SELECT * FROM read_csv(..., delim=';', decimal_separator=',',
        encoding='latin-1', dateformat='%d/%m/%Y', header=true, columns={...})) TO ... (FORMAT parquet)`.

Every step runs --runs times (default 2), lagoa and peer alternating; the table gives the
median wall time and the highest peak RSS of the runs (all runs are in the JSON). After the
timed runs, one untimed check per benchmark compares a few aggregates (count, sums, min/max
dates, accented names) of lagoa's dataset with DuckDB's Parquet; a difference fails the run.

Measurement: the child's wall clock (perf_counter around spawn..exit), its peak RSS and
its own CPU time (user + system), from wait4(2) as reported by GNU time (/usr/bin/time -f
'%M %U %S'), which spawns the command from a ~1 MiB process: measured directly from this
Python process, ru_maxrss would include this process's own peak (see run_measured). The
PostgreSQL server's work is in neither lagoa's nor psql's figures (it runs in the server's
backend process).

Outputs: markdown on stdout and <workdir>/report.md, JSON at <workdir>/results.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import ChildFailed, _sql_str, count_csv_rows, dir_bytes, parquet_bytes  # noqa: E402
from compare import compare_results, read_result_csv  # noqa: E402

SCRIPT = os.path.abspath(__file__)
MIB = 1024 * 1024
GIB = 1024 * MIB
SEED = 42

PG_DATABASE = "lagoa_bench"
PG_TABLE = "atendimentos"
PG_DATASET = "atendimentos"
CSV_DATASET = "sim"

# ---------------------------------------------------------------- A. the PostgreSQL table

FIRST = ["Maria", "José", "Ana", "João", "Antônio", "Francisca", "Carlos", "Luíza", "Paulo", "Conceição",
         "Severino", "Raimunda"]
LAST = ["da Silva", "dos Santos", "de Oliveira", "de Souza", "Lima", "Pereira", "Ferreira", "Araújo",
        "Cavalcanti", "Gonçalves"]

PG_COLUMNS = [
    # name, PostgreSQL type, contract type, DuckDB type, personal tag
    ("id", "bigint NOT NULL", "integer", "BIGINT", None),
    ("co_municipio", "text NOT NULL", "string", "VARCHAR", None),
    ("nu_cns", "text", "string", "VARCHAR", "pessoal"),
    ("no_cidadao", "text NOT NULL", "string", "VARCHAR", "pessoal"),
    ("co_sexo", "smallint NOT NULL", "int32", "SMALLINT", None),
    ("dt_nascimento", "date NOT NULL", "date", "DATE", None),
    ("dt_atendimento", "date NOT NULL", "date", "DATE", None),
    ("dt_registro", "timestamp NOT NULL", "timestamp", "TIMESTAMP", None),
    ("vl_procedimento", "numeric(10,2) NOT NULL", "decimal(10,2)", "DECIMAL(10,2)", None),
    ("co_cid", "text NOT NULL", "string", "VARCHAR", "sensivel"),
]


def pg_table_sql(rows: int) -> str:
    def arr(xs):
        return "ARRAY[" + ", ".join(_sql_str(x) for x in xs) + "]"

    cols = ",\n    ".join(f"{name} {pgtype}" for name, pgtype, *_ in PG_COLUMNS)
    return f"""
SET synchronous_commit = off;
SELECT setseed(0.42);
CREATE TABLE {PG_TABLE} (
    {cols}
);
INSERT INTO {PG_TABLE}
SELECT
    i,
    (260005 + 50 * floor(power(random(), 2) * 185))::int::text,
    CASE WHEN random() < 0.1 THEN NULL
         ELSE (700000000000000 + floor(random() * 99999999999999))::bigint::text END,
    ({arr(FIRST)})[1 + floor(random() * {len(FIRST)})::int] || ' ' || ({arr(LAST)})[1 + floor(random() * {len(LAST)})::int],
    (1 + floor(random() * 2))::smallint,
    date '1930-01-01' + floor(random() * 32000)::int,
    date '2019-01-01' + floor(random() * 2190)::int,
    timestamp '2019-01-01' + floor(random() * 2190 * 86400)::int * interval '1 second',
    round((random() * 5000)::numeric, 2),
    chr(65 + floor(random() * 26)::int) || lpad(floor(random() * 1000)::int::text, 3, '0')
FROM generate_series(1, {rows}) AS i;
VACUUM (FREEZE, ANALYZE) {PG_TABLE};
COMMENT ON TABLE {PG_TABLE} IS {_sql_str(pg_stamp(rows))};
"""


def pg_stamp(rows: int) -> str:
    return f"lagoa bench rows={rows} seed={SEED}"


def pg_contract() -> str:
    lines = [
        "[dataset]",
        f'name = "{PG_DATASET}"',
        'provider = "Secretaria Municipal de Saúde (e-SUS APS, benchmark)"',
        'level = "especial"',
        'justification = "Dados de saúde e identificadores pessoais (benchmark sintético)"',
        'primary_key = ["id"]',
        'reference_column = "dt_atendimento"',
        "",
    ]
    for name, pgtype, ctype, _, personal in PG_COLUMNS:
        lines += ["[[columns]]", f'name = "{name}"', f'type = "{ctype}"',
                  f"nullable = {'false' if 'NOT NULL' in pgtype else 'true'}"]
        if personal:
            lines.append(f'personal = "{personal}"')
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------- B. the Latin-1 CSV

CSV_COLUMNS = [
    # name as delivered, contract type, DuckDB type, personal tag
    ("NUMERODO", "string", "VARCHAR", None),
    ("CODMUNRES", "string", "VARCHAR", None),
    ("DTOBITO", "date", "DATE", None),
    ("DTNASC", "date", "DATE", None),
    ("SEXO", "string", "VARCHAR", None),
    ("RACACOR", "string", "VARCHAR", "sensivel"),
    ("IDADE", "string", "VARCHAR", None),
    ("CAUSABAS", "string", "VARCHAR", "sensivel"),
    ("NOME", "string", "VARCHAR", "pessoal"),
    ("NOMEMAE", "string", "VARCHAR", "pessoal"),
    ("BAIRRES", "string", "VARCHAR", None),
    ("VALOR", "decimal(12,2)", "DECIMAL(12,2)", None),
    ("PESO", "decimal(6,3)", "DECIMAL(6,3)", None),
]
CSV_NOT_NULL = {"NUMERODO", "CODMUNRES", "DTOBITO", "DTNASC", "SEXO", "IDADE", "CAUSABAS", "NOME", "BAIRRES", "VALOR"}


def csv_contract() -> str:
    lines = [
        "[dataset]",
        f'name = "{CSV_DATASET}"',
        'provider = "Secretaria Municipal de Saúde (SIM, benchmark)"',
        'level = "especial"',
        'justification = "Dados de saúde e identificadores pessoais (benchmark sintético)"',
        'reference_column = "dtobito"',
        "",
        "[parse]",
        'decimal = ","',
        'date_formats = ["%d/%m/%Y"]',
        'null_values = [""]',
        "",
    ]
    for name, ctype, _, personal in CSV_COLUMNS:
        lines += ["[[columns]]", f'name = "{name.lower()}"', f'source = "{name}"', f'type = "{ctype}"',
                  f"nullable = {'false' if name in CSV_NOT_NULL else 'true'}"]
        if personal:
            lines.append(f'personal = "{personal}"')
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------- the checks (untimed)

# Same SQL text for lagoa (DataFusion) and DuckDB; numbers compared to a relative 1e-6.
PG_CHECK = {
    "sql": f"SELECT count(*) AS n, sum(vl_procedimento) AS total, count(nu_cns) AS cns, "
    "CAST(min(dt_nascimento) AS VARCHAR) AS nasc_min, CAST(max(dt_atendimento) AS VARCHAR) AS atend_max, "
    "sum(CAST(date_part('hour', dt_registro) AS BIGINT)) AS horas, sum(CAST(co_sexo AS BIGINT)) AS sexo, "
    "sum(CASE WHEN no_cidadao LIKE '%ç%' OR no_cidadao LIKE '%ô%' THEN 1 ELSE 0 END) AS acentos, "
    f"count(DISTINCT co_municipio) AS municipios FROM {PG_DATASET}",
    "header": ["n", "total", "cns", "nasc_min", "atend_max", "horas", "sexo", "acentos", "municipios"],
}
CSV_CHECK = {
    "sql": "SELECT count(*) AS n, sum(valor) AS total, count(peso) AS pesos, sum(peso) AS peso, "
    "count(racacor) AS racas, CAST(min(dtnasc) AS VARCHAR) AS nasc_min, CAST(max(dtobito) AS VARCHAR) AS obito_max, "
    "sum(CASE WHEN nome LIKE '%ç%' OR bairres LIKE '%Á%' OR bairres LIKE '%ã%' THEN 1 ELSE 0 END) AS acentos, "
    f"count(DISTINCT codmunres) AS municipios FROM {CSV_DATASET}",
    "header": ["n", "total", "pesos", "peso", "racas", "nasc_min", "obito_max", "acentos", "municipios"],
}


# ============================================================================ measurement


class Measured:
    def __init__(self, wall_s: float, peak_rss: int, cpu_s: float, stdout: str, stderr: str):
        self.wall_s, self.peak_rss, self.cpu_s, self.stdout, self.stderr = wall_s, peak_rss, cpu_s, stdout, stderr

    def json(self):
        return json.loads(self.stdout.strip().splitlines()[-1])


GNU_TIME = "/usr/bin/time"


def run_measured(cmd: list[str], label: str, timeout: float, env: dict | None = None) -> Measured:
    """Run one child; its wall time, peak RSS and CPU time.

    compare.py's run_measured reads ru_maxrss of the child itself, but a child spawned by
    this (large) Python process inherits the parent's RSS high-water mark: CPython spawns
    with vfork, and exec keeps the old address space's peak in ru_maxrss. So a small
    process would show the parent's peak (tested: 516 MiB for /bin/true after the parent
    touched 500 MiB). GNU time, a ~1 MiB process, forks the command and reports its
    wait4 figures (%M, %U, %S), so the floor is ~1 MiB. Without GNU time the direct
    figure is used, and meta.rss_method says it is floored by this script's peak.
    """
    wrapped = os.access(GNU_TIME, os.X_OK)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        full = [GNU_TIME, "-f", "%M %U %S", "-o", tf.name, *cmd] if wrapped else cmd
        t0 = time.perf_counter()
        try:
            p = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, start_new_session=True)
        except OSError as e:
            raise ChildFailed(label, cmd, -1, "", str(e), "(could not start)")
        timed_out = threading.Event()

        def kill():
            timed_out.set()
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            while True:
                try:
                    _, status, ru = os.wait4(p.pid, 0)
                    break
                except InterruptedError:
                    continue
        except BaseException:
            kill()
            p.wait()
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
        code = os.waitstatus_to_exitcode(status)
        p.returncode = code  # reaped by wait4; keep Popen from waiting again
        out.seek(0)
        err.seek(0)
        so = out.read().decode("utf-8", "replace")
        se = err.read().decode("utf-8", "replace")
        timing = tf.read().strip().splitlines() if wrapped else []
    if timed_out.is_set():
        raise ChildFailed(label, cmd, code, so, se, f"(killed after the {timeout:g} s timeout)")
    if wrapped and timing and timing[0].startswith("Command terminated by signal"):
        raise ChildFailed(label, cmd, code, so, se, f"({timing[0]})")
    if code != 0:
        raise ChildFailed(label, cmd, code, so, se, f"(signal {-code})" if code < 0 else "")
    if not wrapped:
        return Measured(wall, ru.ru_maxrss * 1024, ru.ru_utime + ru.ru_stime, so, se)
    try:
        kib, user, system = timing[-1].split()
        return Measured(wall, int(kib) * 1024, float(user) + float(system), so, se)
    except (IndexError, ValueError):
        raise ChildFailed(label, cmd, code, so, se, f"(unreadable GNU time output {timing!r})")


def child_cmd(name: str, **params) -> list[str]:
    return [sys.executable, SCRIPT, "_child", name, json.dumps(params)]


def log(msg: str) -> None:
    print(f"[connectors] {msg}", file=sys.stderr, flush=True)


# ============================================================================ children (DuckDB)


def _duckdb_columns(columns: dict) -> str:
    return "{" + ", ".join(f"{_sql_str(k)}: {_sql_str(v)}" for k, v in columns.items()) + "}"


def child_duckdb_csv_to_parquet(p: dict) -> dict:
    import duckdb

    con = duckdb.connect()
    t0 = time.perf_counter()
    rows = con.execute(f"COPY (SELECT * FROM read_csv({_sql_str(p['csv'])}, {p['options']}, "
                       f"columns = {_duckdb_columns(p['columns'])})) TO {_sql_str(p['out'])} (FORMAT parquet)").fetchone()[0]
    return {"rows": rows, "inner_s": time.perf_counter() - t0}


def child_duckdb_check(p: dict) -> dict:
    import duckdb

    con = duckdb.connect()
    con.execute(f"CREATE VIEW {p['table']} AS SELECT * FROM read_parquet({_sql_str(p['parquet'])})")
    con.execute(f"COPY ({p['sql']}) TO {_sql_str(p['out'])} (FORMAT csv, HEADER true)")
    return {}


CHILDREN = {"duckdb_csv_to_parquet": child_duckdb_csv_to_parquet, "duckdb_check": child_duckdb_check}


def child_main(argv: list[str]) -> int:
    name, params = argv[0], json.loads(argv[1])
    sys.stdout.write(json.dumps(CHILDREN[name](params)) + "\n")
    return 0


# ============================================================================ the benchmark


def summarize(runs: list[Measured], rows: int, input_bytes: int | None = None) -> dict:
    wall = statistics.median(m.wall_s for m in runs)
    e = {
        "seconds": wall,
        "runs_s": [m.wall_s for m in runs],
        "rows": rows,
        "rows_per_s": rows / wall,
        "peak_rss_bytes": max(m.peak_rss for m in runs),
        "peak_rss_runs_bytes": [m.peak_rss for m in runs],
        "cpu_s": statistics.median(m.cpu_s for m in runs),
        "cpu_runs_s": [m.cpu_s for m in runs],
    }
    if input_bytes is not None:
        e["input_bytes"] = input_bytes
        e["mb_per_s"] = input_bytes / 1e6 / wall
    return e


class Bench:
    def __init__(self, args):
        self.a = args
        self.wd = os.path.abspath(args.workdir)
        self.lagoa = os.path.abspath(args.lagoa)
        self.gen = os.path.abspath(args.gen) if args.gen else None
        self.results: dict = {"started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        self.problems: list[str] = []
        env = dict(os.environ)
        for k in ("LAGOA_LAKE", "RUST_LOG", "RUST_BACKTRACE", "PGPASSWORD", "PGDATABASE"):
            env.pop(k, None)
        env["NO_COLOR"] = "1"
        env["PGCLIENTENCODING"] = "UTF8"
        self.env = env

    # ------------------------------------------------------------------ helpers
    def run(self, cmd, label, timeout=None) -> Measured:
        shown = shlex.join(cmd)
        log(f"{label}: {shown if len(shown) < 300 else cmd[0] + ' ...'}")
        m = run_measured(cmd, label, timeout or self.a.timeout, self.env)
        log(f"{label}: {m.wall_s:.2f} s, peak RSS {m.peak_rss / MIB:.0f} MiB, CPU {m.cpu_s:.2f} s")
        return m

    def path(self, name: str) -> str:
        return os.path.join(self.wd, name)

    def fresh(self, name: str) -> str:
        path = self.path(name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
        return path

    def write(self, name: str, text: str) -> str:
        path = self.path(name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def save(self, error: str | None = None) -> None:
        if error:
            self.results["error"] = error
        self.results["finished_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        path = self.path("results.json")
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(self.results, f, indent=2)
            f.write("\n")
        os.replace(path + ".tmp", path)

    def psql(self, database: str, *args: str) -> list[str]:
        return ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.a.pg_host, "-p", str(self.a.pg_port),
                "-U", self.a.pg_user, "-d", database, *args]

    def psql_value(self, database: str, sql: str) -> str:
        r = subprocess.run(self.psql(database, "-At", "-c", sql), capture_output=True, text=True, env=self.env, timeout=600)
        if r.returncode != 0:
            raise ChildFailed(f"psql {sql[:40]}", self.psql(database, "-c", sql), r.returncode, r.stdout, r.stderr)
        return r.stdout.strip()

    def lagoa_init(self, name: str, label: str) -> str:
        lake = self.fresh(name)
        self.run([self.lagoa, "init", lake], f"{label} init")
        return lake

    def lagoa_committed(self, lake: str, dataset: str, expected_rows: int, label: str) -> dict:
        """The last run's record; a run that did not commit every row is a problem."""
        out = subprocess.run([self.lagoa, "--lake", lake, "runs", "--dataset", dataset, "--json"],
                             capture_output=True, text=True, env=self.env, timeout=600)
        if out.returncode != 0:
            raise ChildFailed(f"{label} runs", [self.lagoa, "runs"], out.returncode, out.stdout, out.stderr)
        records = [json.loads(x) for x in out.stdout.splitlines() if x.strip()]
        run = max(records, key=lambda r: r["started_at"]) if records else {}
        if run.get("status") != "committed" or run.get("rows_written") != expected_rows or run.get("rows_rejected"):
            self.problems.append(f"{label}: status {run.get('status')}, {run.get('rows_written')} rows written, "
                                 f"{run.get('rows_rejected')} rejected, expected {expected_rows} committed")
        return {k: run.get(k) for k in ("run_id", "status", "rows_read", "rows_written", "rows_rejected",
                                         "bytes_read", "bytes_written")}

    def lake_sizes(self, lake: str) -> dict:
        return {"store_parquet_bytes": parquet_bytes(os.path.join(lake, "store", "tables")),
                "raw_bytes": dir_bytes(os.path.join(lake, "store", "raw")), "lake_bytes": dir_bytes(lake)}

    def check(self, key: str, lake: str, parquet: str, table: str, q: dict) -> None:
        """Untimed: the same aggregates from lagoa's dataset and from DuckDB's Parquet."""
        lagoa_out, duck_out = self.fresh(f"{key}.check.lagoa.csv"), self.fresh(f"{key}.check.duckdb.csv")
        self.run([self.lagoa, "--lake", lake, "query", q["sql"], "--format", "csv", "--output", lagoa_out], f"{key} check lagoa")
        self.run(child_cmd("duckdb_check", parquet=parquet, table=table, sql=q["sql"], out=duck_out), f"{key} check duckdb")
        ref, got = read_result_csv(duck_out, q["header"]), read_result_csv(lagoa_out, q["header"])
        diff = compare_results(ref, got)
        self.results[key]["check"] = {"sql": q["sql"], "duckdb": ref, "lagoa": got,
                                      "status": "match" if diff is None else f"MISMATCH: {diff}"}
        if diff is not None:
            self.problems.append(f"{key}: lagoa's aggregates differ from DuckDB's: {diff} (see {lagoa_out}, {duck_out})")

    # ------------------------------------------------------------------ meta
    def meta(self) -> None:
        import duckdb
        import psutil

        v = subprocess.run([self.lagoa, "--version"], capture_output=True, text=True, timeout=60)
        pg = subprocess.run(["psql", "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
        self.results["meta"] = {
            "host": platform.node(),
            "cpus": psutil.cpu_count(logical=True),
            "memory_bytes": psutil.virtual_memory().total,
            "platform": platform.platform(),
            "python": platform.python_version(),
            "lagoa": v.stdout.strip() if v.returncode == 0 else f"(--version failed: exit {v.returncode})",
            "lagoa_binary": self.lagoa,
            "duckdb": duckdb.__version__,
            "psql": pg,
            "runs": self.a.runs,
            "rss_method": ("GNU time %M (the child's ru_maxrss from wait4, spawned from a ~1 MiB process); "
                           "CPU = %U + %S") if os.access(GNU_TIME, os.X_OK) else
                          "ru_maxrss from wait4 directly (floored by this script's own peak RSS)",
        }

    # ------------------------------------------------------------------ A. PostgreSQL
    def pg_prepare(self) -> None:
        rows = self.a.pg_rows
        exists = self.psql_value("postgres", f"SELECT count(*) FROM pg_database WHERE datname = '{PG_DATABASE}'") == "1"
        if exists and self.a.keep_db:
            stamp = self.psql_value(PG_DATABASE, f"SELECT obj_description('{PG_TABLE}'::regclass, 'pg_class')")
            if stamp == pg_stamp(rows):
                log(f"reusing database {PG_DATABASE} ({stamp})")
                return
        if exists:
            self.psql_value("postgres", f"DROP DATABASE {PG_DATABASE} WITH (FORCE)")
        self.psql_value("postgres", f"CREATE DATABASE {PG_DATABASE}")
        sql = self.write("pg-table.sql", pg_table_sql(rows))
        m = self.run(self.psql(PG_DATABASE, "-f", sql), f"creating table {PG_TABLE} ({rows:,} rows)")
        self.results.setdefault("postgres", {})["table_creation_s"] = m.wall_s

    def step_postgres(self) -> None:
        res = self.results.setdefault("postgres", {})
        self.pg_prepare()
        rows = int(self.psql_value(PG_DATABASE, f"SELECT count(*) FROM {PG_TABLE}"))
        res["rows"] = rows
        res["table_bytes"] = int(self.psql_value(PG_DATABASE, f"SELECT pg_total_relation_size('{PG_TABLE}')"))
        res["server"] = self.psql_value(PG_DATABASE, "SELECT version()")
        res["columns"] = [f"{n} {t}" for n, t, *_ in PG_COLUMNS]
        contract = self.write("pg-contract.toml", pg_contract())
        source = self.write("pg-source.toml", "\n".join([
            'name = "bench_pg"',
            f'dataset = "{PG_DATASET}"',
            f'contract = "{contract}"',
            "",
            "[source]",
            'type = "postgres"',
            f'url = "postgres://{self.a.pg_user}@{self.a.pg_host}:{self.a.pg_port}/{PG_DATABASE}"',
            f'table = "public.{PG_TABLE}"',
            "",
        ]))
        csv_path = self.path("pg-peer.csv")
        parquet = self.path("pg-peer.parquet")
        copy = f"\\copy (SELECT * FROM {PG_TABLE}) TO {_sql_str(csv_path)} CSV HEADER"
        duck_columns = {n: d for n, _, _, d, _ in PG_COLUMNS}
        lagoa_runs, copy_runs, duck_runs, sums, details = [], [], [], [], []
        for i in range(self.a.runs):
            lake = self.lagoa_init("lake-pg", f"A lagoa run {i + 1}")
            m = self.run([self.lagoa, "--lake", lake, "source", "run", source], f"A lagoa source run {i + 1}")
            lagoa_runs.append(m)
            details.append(self.lagoa_committed(lake, PG_DATASET, rows, f"A lagoa run {i + 1}") | self.lake_sizes(lake))
            self.save()

            self.fresh("pg-peer.csv")
            mc = self.run(self.psql(PG_DATABASE, "-c", copy), f"A peer psql \\copy {i + 1}")
            self.fresh("pg-peer.parquet")
            md = self.run(child_cmd("duckdb_csv_to_parquet", csv=csv_path, out=parquet, columns=duck_columns,
                                    options="header = true, delim = ','"), f"A peer duckdb csv->parquet {i + 1}")
            if md.json()["rows"] != rows:
                self.problems.append(f"A DuckDB wrote {md.json()['rows']} rows, the table has {rows}")
            copy_runs.append(mc)
            duck_runs.append(md)
            sums.append(mc.wall_s + md.wall_s)
        res["csv_bytes"] = os.path.getsize(csv_path)
        res["parquet_bytes"] = os.path.getsize(parquet)
        res["lagoa"] = summarize(lagoa_runs, rows) | {"runs": details}
        res["peer_copy"] = summarize(copy_runs, rows)
        res["peer_duckdb"] = summarize(duck_runs, rows, res["csv_bytes"])
        total = statistics.median(sums)
        res["peer_total"] = {
            "seconds": total, "runs_s": sums, "rows": rows, "rows_per_s": rows / total,
            "peak_rss_bytes": max(res["peer_copy"]["peak_rss_bytes"], res["peer_duckdb"]["peak_rss_bytes"]),
            "cpu_s": statistics.median(c.cpu_s + d.cpu_s for c, d in zip(copy_runs, duck_runs)),
        }
        lg, pt = res["lagoa"], res["peer_total"]
        res["ratios"] = {
            "time_lagoa_vs_peer_total": lg["seconds"] / pt["seconds"],
            "time_lagoa_vs_psql_copy": lg["seconds"] / res["peer_copy"]["seconds"],
            "rss_lagoa_vs_peer_max": lg["peak_rss_bytes"] / pt["peak_rss_bytes"],
            "rss_lagoa_vs_duckdb": lg["peak_rss_bytes"] / res["peer_duckdb"]["peak_rss_bytes"],
        }
        self.save()
        self.check("postgres", self.path("lake-pg"), parquet, PG_DATASET, PG_CHECK)
        os.remove(csv_path)
        self.save()

    def pg_cleanup(self) -> None:
        if self.a.keep_db or self.a.skip_pg:
            return
        try:
            self.psql_value("postgres", f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
            log(f"dropped database {PG_DATABASE}")
        except ChildFailed as e:
            log(f"could not drop database {PG_DATABASE}: {e}")

    # ------------------------------------------------------------------ B. Latin-1 CSV
    def csv_prepare(self) -> str:
        out = self.path("sim-latin1.csv")
        stamp = f"latin1-br target-bytes={self.a.csv_bytes} seed={SEED}"
        try:
            with open(out + ".stamp", encoding="utf-8") as f:
                if f.read().strip() == stamp and os.path.isfile(out):
                    log(f"reusing {out} ({stamp})")
                    return out
        except OSError:
            pass
        if not self.gen:
            raise SystemExit("connectors.py: --gen (lagoa-bench-gen) is needed to generate the Latin-1 CSV")
        self.fresh("sim-latin1.csv")
        self.run([self.gen, "--latin1-br", "--target-bytes", str(self.a.csv_bytes), "--seed", str(SEED),
                  "--out", out + ".tmp"], "B generating the Latin-1 CSV")
        os.replace(out + ".tmp", out)
        with open(out + ".stamp", "w", encoding="utf-8") as f:
            f.write(stamp + "\n")
        return out

    def step_csv(self) -> None:
        res = self.results.setdefault("latin1_csv", {})
        csv_path = self.csv_prepare()
        size = os.path.getsize(csv_path)
        log(f"counting rows of {csv_path}")
        rows = count_csv_rows(csv_path)
        res.update({"csv": csv_path, "csv_bytes": size, "rows": rows, "columns": [c[0] for c in CSV_COLUMNS]})
        contract = self.write("sim-contract.toml", csv_contract())
        parquet = self.path("sim-duckdb.parquet")
        duck_columns = {n: d for n, _, d, _ in CSV_COLUMNS}
        options = ("header = true, delim = ';', decimal_separator = ',', encoding = 'latin-1', "
                   "dateformat = '%d/%m/%Y'")
        res["duckdb_read_csv_options"] = options
        lagoa_runs, duck_runs, details = [], [], []
        for i in range(self.a.runs):
            lake = self.lagoa_init("lake-sim", f"B lagoa run {i + 1}")
            m = self.run([self.lagoa, "--lake", lake, "ingest", csv_path, "--dataset", CSV_DATASET, "--contract", contract,
                          "--encoding", "latin1", "--delimiter", ";"], f"B lagoa ingest {i + 1}")
            lagoa_runs.append(m)
            details.append(self.lagoa_committed(lake, CSV_DATASET, rows, f"B lagoa ingest {i + 1}") | self.lake_sizes(lake))
            self.save()
            self.fresh("sim-duckdb.parquet")
            md = self.run(child_cmd("duckdb_csv_to_parquet", csv=csv_path, out=parquet, columns=duck_columns, options=options),
                          f"B duckdb read_csv latin-1 -> parquet {i + 1}")
            if md.json()["rows"] != rows:
                self.problems.append(f"B DuckDB wrote {md.json()['rows']} rows, the CSV has {rows}")
            duck_runs.append(md)
        res["parquet_bytes"] = os.path.getsize(parquet)
        res["lagoa"] = summarize(lagoa_runs, rows, size) | {"runs": details}
        res["duckdb"] = summarize(duck_runs, rows, size)
        res["ratios"] = {
            "time_lagoa_vs_duckdb": res["lagoa"]["seconds"] / res["duckdb"]["seconds"],
            "rss_lagoa_vs_duckdb": res["lagoa"]["peak_rss_bytes"] / res["duckdb"]["peak_rss_bytes"],
        }
        self.save()
        self.check("latin1_csv", self.path("lake-sim"), parquet, CSV_DATASET, CSV_CHECK)
        self.save()

    # ------------------------------------------------------------------ report
    def report(self) -> str:
        r, m = self.results, self.results["meta"]
        L = [f"# Lagoa connector benchmark ({r['started_at']})\n",
             f"- Machine: {m['cpus']} CPUs, {m['memory_bytes'] / GIB:.1f} GiB RAM, {m['platform']}",
             f"- lagoa: `{m['lagoa']}` (`{m['lagoa_binary']}`); DuckDB {m['duckdb']}; {m['psql']}; Python {m['python']}",
             f"- Each step {m['runs']} runs, lagoa and peer alternating: median wall time; peak RSS = the highest "
             "ru_maxrss of the runs; CPU = the child's user + system time (median). MB = 10^6 bytes, MiB = 2^20.\n"]

        def row(name, e, extra=""):
            mbs = f"{e['mb_per_s']:.1f}" if "mb_per_s" in e else ""
            return (f"| {name} | {e['seconds']:.2f} | {e['rows_per_s']:,.0f} | {mbs} | {e['peak_rss_bytes'] / MIB:,.0f} "
                    f"| {e['cpu_s']:.1f} |{extra}")

        pg = r.get("postgres")
        if pg and "ratios" in pg:
            ra = pg["ratios"]
            L.append(f"## A. PostgreSQL extraction ({pg['rows']:,} rows, table {pg['table_bytes'] / MIB:,.0f} MiB)\n")
            L.append("| step | seconds | rows/s | MB/s | peak RSS MiB | CPU s |")
            L.append("|---|---:|---:|---:|---:|---:|")
            L.append(row("lagoa `source run` (encrypted lake + raw-zone copy, contract)", pg["lagoa"]))
            L.append(row("peer 1: `psql \\copy (SELECT *) TO csv`", pg["peer_copy"]))
            L.append(row(f"peer 2: DuckDB `read_csv` → Parquet ({pg['csv_bytes'] / 1e6:,.0f} MB CSV)", pg["peer_duckdb"]))
            L.append(row("peer total (1 + 2; RSS the higher)", pg["peer_total"]))
            L.append("")
            L.append(f"lagoa / peer total time **{ra['time_lagoa_vs_peer_total']:.2f}×** (lagoa / `psql \\copy` alone "
                     f"{ra['time_lagoa_vs_psql_copy']:.2f}×); lagoa / peer peak RSS {ra['rss_lagoa_vs_peer_max']:.2f}× "
                     f"(/ DuckDB's {ra['rss_lagoa_vs_duckdb']:.2f}×). Ratios > 1: lagoa slower / bigger. Lagoa's figure "
                     "includes Parquet encryption, the encrypted raw-zone Arrow copy and the contract checks; the peer "
                     "writes plaintext CSV and Parquet. PostgreSQL's own backend work is in neither side's RSS or CPU.")
            det = pg["lagoa"]["runs"][-1]
            L.append(f"Lagoa lake: {det['store_parquet_bytes'] / MIB:,.0f} MiB Parquet + {det['raw_bytes'] / MIB:,.0f} MiB "
                     f"raw zone; DuckDB Parquet {pg['parquet_bytes'] / MIB:,.0f} MiB. Check: {pg.get('check', {}).get('status', '—')}.\n")

        cs = r.get("latin1_csv")
        if cs and "ratios" in cs:
            rc = cs["ratios"]
            L.append(f"## B. Latin-1 `;` CSV, decimal commas ({cs['csv_bytes'] / 1e6:,.0f} MB, {cs['rows']:,} rows)\n")
            L.append("| engine | seconds | rows/s | MB/s | peak RSS MiB | CPU s |")
            L.append("|---|---:|---:|---:|---:|---:|")
            L.append(row("lagoa `ingest --contract --encoding latin1` (encrypted lake + raw-zone copy)", cs["lagoa"]))
            L.append(row("DuckDB `read_csv(encoding='latin-1', ...)` → Parquet (plaintext)", cs["duckdb"]))
            L.append("")
            det = cs["lagoa"]["runs"][-1]
            L.append(f"lagoa / DuckDB time **{rc['time_lagoa_vs_duckdb']:.2f}×**, peak RSS {rc['rss_lagoa_vs_duckdb']:.2f}×. "
                     f"Lagoa lake: {det['store_parquet_bytes'] / MIB:,.0f} MiB Parquet + {det['raw_bytes'] / MIB:,.0f} MiB raw "
                     f"zone; DuckDB Parquet {cs['parquet_bytes'] / MIB:,.0f} MiB. DuckDB decodes Latin-1 itself "
                     f"(`{cs['duckdb_read_csv_options']}`), no transcoded copy. Check: {cs.get('check', {}).get('status', '—')}.\n")

        if self.problems:
            L.append("## Problems\n")
            L.extend(f"- {x}" for x in self.problems)
            L.append("")
        return "\n".join(L)

    # ------------------------------------------------------------------ main
    def main(self) -> int:
        os.makedirs(self.wd, exist_ok=True)
        try:
            self.meta()
            if not self.a.skip_pg:
                self.step_postgres()
            if not self.a.skip_csv:
                self.step_csv()
        except ChildFailed as e:
            print(e.describe(), file=sys.stderr)
            self.save(error=str(e))
            print(f"connectors.py: FAILED; partial results in {self.path('results.json')}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            self.save(error="interrupted")
            return 130
        finally:
            self.pg_cleanup()
        self.results["problems"] = self.problems
        self.save()
        text = self.report()
        with open(self.path("report.md"), "w", encoding="utf-8") as f:
            f.write(text + "\n")
        print(text)
        if self.problems:
            print("connectors.py: FAILED:\n  " + "\n  ".join(self.problems), file=sys.stderr)
            return 1
        return 0


def parse_args(argv):
    ap = argparse.ArgumentParser(description="Connector benchmarks: lagoa vs psql + DuckDB, and a Latin-1 CSV vs DuckDB.")
    ap.add_argument("--lagoa", required=True, help="path to the lagoa binary")
    ap.add_argument("--gen", help="path to lagoa-bench-gen (to write the Latin-1 CSV)")
    ap.add_argument("--workdir", required=True, help="scratch directory (CSV, lakes, Parquet, results)")
    ap.add_argument("--pg-rows", type=int, default=10_000_000, help="rows of the PostgreSQL table (default 10,000,000)")
    ap.add_argument("--csv-bytes", type=int, default=2 * GIB, help="size of the Latin-1 CSV (default 2 GiB)")
    ap.add_argument("--runs", type=int, default=2, help="runs per measured step, median reported (default 2)")
    ap.add_argument("--skip-pg", action="store_true", help="skip A (PostgreSQL)")
    ap.add_argument("--skip-csv", action="store_true", help="skip B (Latin-1 CSV)")
    ap.add_argument("--keep-db", action="store_true", help=f"keep database {PG_DATABASE} (and reuse it when its rows match)")
    ap.add_argument("--pg-host", default="127.0.0.1")
    ap.add_argument("--pg-port", type=int, default=5432)
    ap.add_argument("--pg-user", default="postgres", help="a user the server trusts (no password is passed)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds before a child is killed (default 3600)")
    a = ap.parse_args(argv)
    for flag, path in (("--lagoa", a.lagoa), ("--gen", a.gen)):
        if path and not os.access(path, os.X_OK):
            ap.error(f"{flag}: not an executable file: {path}")
    if a.runs < 1 or a.pg_rows < 1 or a.csv_bytes < 1:
        ap.error("--runs, --pg-rows and --csv-bytes must be >= 1")
    return a


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_child"]:
        return child_main(argv[1:])
    args = parse_args(argv)
    try:
        import duckdb  # noqa: F401
        import psutil  # noqa: F401
    except ImportError as e:
        print(f"connectors.py: {e}; run scripts/bootstrap and use .venv/bin/python", file=sys.stderr)
        return 2
    if not args.skip_pg and shutil.which("psql") is None:
        print("connectors.py: psql not found (needed for A; --skip-pg to skip it)", file=sys.stderr)
        return 2
    return Bench(args).main()


if __name__ == "__main__":
    sys.exit(main())
