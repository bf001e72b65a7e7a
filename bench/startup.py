#!/usr/bin/env python3
"""Time from start to ready, and idle memory, of `kiteline serve` on SQLite.

Usage (from the repository root):
    cargo build --release && python3 bench/startup.py [RUNS]

For each run it starts the release binary on 127.0.0.1 with a free port and
measures the time from spawning the process to the first 200 from /readyz
(polled every millisecond), then waits IDLE_SECONDS and reads the resident
set size (VmRSS) and its peak (VmHWM) from /proc. "cold" runs start on an
empty data folder (key file and database created, migrations applied); "warm"
runs restart on the folder the cold run left. Only loopback is contacted; every
loop is bounded and the script stops by itself.
"""

import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN = os.path.abspath(os.environ.get("KITELINE_BIN", os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "kiteline")))
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 10
IDLE_SECONDS = 3.0
READY_TIMEOUT = 30.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not found")


def one_run(data_dir):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KITELINE_")}
    env.update(KITELINE_DATA_DIR=data_dir, KITELINE_LISTEN=f"127.0.0.1:{port}", KITELINE_LOG="warn")
    url = f"http://127.0.0.1:{port}/readyz"
    start = time.perf_counter()
    proc = subprocess.Popen([BIN, "serve"], env=env, cwd=data_dir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ready_ms = None
        while time.perf_counter() - start < READY_TIMEOUT:
            try:
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        ready_ms = (time.perf_counter() - start) * 1000
                        break
            except OSError:
                time.sleep(0.001)
        if ready_ms is None:
            raise RuntimeError("server did not become ready")
        time.sleep(IDLE_SECONDS)
        rss = proc_kb(proc.pid, "VmRSS")
        hwm = proc_kb(proc.pid, "VmHWM")
        return ready_ms, rss, hwm
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def summary(name, rows):
    ready = [r[0] for r in rows]
    rss = [r[1] / 1024 for r in rows]
    hwm = [r[2] / 1024 for r in rows]
    return (f"| {name} | {len(rows)} | {statistics.median(ready):.1f} | {min(ready):.1f} | {max(ready):.1f} "
            f"| {statistics.median(rss):.1f} | {max(rss):.1f} | {max(hwm):.1f} |")


def main():
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} not found: run `cargo build --release` first")
    cold, warm = [], []
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory(prefix="kl-bench-") as d:
            cold.append(one_run(d))
            warm.append(one_run(d))
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    version = subprocess.run([BIN, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"{version}, SQLite, {os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}")
    print(f"idle RSS read {IDLE_SECONDS:.0f} s after ready\n")
    print("| start | runs | ready median ms | min | max | idle RSS median MiB | max | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|")
    print(summary("cold (empty data folder)", cold))
    print(summary("warm (existing data folder)", warm))


if __name__ == "__main__":
    main()
