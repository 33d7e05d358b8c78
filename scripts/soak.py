"""Soak test of `lagoa daemon` (outside the default test run).

N sources (default 200) on one-minute schedules run for M minutes (default
10) under one daemon. Every minute, new deliveries appear in a tenth of the
drop folders. At the end:

- every source ran at every minute boundary it lived through (none missed);
- no firing ran twice (the catalog's claimed firing per source equals the
  last boundary, and no delivery was committed twice);
- every delivery was committed exactly once;
- the daemon's memory stayed flat (RSS sampled every 5 s).

Usage: scripts/soak [--sources N] [--minutes M] [--bin target/release/lagoa]
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil

HEADER = "municipio;data_obito;idade;valor\n"


def delivery(path: Path, seed: int, rows: int = 50) -> None:
    lines = [HEADER]
    for i in range(rows):
        n = seed * 1000 + i
        lines.append(f"{260000 + n % 900:06d};2024-{1 + n % 12:02d}-{1 + n % 28:02d};{n % 100};{n % 997},{n % 100:02d}\n")
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(lines), encoding="latin-1")
    tmp.rename(path)


def lagoa(bin_path: str, lake: Path, *args: str) -> str:
    out = subprocess.run([bin_path, "--lake", str(lake), *args], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"lagoa {' '.join(args)} failed:\n{out.stderr}")
    return out.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sources", type=int, default=200)
    ap.add_argument("--minutes", type=int, default=10)
    ap.add_argument("--bin", default="target/release/lagoa")
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="lagoa-soak-"))
    lake = work / "lake"
    lagoa(args.bin, lake, "init")
    sources = lake / "sources"
    sources.mkdir()
    folders = []
    for i in range(args.sources):
        folder = work / "entregas" / f"s{i:03d}"
        folder.mkdir(parents=True)
        delivery(folder / "entrega_0000.csv", i)
        folders.append(folder)
        (sources / f"soak_{i:03d}.toml").write_text(
            f'''[dataset]
name = "soak_{i:03d}"
level = "corporativo"
justification = "soak test"
[parse]
decimal = ","
[[columns]]
name = "municipio"
type = "string"
[[columns]]
name = "data_obito"
type = "date"
[[columns]]
name = "idade"
type = "int32"
[[columns]]
name = "valor"
type = "decimal(12,2)"
'''
        )
        (sources / f"soak_{i:03d}.source.toml").write_text(
            f'''name = "soak_{i:03d}"
dataset = "soak_{i:03d}"
contract = "soak_{i:03d}.toml"

[schedule]
cron = "* * * * *"
timezone = "America/Sao_Paulo"

[retry]
attempts = 2
initial_backoff_seconds = 1
max_backoff_seconds = 2

[source]
type = "file"
drop_folder = "{folder}"
settle_seconds = 0
[source.csv]
encoding = "latin1"
'''
        )

    log = open(work / "daemon.log", "w")
    env = dict(os.environ, LAGOA__DAEMON__LISTEN="", LAGOA_LOG="info")
    started = time.time()
    daemon = subprocess.Popen([args.bin, "--lake", str(lake), "daemon"], stderr=log, stdout=subprocess.DEVNULL, env=env)
    proc = psutil.Process(daemon.pid)
    rss = []  # (seconds since start, MiB)
    delivered = {i: 1 for i in range(args.sources)}
    minute = 0
    end = started + args.minutes * 60
    next_sample = started
    next_drop = started + 30
    while time.time() < end:
        now = time.time()
        if now >= next_sample:
            rss.append((now - started, proc.memory_info().rss / 2**20))
            next_sample += 5
        if now >= next_drop:
            # New deliveries in a tenth of the folders, between firings.
            minute += 1
            for i in range(minute % 10, args.sources, 10):
                delivery(folders[i] / f"entrega_{minute:04d}.csv", i * 100 + minute)
                delivered[i] += 1
            next_drop += 60
        time.sleep(0.5)
    # Let the last firing's runs finish, then stop.
    time.sleep(20)
    stopped = time.time()
    daemon.send_signal(signal.SIGTERM)
    code = daemon.wait(timeout=600)
    log.close()

    runs = [json.loads(l) for l in lagoa(args.bin, lake, "runs", "--json", "--limit", "10000000").splitlines() if l.strip()]
    boundaries = [t for t in range(int(started // 60 + 1) * 60, int(stopped), 60)]
    expected_firings = len(boundaries)
    problems = []
    by_source = {}
    for r in runs:
        by_source.setdefault(r["source"], []).append(r)
    states = {}
    import sqlite3

    db = sqlite3.connect(lake / "catalog.db")
    for name, last in db.execute("SELECT source, last_fire_at FROM lagoa_source"):
        states[name] = last
    firings_seen = []
    for i in range(args.sources):
        name = f"soak_{i:03d}"
        rs = by_source.get(name, [])
        # A firing's runs start within its minute: count the minutes.
        minutes = sorted({r["started_at"] // 60_000_000 for r in rs})
        firings_seen.append(len(minutes))
        if len(minutes) < expected_firings:
            problems.append(f"{name}: ran in {len(minutes)} minutes of {expected_firings} (missed firings)")
        committed = [r for r in rs if r["status"] == "committed"]
        if len(committed) != delivered[i]:
            problems.append(f"{name}: {len(committed)} deliveries committed of {delivered[i]} delivered")
        failed = [r for r in rs if r["status"] not in ("committed", "already_ingested")]
        if failed:
            problems.append(f"{name}: {len(failed)} runs neither committed nor already ingested: {failed[0].get('error')}")
        if states.get(name) != boundaries[-1] * 1_000_000:
            problems.append(f"{name}: last claimed firing {states.get(name)} is not the last boundary {boundaries[-1]}")
        # Runs per minute never exceed the files present then (one run per file per firing).
        per_minute = {}
        for r in rs:
            per_minute[r["started_at"] // 60_000_000] = per_minute.get(r["started_at"] // 60_000_000, 0) + 1
        if max(per_minute.values(), default=0) > delivered[i]:
            problems.append(f"{name}: a minute with {max(per_minute.values())} runs for {delivered[i]} files (a firing ran twice?)")

    first = [m for t, m in rss if t < 120]
    last = [m for t, m in rss if t > (args.minutes - 2) * 60]
    median = lambda xs: sorted(xs)[len(xs) // 2] if xs else float("nan")
    report = {
        "sources": args.sources,
        "minutes": args.minutes,
        "minute_boundaries": expected_firings,
        "runs": len(runs),
        "firings_per_source_min_max": [min(firings_seen), max(firings_seen)],
        "deliveries": sum(delivered.values()),
        "daemon_exit_code": code,
        "rss_mib_first_2_min_median": round(median(first), 1),
        "rss_mib_last_2_min_median": round(median(last), 1),
        "rss_mib_max": round(max(m for _, m in rss), 1),
        "rss_mib_each_minute": [round(m, 1) for t, m in rss if int(t) % 60 < 5],
        "problems": problems[:20],
        "problem_count": len(problems),
        "workdir": str(work),
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    print(json.dumps(report, indent=2))
    sys.exit(1 if problems or code != 0 else 0)


if __name__ == "__main__":
    main()
