#!/usr/bin/env python3
"""Side-by-side benchmark: Lagoa vs DuckDB 1.4.4 vs PyArrow 26 on the obitos CSV.

Usage:
    benches/compare.py --lagoa PATH_TO_LAGOA --csv PATH --workdir DIR
                       [--skip-memory] [--big-csv PATH] [--runs 3] [--year YYYY]

Run it with the project virtualenv (scripts/bootstrap): .venv/bin/python benches/compare.py ...
(scripts/bench does all of it).

Steps
  a. CSV -> encrypted Parquet: lagoa (encrypted lake), lagoa (--insecure-no-encryption lake),
     DuckDB (ENCRYPTION_CONFIG, footer key), DuckDB plain (reference; its file is also the one
     DuckDB queries in b), PyArrow (open_csv streaming into ParquetWriter with CryptoFactory).
  b. Five municipal-analysis queries plus a full scan and a trivial `SELECT 1` (startup):
     lagoa on both lakes (whole process), DuckDB on its plain Parquet in-process (warm-up run
     excluded) and as a fresh process per run (whole process, like lagoa). Best of --runs.
     The warm-up run of every engine writes its result as CSV under <workdir>/results/ and
     the answers are compared (numbers with a small relative tolerance); a mismatch fails the run.
  c. With --big-csv (and without --skip-memory): ingest the big CSV into a fresh encrypted lake,
     report peak RSS (goal < 1 GiB) and throughput.

Measurement
  Every measured step is its own child process. Wall clock = time.perf_counter() around
  spawn..exit. Peak RSS = ru_maxrss of that one child, from os.wait4(2) (kernel high-water
  mark, exact, no sampling). DuckDB and PyArrow children are this script re-invoked with
  `_child ...`, so they pay the Python interpreter start like lagoa pays its own start.

Outputs: a markdown report on stdout, JSON at <workdir>/results.json (also written, with an
"error" field, when a step fails). Any failing child stops the run with exit status 1 and its
stderr shown.
"""

from __future__ import annotations

import argparse
import base64
import csv
import datetime as dt
import json
import math
import os
import platform
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time

SCRIPT = os.path.abspath(__file__)
MIB = 1024 * 1024
GIB = 1024 * MIB

CSV_COLUMNS = ["municipio", "data_obito", "ano", "mes", "causa_cid", "sexo", "idade", "valor", "cpf", "nome"]
PERSONAL = ["cpf", "nome"]
PURPOSE = "vigilância do óbito"
DATASET = "obitos"

# Explicit types for the peers (so no sniffing differences, and codes keep leading zeros).
DUCKDB_TYPES = {
    "municipio": "VARCHAR",
    "data_obito": "DATE",
    "ano": "INTEGER",
    "mes": "INTEGER",
    "causa_cid": "VARCHAR",
    "sexo": "VARCHAR",
    "idade": "INTEGER",
    "valor": "DECIMAL(18,2)",
    "cpf": "VARCHAR",
    "nome": "VARCHAR",
}


def queries(year: int) -> list[dict]:
    """The benchmark queries. Same SQL text for lagoa (DataFusion) and DuckDB."""
    return [
        {
            "id": "q1_mun_mes",
            "title": "group by municipio, mes: count, avg idade",
            "sql": "SELECT municipio, mes, count(*) AS n, avg(idade) AS idade_media "
            "FROM obitos GROUP BY municipio, mes ORDER BY municipio, mes",
            "header": ["municipio", "mes", "n", "idade_media"],
        },
        {
            "id": "q2_date_range",
            "title": f"data_obito in {year}-01-01..{year}-06-30",
            "sql": "SELECT count(*) AS n, avg(idade) AS idade_media FROM obitos "
            f"WHERE data_obito >= DATE '{year}-01-01' AND data_obito <= DATE '{year}-06-30'",
            "header": ["n", "idade_media"],
        },
        {
            "id": "q3_cid_prefix",
            "title": "causa_cid LIKE 'X%' by causa_cid",
            "sql": "SELECT causa_cid, count(*) AS n FROM obitos WHERE causa_cid LIKE 'X%' "
            "GROUP BY causa_cid ORDER BY causa_cid",
            "header": ["causa_cid", "n"],
        },
        {
            "id": "q4_distinct",
            "title": "count distinct municipio by sexo, ano",
            "sql": "SELECT sexo, ano, count(DISTINCT municipio) AS municipios, count(*) AS n "
            "FROM obitos GROUP BY sexo, ano ORDER BY sexo, ano",
            "header": ["sexo", "ano", "municipios", "n"],
        },
        {
            "id": "q5_top10_valor",
            "title": f"top 10 municipio by sum(valor), ano = {year}",
            "sql": "SELECT municipio, sum(valor) AS total FROM obitos "
            f"WHERE ano = {year} GROUP BY municipio ORDER BY total DESC, municipio LIMIT 10",
            "header": ["municipio", "total"],
        },
        {
            "id": "full_scan",
            "title": "count(*), sum(valor)",
            "sql": "SELECT count(*) AS n, sum(valor) AS total FROM obitos",
            "header": ["n", "total"],
        },
    ]


STARTUP_QUERY = {"id": "startup", "title": "SELECT 1 (process start, catalog open)", "sql": "SELECT 1 AS one", "header": ["one"]}


# ============================================================================ measurement


