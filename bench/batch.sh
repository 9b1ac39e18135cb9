#!/usr/bin/env bash
# Times `mptcpd -n NS -batch FILE` against `ip -n NS -batch FILE` for the same
# 8 endpoint adds, as whole processes, interleaved in one run (see
# bench/batchtime), and prints medians, p90 and the ratio mptcpd/ip.
#
# Usage: bench/batch.sh [MPTCPD]   (root: it makes a network namespace)
# MPTCPD is the binary to time (make bench passes bin/mptcpd); without it,
# mptcpd is built as the Makefile builds it. ROUNDS sets the timed runs of
# each (default 200).
set -euo pipefail

rounds=${ROUNDS:-200}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
ns="mptcpd-bench-$$"

cleanup() {
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

cd "$root"
if [ $# -ge 1 ]; then
	bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
else
	bin="$tmp/mptcpd"
	go build -trimpath -ldflags "-s -w" -o "$bin" ./cmd/mptcpd
fi
go build -o "$tmp/batchtime" ./bench/batchtime
ip netns add "$ns"
ip -n "$ns" link set lo up
"$tmp/batchtime" -ns "$ns" -mptcpd "$bin" -rounds "$rounds"
