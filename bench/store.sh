#!/usr/bin/env bash
# Store operations per second on SQLite and PostgreSQL, group commit on
# SQLite, and a bare axum endpoint in the same run as the baseline.
#
# Usage (from the repository root): bash bench/store.sh [SECONDS]
# Needs wrk (Debian package) for the baseline, and PostgreSQL on
# 127.0.0.1:5432 (or KITELINE_TEST_DATABASE_URL) for its figures. Talks only
# to loopback and a temporary SQLite file; every loop stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-3}"
TARGET="${CARGO_TARGET_DIR:-target}"

cargo build --release -q -p kiteline-web --example bare_axum
cargo bench -q -p kiteline-store --bench ops --no-run 2>/dev/null

echo "commit $(git rev-parse --short HEAD), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(uname -sr), $(date -u +%F)"
echo

"$TARGET/release/examples/bare_axum" 0 > /tmp/kiteline-bare.addr &
BARE=$!
trap 'kill $BARE 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do [ -s /tmp/kiteline-bare.addr ] && break; sleep 0.1; done
URL="$(cat /tmp/kiteline-bare.addr)"
if command -v wrk >/dev/null; then
  RPS=$(wrk -t2 -c16 -d"${SECS}s" "$URL/" | awk '/Requests\/sec/ {print $2}')
  echo "bare axum GET / (wrk, 2 threads, 16 connections): ${RPS} requests/s"
else
  echo "wrk is not installed: no bare-axum baseline"
fi
kill $BARE 2>/dev/null || true
echo

cargo bench -q -p kiteline-store --bench ops -- "$SECS"