class ChildFailed(Exception):
    def __init__(self, label, cmd, code, stdout, stderr, note=""):
        self.label, self.cmd, self.code, self.stdout, self.stderr, self.note = label, cmd, code, stdout, stderr, note
        super().__init__(f"{label}: exit {code}{' ' + note if note else ''}")

    def describe(self) -> str:
        def tail(s, n=60):
            lines = s.rstrip("\n").splitlines()
            cut = lines[-n:]
            return ("  [... %d lines cut ...]\n" % (len(lines) - n) if len(lines) > n else "") + "\n".join("  " + x for x in cut)

        parts = [f"step failed: {self.label}", f"command: {shlex.join(self.cmd)}", f"exit status: {self.code} {self.note}".rstrip()]
        if self.stderr.strip():
            parts.append("stderr:\n" + tail(self.stderr))
        if self.stdout.strip():
            parts.append("stdout:\n" + tail(self.stdout, 20))
        return "\n".join(parts)


class Measured:
    def __init__(self, wall_s: float, peak_rss: int, stdout: str, stderr: str):
        self.wall_s, self.peak_rss, self.stdout, self.stderr = wall_s, peak_rss, stdout, stderr

    def json(self):
        return json.loads(self.stdout)


def run_measured(cmd: list[str], label: str, timeout: float, env: dict | None = None) -> Measured:
    """Run one child, return wall time and its own peak RSS (ru_maxrss via wait4)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        try:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
        except OSError as e:
            raise ChildFailed(label, cmd, -1, "", str(e), "(could not start)")
        timed_out = threading.Event()

        def kill():
            timed_out.set()
            try:
                os.kill(p.pid, signal.SIGKILL)
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
    if timed_out.is_set():
        raise ChildFailed(label, cmd, code, so, se, f"(killed after the {timeout:g} s timeout)")
    if code != 0:
        raise ChildFailed(label, cmd, code, so, se, f"(signal {-code})" if code < 0 else "")
    return Measured(wall, ru.ru_maxrss * 1024, so, se)


def check_dev_null() -> None:
    """Fail loudly if a child replaced /dev/null (e.g. an atomic write-and-rename of --output)."""
    st = os.stat("/dev/null")
    if not stat.S_ISCHR(st.st_mode):
        raise SystemExit("compare.py: /dev/null is no longer a character device: `--output /dev/null` replaced it "
                         "(write-to-temp-and-rename?). Restore it with: rm /dev/null && mknod -m 666 /dev/null c 1 3")


def child_cmd(name: str, **params) -> list[str]:
    return [sys.executable, SCRIPT, "_child", name, json.dumps(params)]


def log(msg: str) -> None:
    print(f"[compare] {msg}", file=sys.stderr, flush=True)


def dir_bytes(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def parquet_bytes(path: str) -> int:
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files if f.endswith(".parquet"))
    return total


def count_csv_rows(path: str) -> int:
    n = 0
    last = b"\n"
    with open(path, "rb") as f:
        while True:
            b = f.read(16 * MIB)
            if not b:
                break
            n += b.count(b"\n")
            last = b[-1:]
    if last != b"\n":
        n += 1
    return max(n - 1, 0)  # header


# ============================================================================ children (DuckDB, PyArrow)


def _duckdb_connect(encryption: bool):
    import duckdb

    con = duckdb.connect()
    if encryption:
        # DuckDB 1.4.4 writes (and reads) encrypted Parquet only with httpfs loaded (its secure
        # random engine). Load it offline from the duckdb-ext-httpfs wheel; never download.
        import duckdb_ext

        ext_dir = os.path.join(list(duckdb_ext.__path__)[0], "extensions")
        con.execute(f"SET extension_directory = '{ext_dir}'")
        con.execute("SET autoinstall_known_extensions = false")
        con.execute("LOAD httpfs")
    return con


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _duckdb_read_csv(path: str) -> str:
    types = ", ".join(f"{_sql_str(k)}: {_sql_str(v)}" for k, v in DUCKDB_TYPES.items())
    return f"read_csv({_sql_str(path)}, header = true, delim = ',', types = {{{types}}})"


def _duckdb_key(con, key_b64: str | None) -> str:
    if key_b64:
        con.execute(f"PRAGMA add_parquet_key('k', {_sql_str(key_b64)})")
        return ", encryption_config = {footer_key: 'k'}"
    return ""


def child_duckdb_ingest(p: dict) -> dict:
    con = _duckdb_connect(bool(p["key"]))
    opt = ""
    if p["key"]:
        _duckdb_key(con, p["key"])
        opt = ", ENCRYPTION_CONFIG {footer_key: 'k'}"
    t0 = time.perf_counter()
    rows = con.execute(f"COPY (SELECT * FROM {_duckdb_read_csv(p['csv'])}) TO {_sql_str(p['out'])} (FORMAT parquet{opt})").fetchone()[0]
    return {"rows": rows, "inner_s": time.perf_counter() - t0}


def child_pyarrow_ingest(p: dict) -> dict:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    import pyarrow.parquet.encryption as pe
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    keys = {k: base64.b64decode(v) for k, v in p["keys"].items()}

    class InMemoryKms(pe.KmsClient):
        # Same wrap format as Lagoa's (docs/interfaces.md): base64(nonce || GCM ct || tag), AAD = key id.
        def __init__(self):
            pe.KmsClient.__init__(self)

        def wrap_key(self, key_bytes, mkid):
            nonce = os.urandom(12)
            return base64.b64encode(nonce + AESGCM(keys[mkid]).encrypt(nonce, bytes(key_bytes), mkid.encode())).decode()

        def unwrap_key(self, wrapped, mkid):
            b = base64.b64decode(wrapped)
            return AESGCM(keys[mkid]).decrypt(b[:12], b[12:], mkid.encode())

    data_key, pessoal_key = f"lagoa.{DATASET}.data.v1", f"lagoa.{DATASET}.pessoal.v1"
    cfg = pe.EncryptionConfiguration(
        footer_key=data_key,
        # Every column encrypted: personal ones under the pessoal key, the rest under the data key.
        column_keys={data_key: [c for c in CSV_COLUMNS if c not in PERSONAL], pessoal_key: PERSONAL},
        encryption_algorithm="AES_GCM_V1",
        double_wrapping=True,
        data_key_length_bits=256,
    )
    props = pe.CryptoFactory(lambda _cfg: InMemoryKms()).file_encryption_properties(pe.KmsConnectionConfig(), cfg)
    arrow_types = {
        "municipio": pa.string(),
        "data_obito": pa.date32(),
        "ano": pa.int32(),
        "mes": pa.int32(),
        "causa_cid": pa.string(),
        "sexo": pa.string(),
        "idade": pa.int32(),
        "valor": pa.decimal128(18, 2),
        "cpf": pa.string(),
        "nome": pa.string(),
    }
    reader = pacsv.open_csv(
        p["csv"],
        read_options=pacsv.ReadOptions(block_size=32 * MIB),
        convert_options=pacsv.ConvertOptions(column_types=arrow_types, strings_can_be_null=False),
    )
    rows = 0
    t0 = time.perf_counter()
    with pq.ParquetWriter(p["out"], reader.schema, encryption_properties=props) as w:
        for batch in reader:
            w.write_batch(batch)
            rows += batch.num_rows
    return {"rows": rows, "inner_s": time.perf_counter() - t0}


def child_duckdb_info(p: dict) -> dict:
    con = _duckdb_connect(False)
    src = f"read_parquet({_sql_str(p['parquet'])})"
    year, n = con.execute(f"SELECT ano, count(*) AS n FROM {src} GROUP BY ano ORDER BY n DESC, ano DESC LIMIT 1").fetchone()
    lo, hi, total = con.execute(f"SELECT min(data_obito)::VARCHAR, max(data_obito)::VARCHAR, count(*) FROM {src}").fetchone()
    return {"year": int(year), "year_rows": n, "min_date": lo, "max_date": hi, "rows": total}


def _duckdb_view(con, parquet: str, key: str | None) -> None:
    opt = _duckdb_key(con, key)
    con.execute(f"CREATE VIEW obitos AS SELECT * FROM read_parquet({_sql_str(parquet)}{opt})")


def child_duckdb_queries(p: dict) -> dict:
    """In-process timing: one warm-up run (writes the result CSV, not timed) then `runs` timed runs."""
    t0 = time.perf_counter()
    import duckdb  # noqa: F401

    t_import = time.perf_counter() - t0
    t1 = time.perf_counter()
    con = _duckdb_connect(bool(p["key"]))
    _duckdb_view(con, p["parquet"], p["key"])
    t_connect = time.perf_counter() - t1
    res = {}
    for q in p["queries"]:
        con.execute(f"COPY ({q['sql']}) TO {_sql_str(q['out'])} (FORMAT csv, HEADER true)")
        times = []
        for _ in range(p["runs"]):
            s = time.perf_counter()
            con.execute(f"COPY ({q['sql']}) TO '/dev/null' (FORMAT csv, HEADER true)")
            times.append(time.perf_counter() - s)
        res[q["id"]] = times
    return {"import_s": t_import, "connect_s": t_connect, "times": res}


def child_duckdb_query_once(p: dict) -> dict:
    """Whole-process timing: fresh interpreter, import, connect, one query to /dev/null."""
    con = _duckdb_connect(bool(p["key"]))
    _duckdb_view(con, p["parquet"], p["key"])
    con.execute(f"COPY ({p['sql']}) TO '/dev/null' (FORMAT csv, HEADER true)")
    return {}


def child_lagoa_served(p: dict) -> dict:
    """The governed path on a warm server: each query POSTed to `lagoa serve`'s /api/v1/query as
    the analyst, with the purpose, answered as CSV on one keep-alive connection (the body read and
    dropped, as DuckDB's COPY to /dev/null drops its rows). One warm-up run writes the answer."""
    import http.client
    import urllib.parse

    u = urllib.parse.urlsplit(p["url"])
    con = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    headers = {"Authorization": f"Bearer {p['token']}", "Content-Type": "application/json"}

    def ask(sql: str) -> bytes:
        con.request("POST", "/api/v1/query?format=csv", body=json.dumps({"sql": sql, "purpose": p["purpose"]}), headers=headers)
        r = con.getresponse()
        body = r.read()
        if r.status != 200:
            raise SystemExit(f"lagoa serve answered HTTP {r.status}: {body[:500]!r}")
        return body

    res = {}
    for q in p["queries"]:
        with open(q["out"], "wb") as f:
            f.write(ask(q["sql"]))
        times = []
        for _ in range(p["runs"]):
            s = time.perf_counter()
            ask(q["sql"])
            times.append(time.perf_counter() - s)
        res[q["id"]] = times
    return {"times": res}


CHILDREN = {
    "duckdb_ingest": child_duckdb_ingest,
    "pyarrow_ingest": child_pyarrow_ingest,
    "duckdb_info": child_duckdb_info,
    "duckdb_queries": child_duckdb_queries,
    "duckdb_query_once": child_duckdb_query_once,
    "lagoa_served": child_lagoa_served,
}


def child_main(argv: list[str]) -> int:
    name, params = argv[0], json.loads(argv[1])
    out = CHILDREN[name](params)
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


# ============================================================================ result checking


def _norm_cell(s: str):
    s = s.strip()
    if s == "" or s.upper() == "NULL":
        return None
    digits = s.lstrip("-")
    if len(digits) > 1 and digits[0] == "0" and digits[1] != ".":
        return s  # a code with leading zeros (municipio, cpf) stays text: "000017" != 17
    try:
        if any(ch in s for ch in ".eE") or s.lower() in ("nan", "inf", "-inf"):
            return float(s)
        return int(s)
    except ValueError:
        return s


def _cells_equal(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, int) and isinstance(b, int):
            return a == b
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-6)
    return a == b


