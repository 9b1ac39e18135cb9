#!/usr/bin/env bash
# Builds nothing itself: runs bin/mptcpd against a throwaway network namespace
# with two links (demo0, demo1: veth pairs whose peers stay in the namespace), applies examples/demo.yaml there,
# shows the result and that a second plan is empty, then deletes the
# namespace. Needs root (it creates a namespace); touches nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-bin/mptcpd}
ns="mptcpd-demo-$$"

ip netns add "$ns"
trap 'ip netns del "$ns"' EXIT
ip -n "$ns" link set lo up
for i in 0 1; do
  ip -n "$ns" link add "demo$i" type veth peer name "demo$i-peer"
  ip -n "$ns" link set "demo$i-peer" up
  ip -n "$ns" link set "demo$i" up
done
ip -n "$ns" addr add 192.0.2.1/24 dev demo0
ip -n "$ns" addr add 2001:db8::1/64 dev demo0 nodad
ip -n "$ns" addr add 198.51.100.1/24 dev demo1
ip -n "$ns" addr add 2001:db8:1::1/64 dev demo1 nodad

run() { echo "+ mptcpd $*"; "$bin" "$@"; }
run -n "$ns" check -c examples/demo.yaml
run -n "$ns" plan -c examples/demo.yaml
run -n "$ns" apply -c examples/demo.yaml
run -n "$ns" endpoint show
run -n "$ns" limits show
run -n "$ns" plan -c examples/demo.yaml --detailed-exitcode
run -n "$ns" show
