#!/usr/bin/env python3
"""Issue 22's measurement: governed queries and indicators, locally and on a Ballista cluster.

One run, the same encrypted lake, three modes:

- `local`: the query service runs each statement in its own process (`[query] engine = "local"`);
- `cluster-1`, `cluster-2`: a scheduler and one or two executors on this machine, started from the
  same binary (`lagoa cluster scheduler|executor`, work directories under /dev/shm), the query
  service submitting to them (`engine = "ballista"`);
- `cluster-2-tls`: the same two executors with mutual TLS among every member (`[cluster]`
  certificates made with openssl under the work directory), as a cluster beyond one machine runs.

a. The query suite of benches/compare.py (q1..q5, full scan) through `lagoa serve`'s HTTP API as a
   governed analyst (guard, policy, audit), the server warm, best of --runs. Every answer is compared
   with the local one (compare.py's tolerant comparison of numbers).
b. The policy indicators over a generated state (`lagoa demo run`, --municipalities x --years):
   `lagoa indicator verify` of each committed run recomputes the indicator from the inputs it
   recorded and exits non-zero unless it gives what was published, so every mode's answer is
   checked; best of --runs per indicator.

On one two-core machine a cluster adds planning, gRPC, shuffle through tmpfs and Arrow Flight round
trips to the same two CPUs: the ratios report that overhead, not a speed-up.

Usage: benches/cluster.py --lagoa target/bench-release/lagoa --csv bench-data/obitos-1000000.csv \\
           --workdir bench-data/cluster [--runs 3] [--municipalities 40] [--years 2019-2024]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (the query suite, the lake's setup and the measuring helpers)

MODES = (("local", 0, False), ("cluster-1", 1, False), ("cluster-2", 2, False), ("cluster-2-tls", 2, True))


def log(msg: str) -> None:
    print(f"cluster: {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    """A free port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"cluster.py: {what} did not listen on {port} within {seconds:g} s")


def cluster_certificates(workdir: str) -> dict:
    """A certificate authority and a member certificate for 127.0.0.1 (openssl), as `[cluster]` env."""
    d = os.path.join(workdir, "cluster-tls")
    os.makedirs(d, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    steps = [
        ["req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=bench CA"],
        ["req", *ec, "-keyout", "member.key", "-out", "member.csr", "-subj", "/CN=member"],
        ["x509", "-req", "-in", "member.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", "member.pem", "-days", "2", "-extfile", "san.ext"],
    ]
    with open(os.path.join(d, "san.ext"), "w", encoding="utf-8") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for step in steps:
        subprocess.run(["openssl", *step], cwd=d, check=True, capture_output=True)
    return {"LAGOA__CLUSTER__CA_FILE": os.path.join(d, "ca.pem"),
            "LAGOA__CLUSTER__CERT_FILE": os.path.join(d, "member.pem"),
            "LAGOA__CLUSTER__KEY_FILE": os.path.join(d, "member.key")}


class Cluster:
    """A scheduler and `executors` executors over `lake`, stopped on exit; `tls`: the `[cluster]` env."""

    def __init__(self, lagoa: str, lake: str, executors: int, env: dict, tls: dict):
        self.tls = tls
        env = dict(env) | tls
        self.processes: list[subprocess.Popen] = []
        self.shm = tempfile.mkdtemp(prefix="lagoa-bench-", dir="/dev/shm")
        port = free_port()
        self.scheduler = f"127.0.0.1:{port}"
        self.start([lagoa, "--lake", lake, "cluster", "scheduler", "--bind", self.scheduler], env)
        wait_listening(port, "the scheduler")
        for i in range(executors):
            flight = free_port()
            self.start([lagoa, "--lake", lake, "cluster", "executor", "--scheduler", self.scheduler,
                        "--bind", f"127.0.0.1:{flight}", "--work-dir", os.path.join(self.shm, f"executor-{i}")], env)
            wait_listening(flight, f"executor {i}")
        # Executors register with their first heartbeat.
        time.sleep(3)

    def start(self, cmd: list[str], env: dict) -> None:
        log(" ".join(cmd))
        self.processes.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL, env=env))

    def env(self) -> dict:
        return {"LAGOA__QUERY__ENGINE": "ballista", "LAGOA__QUERY__SCHEDULER": self.scheduler} | self.tls

    def stop(self) -> None:
        for p in self.processes:
            p.terminate()
        for p in self.processes:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(self.shm, ignore_errors=True)


def with_cluster(bench: compare.Bench, lake: str, mode: tuple, work):
    """`work(env_extra)` locally (no executor) or on a cluster of the mode's executors over `lake`."""
    _, executors, tls = mode
    if executors == 0:
        return work({})
    cluster = Cluster(bench.lagoa, lake, executors, bench.env, cluster_certificates(bench.wd) if tls else {})
    try:
        return work(cluster.env())
    finally:
        cluster.stop()


