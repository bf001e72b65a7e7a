#!/usr/bin/env python3
"""Memory of `kiteline serve` under a burst of simultaneous logins.

Usage (from the repository root):
    cargo build --release && python3 bench/login_burst.py [LOGINS]

Starts the release binary on 127.0.0.1 (SQLite, rate limits off so that every
login is verified), creates the first admin through its single-use link, then
sends LOGINS (default 60) wrong-password logins at once from as many threads,
and reports the resident set size before and at its peak (VmHWM), the time
the burst took and how many answers were 401 (verified) or 503 (waited past
the Argon2 cap). In the same run it loads a bare axum endpoint with wrk for the
baseline. Only loopback is contacted; every loop is bounded.
"""

import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import http.cookiejar

TARGET = os.environ.get("CARGO_TARGET_DIR", "target")
BIN = os.path.abspath(os.path.join(TARGET, "release", "kiteline"))
BARE = os.path.abspath(os.path.join(TARGET, "release", "examples", "bare_axum"))
LOGINS = int(sys.argv[1]) if len(sys.argv) > 1 else 60
PASSWORD = "correct horse battery staple"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def opener():
    return urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
        NoRedirect(),
    )


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def post(o, url, fields):
    page = o.open(url).read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"csrf": csrf, **fields}).encode()
    try:
        return o.open(url, data).status
    except urllib.error.HTTPError as e:
        return e.code


def main():
    data = tempfile.mkdtemp(prefix="kl-bench-")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KITELINE_")}
    env.update(KITELINE_DATA_DIR=data, KITELINE_LISTEN=f"127.0.0.1:{port}", KITELINE_RATE_LIMITS="off", KITELINE_LOG="warn")
    server = subprocess.Popen([BIN, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/readyz", timeout=1)
                break
            except Exception:
                time.sleep(0.02)
        link_file = os.path.join(data, "links", "first-admin.txt")
        for _ in range(100):
            if os.path.exists(link_file):
                break
            time.sleep(0.02)
        link = open(link_file).read().strip().replace(f"http://127.0.0.1:{port}", base)
        status = post(opener(), link, {"name": "Bench", "email": "bench@example.org", "password": PASSWORD, "confirm": PASSWORD})
        assert status == 200, status
        before = kb(server.pid, "VmRSS")
        results = []
        lock = threading.Lock()
        go = threading.Event()

        def attempt():
            o = opener()
            page = o.open(base + "/login").read().decode()
            csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
            body = urllib.parse.urlencode({"csrf": csrf, "email": "bench@example.org", "password": "wrong wrong wrong"}).encode()
            go.wait()
            try:
                code = o.open(base + "/login", body).status
            except urllib.error.HTTPError as e:
                code = e.code
            with lock:
                results.append(code)

        threads = [threading.Thread(target=attempt) for _ in range(LOGINS)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        start = time.monotonic()
        go.set()
        for t in threads:
            t.join(timeout=60)
        took = time.monotonic() - start
        peak = kb(server.pid, "VmHWM")
    finally:
        server.terminate()
        server.wait(timeout=30)

    bare_port = free_port()
    bare = subprocess.Popen([BARE, str(bare_port)], stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    try:
        out = subprocess.run(["wrk", "-t2", "-c16", "-d3s", f"http://127.0.0.1:{bare_port}/"], capture_output=True, text=True).stdout
        rps = re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)
    except FileNotFoundError:
        rps = "(wrk not installed)"
    finally:
        bare.terminate()

    print(f"{LOGINS} simultaneous wrong logins, rate limits off, release build, SQLite")
    print(f"| RSS before MiB | peak RSS MiB | burst took s | 401 (verified) | 503 (waited past the cap) | other |")
    print(f"|---|---|---|---|---|---|")
    other = len([r for r in results if r not in (401, 503)])
    print(f"| {before/1024:.1f} | {peak/1024:.1f} | {took:.2f} | {results.count(401)} | {results.count(503)} | {other} |")
    print(f"bare axum GET / in the same run (wrk -t2 -c16 -d3s): {rps} requests/s")


if __name__ == "__main__":
    main()
