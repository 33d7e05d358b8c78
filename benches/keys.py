#!/usr/bin/env python3
"""Issue 18's measurement: the same ingest and queries with the master keys in each provider.

Side by side, on the same CSV, in one run:

- `local`: the sealed key file beside the lake (the embedded default);
- `pkcs11`: a SoftHSM2 token (the software HSM Debian ships), made for the run;
- `kms`: moto's server speaking the AWS KMS API on 127.0.0.1, started for the run.

For each: the wall time of `lagoa ingest` of the CSV into a fresh lake (best of --runs, a fresh
lake each), then the query suite of benches/compare.py as `lagoa query` processes (best of
--runs each), and how many calls each process made to its provider, counted from the
provider's own debug lines (`LAGOA_LOG=lagoa_keys=debug`: one `kms request` or `pkcs11 call`
line per call). Ratios are against `local`; the goal is within 5 %.

Usage: benches/keys.py --lagoa target/bench-release/lagoa --csv bench-data/obitos-10M.csv \\
           --workdir bench-data/keys [--runs 3]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402
from compare import DATASET, PERSONAL, queries  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN, PIN, SO_PIN = "lagoa-bench", "7281", "918273"
CALL_LINES = ("kms request", "pkcs11 call")


def log(msg: str) -> None:
    print(f"keys-bench: {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    moto = os.path.join(ROOT, ".venv/bin/moto_server")
    proc = subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("keys-bench: moto_server did not start (scripts/bootstrap)")


def make_token(work: str) -> str:
    """A fresh SoftHSM2 token under `work`; returns its configuration file."""
    tokens = os.path.join(work, "tokens")
    os.makedirs(tokens)
    conf = os.path.join(work, "softhsm2.conf")
    with open(conf, "w") as f:
        f.write(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--pin", PIN, "--so-pin", SO_PIN],
                   env=os.environ | {"SOFTHSM2_CONF": conf}, check=True, capture_output=True)
    return conf


class Bench:
    def __init__(self, a):
        self.a = a
        self.work = os.path.abspath(a.workdir)
        shutil.rmtree(self.work, ignore_errors=True)
        os.makedirs(self.work)
        self.moto, self.endpoint = start_moto()
        self.conf = make_token(self.work)
        self.env = os.environ | {
            "XDG_CONFIG_HOME": os.path.join(self.work, "config"),
            "SOFTHSM2_CONF": self.conf,
            "LAGOA_PKCS11_PIN": PIN,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "LAGOA_LOG": "lagoa_keys=debug",
        }
        self.lakes = 0
        # The CSV's first thousand rows: the first delivery of each lake.
        self.head = os.path.join(self.work, "head.csv")
        with open(a.csv, encoding="utf-8") as src, open(self.head, "w", encoding="utf-8") as dst:
            for i, line in enumerate(src):
                if i > 1000:
                    break
                dst.write(line)
        self.year = a.year

    def init_flags(self, provider: str) -> list[str]:
        if provider == "pkcs11":
            return ["--keys", "pkcs11", "--pkcs11-module", SOFTHSM_MODULE, "--pkcs11-token", TOKEN]
        if provider == "kms":
            self.lakes += 1
            return ["--keys", "kms", "--kms-endpoint", self.endpoint, "--kms-allow-http",
                    "--kms-alias-prefix", f"bench{self.lakes}/"]
        return []

    def lagoa(self, lake: str, *args: str) -> tuple[float, int, str]:
        """Runs lagoa; wall seconds, provider calls, stdout."""
        start = time.perf_counter()
        p = subprocess.run([self.a.lagoa, "--lake", lake, *args], env=self.env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if p.returncode != 0:
            raise SystemExit(f"keys-bench: lagoa {args[:2]} failed:\n{p.stderr[-3000:]}")
        calls = sum(1 for line in p.stderr.splitlines() if any(c in line for c in CALL_LINES))
        return wall, calls, p.stdout

    def ingest(self, provider: str, run: int) -> tuple[str, tuple[float, int, int]]:
        """A fresh lake of `provider` and the timed ingest into it: the lake, (seconds, calls,
        calls of its first delivery)."""
        lake = os.path.join(self.work, f"lake-{provider}-{run}")
        self.lagoa(lake, "init", *self.init_flags(provider))
        # A first small delivery makes the dataset and its keys (and the lake's own
        # secrets): the timed ingest is a delivery to a dataset that exists, as most are.
        _, first_calls, _ = self.lagoa(lake, "ingest", self.head, "--dataset", DATASET,
                                       "--personal", ",".join(PERSONAL), "--level", "especial")
        wall, calls, _ = self.lagoa(lake, "ingest", self.a.csv, "--dataset", DATASET,
                                    "--personal", ",".join(PERSONAL), "--level", "especial")
        log(f"{provider} ingest {run + 1}: {wall:.2f} s, {calls} provider calls ({first_calls} for the first)")
        return lake, (wall, calls, first_calls)

    def provider(self, provider: str, lake: str, ingests: list) -> dict:
        out = {"ingest_seconds": min(i[0] for i in ingests), "ingest_calls": ingests[0][1],
               "first_ingest_calls": ingests[0][2], "queries": {}}
        if self.year is None:
            # The newest year in the data, as compare.py picks it.
            self.year = int(self.lagoa(lake, "query", "SELECT max(ano) FROM obitos", "--format", "csv")[2].split()[-1])
        for q in queries(self.year):
            times, calls, answer = [], None, None
            for _ in range(self.a.runs):
                wall, c, stdout = self.lagoa(lake, "query", q["sql"], "--format", "csv")
                times.append(wall)
                calls = c
                answer = stdout
            out["queries"][q["id"]] = {"seconds": min(times), "calls": calls, "answer": answer}
            log(f"{provider} {q['id']}: {min(times):.3f} s, {calls} provider calls")
        out["served"] = self.served(lake, provider)
        return out

    def served(self, lake: str, provider: str) -> dict:
        """The governed path on a warm `lagoa serve` (compare.py's): best of --runs per query."""
        served = compare.Bench(argparse.Namespace(workdir=self.work, lagoa=self.a.lagoa, csv=self.a.csv,
                                                  timeout=3600, runs=self.a.runs))
        served.env = {k: v for k, v in self.env.items() if k != "LAGOA_LOG"}
        resdir = os.path.join(self.work, f"served-{provider}")
        os.makedirs(resdir)
        times = served.served_queries(queries(self.year), resdir, lake=lake)["times"]
        return {qid: min(t) for qid, t in times.items()}

    def run(self) -> dict:
        results = {"csv": self.a.csv, "runs": self.a.runs, "providers": {}}
        providers = ("local", "pkcs11", "kms")
        try:
            # Ingests interleaved (local, pkcs11, kms, local, ...) so that the machine's
            # drift over the run falls on every provider alike.
            ingests: dict = {p: [] for p in providers}
            lakes: dict = {}
            for run in range(self.a.runs):
                for provider in providers:
                    lakes[provider], measured = self.ingest(provider, run)
                    ingests[provider].append(measured)
            for provider in providers:
                results["providers"][provider] = self.provider(provider, lakes[provider], ingests[provider])
        finally:
            self.moto.kill()
        local = results["providers"]["local"]
        for name, r in results["providers"].items():
            r["ingest_ratio"] = r["ingest_seconds"] / local["ingest_seconds"]
            r["query_total_seconds"] = sum(q["seconds"] for q in r["queries"].values())
            r["query_ratio"] = r["query_total_seconds"] / local["query_total_seconds"]
            for qid, q in r["queries"].items():
                # Same rows, floating-point sums compared as compare.py does
                # (their last digits follow the threads' order).
                differs = compare.compare_results(rows_of(local["queries"][qid]["answer"]), rows_of(q["answer"]))
                if differs:
                    raise SystemExit(f"keys-bench: {name} answered {qid} differently from local: {differs}")
            r["served_total_seconds"] = sum(r["served"].values())
            r["served_ratio"] = r["served_total_seconds"] / local["served_total_seconds"]
        results["query_year"] = self.year
        return results


def rows_of(answer: str) -> list[list]:
    """A CSV answer's rows, cells read as compare.py reads them."""
    rows = list(csv.reader(io.StringIO(answer)))[1:]
    return [[compare._norm_cell(c) for c in r] for r in rows if r]


def report(results: dict) -> str:
    providers = results["providers"]
    lines = ["| | " + " | ".join(providers) + " |", "|---|" + "---:|" * len(providers)]
    lines.append("| ingest (s) | " + " | ".join(f"{r['ingest_seconds']:.2f}" for r in providers.values()) + " |")
    lines.append("| ingest / local | " + " | ".join(f"{r['ingest_ratio']:.3f}" for r in providers.values()) + " |")
    lines.append("| provider calls per ingest | " + " | ".join(str(r["ingest_calls"]) for r in providers.values()) + " |")
    lines.append("| provider calls, a lake's first ingest | " + " | ".join(str(r["first_ingest_calls"]) for r in providers.values()) + " |")
    qids = list(next(iter(providers.values()))["queries"])
    for qid in qids:
        lines.append(f"| {qid} (s, calls) | " + " | ".join(
            f"{r['queries'][qid]['seconds']:.3f}, {r['queries'][qid]['calls']}" for r in providers.values()) + " |")
    lines.append("| query suite, a process each / local | " + " | ".join(f"{r['query_ratio']:.3f}" for r in providers.values()) + " |")
    for qid in qids:
        lines.append(f"| {qid} served (s) | " + " | ".join(f"{r['served'][qid]:.3f}" for r in providers.values()) + " |")
    lines.append("| query suite, served / local | " + " | ".join(f"{r['served_ratio']:.3f}" for r in providers.values()) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lagoa", required=True)
    ap.add_argument("--csv", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--year", type=int, help="the year the suite's date filters use (default: the newest in the data)")
    a = ap.parse_args(argv)
    results = Bench(a).run()
    for r in results["providers"].values():
        for q in r["queries"].values():
            q.pop("answer")
    with open(os.path.join(a.workdir, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