def queries_step(bench: compare.Bench, results: dict) -> list[str]:
    lake = bench.lagoa_ingest("lake-enc", True, bench.csv, "lagoa enc")["lake"]
    year = int(bench.lagoa_out(lake, "query", "SELECT ano FROM obitos GROUP BY ano ORDER BY count(*) DESC, ano LIMIT 1",
                               "--format", "csv").splitlines()[1])
    qs = compare.queries(year)
    token = bench.govern(lake)
    problems: list[str] = []
    per_mode: dict = {}
    for spec in MODES:
        mode = spec[0]
        resdir = bench.fresh(f"results-{mode}")
        os.makedirs(resdir)
        served = with_cluster(bench, lake, spec,
                              lambda extra: bench.served_queries(qs, resdir, lake=lake, token=token, env_extra=extra))
        per_mode[mode] = {q["id"]: min(served["times"][q["id"]]) for q in qs}
        if mode != "local":
            for q in qs:
                ref = compare.read_result_csv(os.path.join(bench.wd, "results-local", f"{q['id']}.lagoa_served.csv"), q["header"])
                got = compare.read_result_csv(os.path.join(resdir, f"{q['id']}.lagoa_served.csv"), q["header"])
                diff = compare.compare_results(ref, got)
                if diff is not None:
                    problems.append(f"{q['id']} on {mode} differs from local: {diff}")
    results["queries"] = {q["id"]: {"sql": q["sql"]} | {m[0]: per_mode[m[0]][q["id"]] for m in MODES} for q in qs}
    return problems


def indicators_step(bench: compare.Bench, args, results: dict) -> list[str]:
    lake = bench.fresh("lake-demo")
    first, last = args.years.split("-")
    bench.run(bench.lagoa_cmd(lake, "demo", "run", "--municipalities", str(args.municipalities),
                              "--years", f"{first}-{last}"), "lagoa demo run")
    runs = [json.loads(line) for line in bench.lagoa_out(lake, "indicator", "runs", "--json", "--limit", "100").splitlines()]
    committed = {}
    for r in runs:
        if r.get("status") == "committed":
            committed.setdefault(r["indicator"], r["run_id"])
    problems: list[str] = []
    times: dict = {name: {} for name in committed}
    for spec in MODES:
        mode = spec[0]

        def verify_all(extra: dict, mode=mode) -> None:
            env = dict(bench.env) | extra
            for name, run_id in sorted(committed.items()):
                cmd = bench.lagoa_cmd(lake, "indicator", "verify", run_id)
                best = None
                for i in range(args.runs):
                    try:
                        m = bench.run(cmd, f"{mode} verify {name} run {i + 1}", env=env)
                    except compare.ChildFailed as e:
                        problems.append(f"{name} on {mode}: {e.describe()}")
                        break
                    best = m.wall_s if best is None else min(best, m.wall_s)
                times[name][mode] = best

        with_cluster(bench, lake, spec, verify_all)
    results["indicators"] = times
    return problems


def report(results: dict) -> str:
    lines = ["# Governed queries and indicators: local and on a Ballista cluster", "",
             f"{results['meta']['csv_rows']:,} rows; best of {results['meta']['runs']} runs; seconds.", "",
             "| query | local | 1 executor | 2 executors | 2, mutual TLS | 1 exec / local | 2 exec / local | 2 TLS / local |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]

    def row(name: str, e: dict) -> str:
        return (f"| {name} | {e['local']:.3f} | {e['cluster-1']:.3f} | {e['cluster-2']:.3f} | {e['cluster-2-tls']:.3f} | "
                f"{e['cluster-1'] / e['local']:.2f} | {e['cluster-2'] / e['local']:.2f} | {e['cluster-2-tls'] / e['local']:.2f} |")

    for qid, e in results["queries"].items():
        lines.append(row(qid, e))
    lines += ["", "| indicator (verify: recompute and compare) | local | 1 executor | 2 executors | 2, mutual TLS | 1 exec / local | 2 exec / local | 2 TLS / local |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, e in sorted(results.get("indicators", {}).items()):
        if all(e.get(m[0]) for m in MODES):
            lines.append(row(name, e))
    if results.get("problems"):
        lines += ["", "## Problems", ""] + [f"- {p}" for p in results["problems"]]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lagoa", required=True)
    ap.add_argument("--csv", required=True, help="obitos CSV from lagoa-bench-gen")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--municipalities", type=int, default=40)
    ap.add_argument("--years", default="2019-2024")
    ap.add_argument("--timeout", type=float, default=3600)
    args = ap.parse_args(argv)
    if not os.path.isdir("/dev/shm"):
        raise SystemExit("cluster.py: the executors' work directories need /dev/shm")
    bench = compare.Bench(args)
    os.makedirs(bench.wd, exist_ok=True)
    bench.csv_rows = compare.count_csv_rows(bench.csv)
    bench.csv_bytes = os.path.getsize(bench.csv)
    version = subprocess.run([bench.lagoa, "--version"], capture_output=True, text=True).stdout.strip()
    results: dict = {"meta": {"lagoa": version, "csv": bench.csv, "csv_rows": bench.csv_rows, "runs": args.runs,
                              "cpus": os.cpu_count(), "municipalities": args.municipalities, "years": args.years}}
    try:
        problems = queries_step(bench, results)
        problems += indicators_step(bench, args, results)
    except compare.ChildFailed as e:
        print(e.describe(), file=sys.stderr)
        return 1
    results["problems"] = problems
    with open(os.path.join(bench.wd, "results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    text = report(results)
    with open(os.path.join(bench.wd, "report.md"), "w", encoding="utf-8") as f:
        f.write(text)
    print(text)
    if problems:
        print("cluster.py: FAILED: " + "; ".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