def read_result_csv(path: str, header: list[str]) -> list[list]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if rows and [c.strip().lower() for c in rows[0]] == [h.lower() for h in header]:
        rows = rows[1:]
    return [[_norm_cell(c) for c in r] for r in rows if r]


def compare_results(ref: list[list], got: list[list]) -> str | None:
    """None when equal (row order included: every query has a total ORDER BY or one row)."""
    if len(ref) != len(got):
        return f"{len(got)} rows, expected {len(ref)}"
    for i, (a, b) in enumerate(zip(ref, got)):
        if len(a) != len(b) or not all(_cells_equal(x, y) for x, y in zip(a, b)):
            return f"row {i + 1}: {b!r}, expected {a!r}"
    return None


# ============================================================================ the benchmark


class Bench:
    def __init__(self, args):
        self.a = args
        self.wd = os.path.abspath(args.workdir)
        self.lagoa = os.path.abspath(args.lagoa)
        self.csv = os.path.abspath(args.csv)
        self.results: dict = {"started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        self.mismatches: list[str] = []
        env = dict(os.environ)
        for k in ("LAGOA_LAKE", "RUST_LOG", "RUST_BACKTRACE"):
            env.pop(k, None)
        env["NO_COLOR"] = "1"
        self.env = env

    # ------------------------------------------------------------------ helpers
    def lagoa_cmd(self, lake: str | None, *args: str) -> list[str]:
        return [self.lagoa] + (["--lake", lake] if lake else []) + list(args)

    def run(self, cmd, label, env=None) -> Measured:
        log(f"{label}: {shlex.join(cmd) if len(shlex.join(cmd)) < 300 else cmd[0] + ' ...'}")
        m = run_measured(cmd, label, self.a.timeout, env or self.env)
        log(f"{label}: {m.wall_s:.3f} s, peak RSS {m.peak_rss / MIB:.0f} MiB")
        return m

    def fresh(self, name: str) -> str:
        path = os.path.join(self.wd, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
        return path

    def save(self, error: str | None = None) -> None:
        if error:
            self.results["error"] = error
        self.results["finished_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        path = os.path.join(self.wd, "results.json")
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.results, f, indent=2, sort_keys=False)
            f.write("\n")
        os.replace(tmp, path)

    # ------------------------------------------------------------------ meta
    def meta(self) -> None:
        import duckdb
        import psutil
        import pyarrow

        try:
            v = subprocess.run([self.lagoa, "--version"], capture_output=True, text=True, timeout=60)
            lagoa_version = v.stdout.strip() if v.returncode == 0 else f"(--version failed: exit {v.returncode})"
        except OSError as e:
            raise SystemExit(f"compare.py: cannot run lagoa binary {self.lagoa}: {e}")
        self.csv_bytes = os.path.getsize(self.csv)
        log(f"counting rows of {self.csv} ({self.csv_bytes / 1e6:.0f} MB)")
        self.csv_rows = count_csv_rows(self.csv)
        self.results["meta"] = {
            "host": platform.node(),
            "cpus": psutil.cpu_count(logical=True),
            "memory_bytes": psutil.virtual_memory().total,
            "platform": platform.platform(),
            "python": platform.python_version(),
            "lagoa": lagoa_version,
            "lagoa_binary": self.lagoa,
            "duckdb": duckdb.__version__,
            "pyarrow": pyarrow.__version__,
            "csv": self.csv,
            "csv_bytes": self.csv_bytes,
            "csv_rows": self.csv_rows,
            "runs": self.a.runs,
            "rss_method": "ru_maxrss of each child from wait4(2)",
        }

    # ------------------------------------------------------------------ a. ingest
    def ingest_entry(self, m: Measured, rows: int, out_bytes: int, extra=None) -> dict:
        e = {
            "seconds": m.wall_s,
            "rows": rows,
            "rows_per_s": rows / m.wall_s,
            "mb_per_s": self.csv_bytes / 1e6 / m.wall_s,
            "peak_rss_bytes": m.peak_rss,
            "output_bytes": out_bytes,
        }
        if extra:
            e.update(extra)
        return e

    def lagoa_ingest(self, lake_name: str, encrypted: bool, csv_path: str, label: str) -> dict:
        lake = self.fresh(lake_name)
        init = ["init", lake] + ([] if encrypted else ["--insecure-no-encryption"])
        mi = self.run(self.lagoa_cmd(None, *init), f"{label} init")
        m = self.run(
            self.lagoa_cmd(lake, "ingest", csv_path, "--dataset", DATASET, "--personal", ",".join(PERSONAL), "--level", "especial"),
            f"{label} ingest",
        )
        rows = self.csv_rows if csv_path == self.csv else count_csv_rows(csv_path)
        e = self.ingest_entry(m, rows, parquet_bytes(os.path.join(lake, "store")), {"init_seconds": mi.wall_s, "lake": lake})
        e["csv_bytes"] = os.path.getsize(csv_path)
        e["mb_per_s"] = e["csv_bytes"] / 1e6 / m.wall_s
        return e

    def step_ingest(self) -> None:
        ing = self.results.setdefault("ingest", {})
        ing["lagoa_enc"] = self.lagoa_ingest("lake-enc", True, self.csv, "lagoa enc")
        self.save()
        ing["lagoa_plain"] = self.lagoa_ingest("lake-plain", False, self.csv, "lagoa plain")
        self.save()

        self.duckdb_key = base64.b64encode(os.urandom(32)).decode()
        out = self.fresh("duckdb-enc.parquet")
        m = self.run(child_cmd("duckdb_ingest", csv=self.csv, out=out, key=self.duckdb_key), "duckdb enc ingest")
        r = m.json()
        ing["duckdb_enc"] = self.ingest_entry(m, r["rows"], os.path.getsize(out), {"inner_seconds": r["inner_s"]})
        self.check_rows("duckdb enc ingest", r["rows"])

        self.plain_parquet = self.fresh("duckdb-plain.parquet")
        m = self.run(child_cmd("duckdb_ingest", csv=self.csv, out=self.plain_parquet, key=None), "duckdb plain ingest")
        r = m.json()
        ing["duckdb_plain"] = self.ingest_entry(m, r["rows"], os.path.getsize(self.plain_parquet), {"inner_seconds": r["inner_s"]})
        self.save()

        out = self.fresh("pyarrow-enc.parquet")
        keys = {f"lagoa.{DATASET}.data.v1": base64.b64encode(os.urandom(32)).decode(),
                f"lagoa.{DATASET}.pessoal.v1": base64.b64encode(os.urandom(32)).decode()}
        m = self.run(child_cmd("pyarrow_ingest", csv=self.csv, out=out, keys=keys), "pyarrow enc ingest")
        r = m.json()
        ing["pyarrow_enc"] = self.ingest_entry(m, r["rows"], os.path.getsize(out), {"inner_seconds": r["inner_s"]})
        self.check_rows("pyarrow enc ingest", r["rows"])
        os.remove(out)
        self.save()

        le, lp = ing["lagoa_enc"], ing["lagoa_plain"]
        self.results["ratios_ingest"] = {
            "lagoa_enc_vs_duckdb_enc_time": le["seconds"] / ing["duckdb_enc"]["seconds"],
            "lagoa_enc_vs_pyarrow_enc_time": le["seconds"] / ing["pyarrow_enc"]["seconds"],
            "lagoa_plain_vs_duckdb_plain_time": lp["seconds"] / ing["duckdb_plain"]["seconds"],
            "lagoa_enc_vs_duckdb_enc_rss": le["peak_rss_bytes"] / ing["duckdb_enc"]["peak_rss_bytes"],
            "lagoa_enc_vs_pyarrow_enc_rss": le["peak_rss_bytes"] / ing["pyarrow_enc"]["peak_rss_bytes"],
            "lagoa_plain_vs_duckdb_plain_rss": lp["peak_rss_bytes"] / ing["duckdb_plain"]["peak_rss_bytes"],
            "encryption_overhead_lagoa": le["seconds"] / lp["seconds"],
            "encryption_overhead_duckdb": ing["duckdb_enc"]["seconds"] / ing["duckdb_plain"]["seconds"],
        }

    def check_rows(self, label: str, rows: int) -> None:
        if rows != self.csv_rows:
            self.mismatches.append(f"{label}: wrote {rows} rows, CSV has {self.csv_rows}")

    # ------------------------------------------------------------------ b. the governed path, served
    def lagoa_out(self, lake: str, *args: str, token: str | None = None) -> str:
        """One untimed lagoa command (setup), its stdout; failure stops the run."""
        env = dict(self.env)
        env.pop("LAGOA_TOKEN", None)
        if token:
            env["LAGOA_TOKEN"] = token
        cmd = self.lagoa_cmd(lake, *args)
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=self.a.timeout)
        if r.returncode != 0:
            raise ChildFailed(f"setup: lagoa {args[0]}", cmd, r.returncode, r.stdout, r.stderr, "")
        return r.stdout

    def govern(self, lake: str) -> str:
        """Makes the encrypted lake's `obitos` readable the way a data office does: its provider's
        steward categorises it, an analyst of another institution files a request with a purpose,
        the steward approves it. Returns the analyst's token."""
        for name, role in (("saude", "provider"), ("educ", "consumer")):
            self.lagoa_out(lake, "institution", "add", name, "--role", role)
        for user, inst, role in (("maria", "saude", "steward"), ("ana", "educ", "analyst")):
            self.lagoa_out(lake, "user", "add", user, "--institution", inst, "--role", role)
        analyst = self.lagoa_out(lake, "token", "create", "ana").strip()
        steward = self.lagoa_out(lake, "token", "create", "maria").strip()
        self.lagoa_out(lake, "dataset", "provider", DATASET, "saude")
        self.lagoa_out(lake, "dataset", "categorise", DATASET, "--provider", "saude", "--reason", "benchmark", token=steward)
        filed = self.lagoa_out(lake, "request", "file", DATASET, "--purpose", PURPOSE, "--legal-basis", "LGPD art. 11, II, b",
                               token=analyst)
        request = filed.split("request ", 1)[1].split()[0]
        self.lagoa_out(lake, "request", "approve", request, "--reason", "benchmark", token=steward)
        return analyst

    def served_queries(self, qs: list[dict], resdir: str, lake: str | None = None, token: str | None = None,
                       env_extra: dict | None = None) -> dict:
        """Every query through `lagoa serve` (HTTP API, governed), the server started once and warm;
        on the encrypted lake of step a unless `lake` names another; `token` is the analyst's of an
        earlier `govern` (else the lake is governed now); `env_extra` adds to the server's environment
        (benches/cluster.py: the cluster it submits to)."""
        lake = lake or os.path.join(self.wd, "lake-enc")
        token = token or self.govern(lake)
        cmd = self.lagoa_cmd(lake, "serve", "--listen", "127.0.0.1:0")
        env = dict(self.env) | (env_extra or {})
        env["RUST_LOG"] = "warn"
        env["LAGOA__QUERY__PG_LISTEN"] = "127.0.0.1:0"
        log(f"lagoa serve: {shlex.join(cmd)}")
        server = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
        found: list[str] = []
        ready = threading.Event()

        def read_stderr():
            for line in server.stderr:
                if line.startswith("Console: ") and not found:
                    found.append(line.removeprefix("Console: ").strip().rstrip("/"))
                    ready.set()

        threading.Thread(target=read_stderr, daemon=True).start()
        try:
            if not ready.wait(60):
                raise SystemExit("compare.py: lagoa serve did not print its address within 60 s")
            dq = [{"id": q["id"], "sql": q["sql"], "out": os.path.join(resdir, f"{q['id']}.lagoa_served.csv")} for q in qs]
            return self.run(child_cmd("lagoa_served", url=found[0], token=token, purpose=PURPOSE, queries=dq, runs=self.a.runs),
                            "lagoa served, governed: all queries").json()
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()

    # ------------------------------------------------------------------ b. queries
    def step_queries(self) -> None:
        info = self.run(child_cmd("duckdb_info", parquet=self.plain_parquet), "duckdb data info").json()
        year = self.a.year or info["year"]
        self.results["data_info"] = info | {"query_year": year}
        qs = queries(year)
        resdir = self.fresh("results")
        os.makedirs(resdir)
        runs = self.a.runs
        out: dict = {q["id"]: {"title": q["title"], "sql": q["sql"]} for q in [STARTUP_QUERY] + qs}
        self.results["queries"] = out

        # DuckDB in-process (one child for all queries; warm-up excluded).
        dq = [{"id": q["id"], "sql": q["sql"], "out": os.path.join(resdir, f"{q['id']}.duckdb.csv")} for q in qs]
        for variant, parquet, key in (("duckdb_inproc", self.plain_parquet, None),
                                      ("duckdb_enc_inproc", os.path.join(self.wd, "duckdb-enc.parquet"), self.duckdb_key)):
            if key:
                for d in dq:
                    d["out"] = d["out"].replace(".duckdb.csv", ".duckdb-enc.csv")
            r = self.run(child_cmd("duckdb_queries", parquet=parquet, key=key, queries=dq, runs=runs), f"{variant} all queries").json()
            self.results[f"{variant}_startup"] = {"import_s": r["import_s"], "connect_s": r["connect_s"]}
            for q in qs:
                out.setdefault(q["id"], {"title": q["title"], "sql": q["sql"]})[variant] = {"best_s": min(r["times"][q["id"]]), "runs_s": r["times"][q["id"]]}
        self.save()

        served = self.served_queries(qs, resdir)
        for q in qs:
            t = served["times"][q["id"]]
            out[q["id"]]["lagoa_served"] = {"best_s": min(t), "runs_s": t}
        self.save()

        for q in [STARTUP_QUERY] + qs:
            e = out.setdefault(q["id"], {"title": q["title"], "sql": q["sql"]})
            # lagoa on both lakes: warm-up (result kept for checking), then timed runs to /dev/null.
            for variant, lake in (("lagoa_enc", "lake-enc"), ("lagoa_plain", "lake-plain")):
                lake = os.path.join(self.wd, lake)
                res_csv = os.path.join(resdir, f"{q['id']}.{variant}.csv")
                self.run(self.lagoa_cmd(lake, "query", q["sql"], "--format", "csv", "--output", res_csv), f"{variant} {q['id']} warm-up")
                ms = [self.run(self.lagoa_cmd(lake, "query", q["sql"], "--format", "csv", "--output", "/dev/null"), f"{variant} {q['id']} run {i + 1}")
                      for i in range(runs)]
                check_dev_null()
                e[variant] = {"best_s": min(m.wall_s for m in ms), "runs_s": [m.wall_s for m in ms],
                              "peak_rss_bytes": max(m.peak_rss for m in ms)}
            # DuckDB whole process: fresh interpreter per run (warm-up run first, not timed).
            cmd = child_cmd("duckdb_query_once", parquet=self.plain_parquet, key=None, sql=q["sql"])
            self.run(cmd, f"duckdb_process {q['id']} warm-up")
            ms = [self.run(cmd, f"duckdb_process {q['id']} run {i + 1}") for i in range(runs)]
            e["duckdb_process"] = {"best_s": min(m.wall_s for m in ms), "runs_s": [m.wall_s for m in ms],
                                   "peak_rss_bytes": max(m.peak_rss for m in ms)}
            if q is not STARTUP_QUERY:
                e["ratio_lagoa_served_vs_duckdb_inproc"] = e["lagoa_served"]["best_s"] / e["duckdb_inproc"]["best_s"]
                e["ratio_lagoa_enc_vs_duckdb_inproc"] = e["lagoa_enc"]["best_s"] / e["duckdb_inproc"]["best_s"]
                e["ratio_lagoa_enc_vs_duckdb_process"] = e["lagoa_enc"]["best_s"] / e["duckdb_process"]["best_s"]
                e["ratio_lagoa_plain_vs_duckdb_inproc"] = e["lagoa_plain"]["best_s"] / e["duckdb_inproc"]["best_s"]
                e["encryption_overhead_lagoa"] = e["lagoa_enc"]["best_s"] / e["lagoa_plain"]["best_s"]
                e["check"] = self.check_query(q, resdir)
            self.save()
        fs = out["full_scan"]
        self.results["encryption_overhead"] = {
            "ingest_lagoa": self.results["ratios_ingest"]["encryption_overhead_lagoa"],
            "full_scan_lagoa": fs["encryption_overhead_lagoa"],
            "ingest_duckdb": self.results["ratios_ingest"]["encryption_overhead_duckdb"],
            "full_scan_duckdb_inproc": fs["duckdb_enc_inproc"]["best_s"] / fs["duckdb_inproc"]["best_s"],
        }

    def check_query(self, q: dict, resdir: str) -> dict:
        ref = read_result_csv(os.path.join(resdir, f"{q['id']}.duckdb.csv"), q["header"])
        status = {}
        for variant, suffix in (("lagoa_served", "lagoa_served"), ("lagoa_enc", "lagoa_enc"), ("lagoa_plain", "lagoa_plain"),
                                ("duckdb_enc", "duckdb-enc")):
            path = os.path.join(resdir, f"{q['id']}.{suffix}.csv")
            try:
                diff = compare_results(ref, read_result_csv(path, q["header"]))
            except OSError as e:
                diff = f"no result file: {e}"
            status[variant] = "match" if diff is None else f"MISMATCH: {diff}"
            if diff is not None:
                self.mismatches.append(f"{q['id']} {variant} vs duckdb: {diff} (see {path})")
        status["rows"] = len(ref)
        return status

    # ------------------------------------------------------------------ c. memory
    def step_memory(self) -> None:
        big = os.path.abspath(self.a.big_csv)
        e = self.lagoa_ingest("lake-big", True, big, "lagoa big enc")
        e["goal_bytes"] = GIB
        e["within_goal"] = e["peak_rss_bytes"] < GIB
        self.results["memory"] = e
        if not self.a.keep_big_lake:
            shutil.rmtree(e["lake"])
            e["lake_removed"] = True
        self.save()

    # ------------------------------------------------------------------ report
    def report(self) -> str:
        r = self.results
        m = r["meta"]
        L = []
        L.append(f"# Lagoa benchmark ({r['started_at']})\n")
        L.append(f"- Machine: {m['cpus']} CPUs, {m['memory_bytes'] / GIB:.1f} GiB RAM, {m['platform']}")
        L.append(f"- lagoa: `{m['lagoa']}`; DuckDB {m['duckdb']}; PyArrow {m['pyarrow']}; Python {m['python']}")
        L.append(f"- CSV: {m['csv_rows']:,} rows, {m['csv_bytes'] / 1e6:,.1f} MB (`{os.path.basename(m['csv'])}`)")
        L.append("- Wall clock per child process; peak RSS = the child's ru_maxrss (wait4). MB = 10^6 bytes, MiB = 2^20.\n")

        ing = r.get("ingest")
        if ing:
            L.append("## a. CSV → Parquet\n")
            L.append("| engine | encrypted | seconds | rows/s | MB/s | peak RSS MiB | output MiB | lagoa/peer time | lagoa/peer RSS |")
            L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
            rows = [
                ("lagoa", "lagoa_enc", "yes", None),
                ("lagoa --insecure-no-encryption", "lagoa_plain", "no", None),
                ("DuckDB (footer key, all columns)", "duckdb_enc", "yes", "lagoa_enc"),
                ("DuckDB (reference)", "duckdb_plain", "no", "lagoa_plain"),
                ("PyArrow CryptoFactory (all columns)", "pyarrow_enc", "yes", "lagoa_enc"),
            ]
            for name, key, enc, vs in rows:
                e = ing[key]
                rt = rr = ""
                if vs:
                    rt = f"{ing[vs]['seconds'] / e['seconds']:.2f}"
                    rr = f"{ing[vs]['peak_rss_bytes'] / e['peak_rss_bytes']:.2f}"
                L.append(f"| {name} | {enc} | {e['seconds']:.2f} | {e['rows_per_s']:,.0f} | {e['mb_per_s']:.1f} | "
                         f"{e['peak_rss_bytes'] / MIB:,.0f} | {e['output_bytes'] / MIB:,.1f} | {rt} | {rr} |")
            ri = r["ratios_ingest"]
            L.append("")
            L.append(f"Encryption overhead on ingest (enc / plain time): lagoa **{ri['encryption_overhead_lagoa']:.2f}×**, "
                     f"DuckDB {ri['encryption_overhead_duckdb']:.2f}×. Ratios > 1 mean lagoa is slower / bigger. "
                     f"Lagoa times exclude `lagoa init` ({ing['lagoa_enc']['init_seconds']:.2f} s). "
                     "Peers read the CSV with explicit column types (codes as text, `valor` DECIMAL(18,2), `data_obito` DATE).\n")

        qs = r.get("queries")
        if qs:
            L.append(f"## b. Queries (best of {m['runs']}, seconds)\n")
            L.append("| query | lagoa served | DuckDB in-process | **served / in-proc** | lagoa enc | lagoa plain | DuckDB process "
                     "| DuckDB enc in-process | lagoa enc / DuckDB in-proc | lagoa enc / DuckDB process | lagoa enc / plain | answers |")
            L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
            for qid, e in qs.items():
                def g(k):
                    return f"{e[k]['best_s']:.3f}" if k in e else "—"

                def ratio(k):
                    return f"{e[k]:.2f}" if k in e else "—"

                chk = e.get("check")
                if chk:
                    bad = [k for k, v in chk.items() if k != "rows" and v != "match"]
                    ans = "match" if not bad else "**MISMATCH** " + ", ".join(bad)
                else:
                    ans = ""
                L.append(f"| {qid}: {e['title']} | {g('lagoa_served')} | {g('duckdb_inproc')} | {ratio('ratio_lagoa_served_vs_duckdb_inproc')} "
                         f"| {g('lagoa_enc')} | {g('lagoa_plain')} | {g('duckdb_process')} | {g('duckdb_enc_inproc')} | {ratio('ratio_lagoa_enc_vs_duckdb_inproc')} | {ratio('ratio_lagoa_enc_vs_duckdb_process')} "
                         f"| {ratio('encryption_overhead_lagoa')} | {ans} |")
            st = r.get("duckdb_inproc_startup", {})
            L.append("")
            L.append("- lagoa served: the governed path on a warm `lagoa serve` (encrypted lake): an analyst's grant with a purpose, "
                     "the guard, the policy's view, the audit entry, each query POSTed to `/api/v1/query?format=csv` on one "
                     "keep-alive connection, the body read and dropped; warm-up excluded. The figure to hold against DuckDB in-process.")
            L.append("- lagoa: whole process per run (start, catalog, plan, scan, CSV to /dev/null); one untimed warm-up run first "
                     "(its output is the answer checked against DuckDB's).")
            L.append("- DuckDB in-process: one process, view over the Parquet file, `COPY (query) TO '/dev/null'`; warm-up excluded. "
                     f"That process's own start is reported apart: `import duckdb` {st.get('import_s', 0):.3f} s, "
                     f"connect + view {st.get('connect_s', 0):.3f} s.")
            L.append("- DuckDB process: a fresh Python + DuckDB process per run (interpreter start included), the closest match to lagoa's "
                     "whole-process times. The `startup` row is `SELECT 1` measured the same way for each.")
            eo = r.get("encryption_overhead")
            if eo:
                L.append(f"- Encryption overhead, lagoa: ingest **{eo['ingest_lagoa']:.2f}×**, full scan **{eo['full_scan_lagoa']:.2f}×** "
                         f"(DuckDB: ingest {eo['ingest_duckdb']:.2f}×, full scan {eo['full_scan_duckdb_inproc']:.2f}×).")
            di = r.get("data_info", {})
            if di:
                L.append(f"- Query year {di['query_year']} (most frequent `ano`); dates span {di['min_date']} … {di['max_date']}.")
            L.append("")

        mem = r.get("memory")
        if mem:
            L.append("## c. Memory (big CSV, encrypted lake)\n")
            verdict = "within" if mem["within_goal"] else "**OVER**"
            L.append(f"- {mem['rows']:,} rows, {mem['csv_bytes'] / 1e9:.2f} GB CSV in {mem['seconds']:.1f} s "
                     f"({mem['rows_per_s']:,.0f} rows/s, {mem['mb_per_s']:.1f} MB/s)")
            L.append(f"- Peak RSS {mem['peak_rss_bytes'] / MIB:,.0f} MiB: {verdict} the 1 GiB goal\n")
        elif "memory_skipped" in r:
            L.append(f"## c. Memory\n\n- skipped: {r['memory_skipped']}\n")

        if self.mismatches:
            L.append("## Problems\n")
            L.extend(f"- {x}" for x in self.mismatches)
            L.append("")
        return "\n".join(L)

    # ------------------------------------------------------------------ main
    def main(self) -> int:
        os.makedirs(self.wd, exist_ok=True)
        try:
            self.meta()
            self.step_ingest()
            self.step_queries()
            if self.a.big_csv and not self.a.skip_memory:
                self.step_memory()
            else:
                self.results["memory_skipped"] = "--skip-memory" if self.a.skip_memory else "no --big-csv given"
        except ChildFailed as e:
            print(e.describe(), file=sys.stderr)
            self.save(error=str(e))
            print(f"compare.py: FAILED; partial results in {os.path.join(self.wd, 'results.json')}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            self.save(error="interrupted")
            return 130
        self.results["problems"] = self.mismatches
        self.save()
        print(self.report())
        if self.mismatches:
            print("compare.py: FAILED: answers or row counts differ:\n  " + "\n  ".join(self.mismatches), file=sys.stderr)
            return 1
        return 0


def parse_args(argv):
    ap = argparse.ArgumentParser(description="Benchmark lagoa against DuckDB and PyArrow (see module docstring).")
    ap.add_argument("--lagoa", required=True, help="path to the lagoa binary")
    ap.add_argument("--csv", required=True, help="obitos CSV (header municipio,data_obito,...)")
    ap.add_argument("--workdir", required=True, help="scratch directory (lakes, Parquet files, results.json)")
    ap.add_argument("--big-csv", help="big CSV for the memory test (c)")
    ap.add_argument("--skip-memory", action="store_true", help="skip the memory test even if --big-csv is given")
    ap.add_argument("--keep-big-lake", action="store_true", help="keep <workdir>/lake-big after the memory test")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per query, best taken (default 3)")
    ap.add_argument("--year", type=int, help="year for q2/q5 (default: the most frequent `ano`)")
    ap.add_argument("--timeout", type=float, default=7200, help="seconds before a child is killed (default 7200)")
    a = ap.parse_args(argv)
    for flag, path in (("--lagoa", a.lagoa), ("--csv", a.csv), ("--big-csv", a.big_csv)):
        if path and not os.path.isfile(path):
            ap.error(f"{flag}: no such file: {path}")
    if not os.access(a.lagoa, os.X_OK):
        ap.error(f"--lagoa: not executable: {a.lagoa}")
    if a.runs < 1:
        ap.error("--runs must be >= 1")
    return a


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_child"]:
        return child_main(argv[1:])
    args = parse_args(argv)
    try:
        import duckdb  # noqa: F401
        import duckdb_ext  # noqa: F401
        import psutil  # noqa: F401
        import pyarrow  # noqa: F401
        import cryptography  # noqa: F401
    except ImportError as e:
        print(f"compare.py: {e}; run scripts/bootstrap and use .venv/bin/python", file=sys.stderr)
        return 2
    return Bench(args).main()


if __name__ == "__main__":
    sys.exit(main())
