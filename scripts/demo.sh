#!/usr/bin/env bash
# Builds nothing itself: runs bin/mptcpd against a throwaway network namespace
# with two links (demo0, demo1: veth pairs whose peers stay in the namespace),
# applies examples/demo.yaml there, shows the result and that a second plan is
# empty, then deletes the namespace. Needs root (it creates a namespace);
# touches nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-bin/mptcpd}
ns="mptcpd-demo-$$"

ip netns add "$ns"
trap 'ip netns del "$ns"; echo; echo "(namespace $ns deleted; nothing outside it was changed)"' EXIT
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

echo "A throwaway network namespace ($ns) with demo0 (192.0.2.1, 2001:db8::1)"
echo "and demo1 (198.51.100.1, 2001:db8:1::1); every command below runs in it"
echo "with -n $ns."

# step prints what it runs (without the -n option every line shares), then
# its output.
step() {
  local why=$1
  shift
  echo
  echo "==> $why"
  echo "\$ mptcpd $*"
  "$bin" -n "$ns" "$@"
}
step "validate the file (needs no privilege)" check -c examples/demo.yaml
step "what apply would change" plan -c examples/demo.yaml
step "make the kernel match the file" apply -c examples/demo.yaml
step "the endpoints, as ip mptcp endpoint show prints them" endpoint show
step "the limits, as ip mptcp limits show prints them" limits show
status=0
step "nothing left to do: plan again (exit 0 = no changes, 2 = changes pending)" \
  plan -c examples/demo.yaml --detailed-exitcode || status=$?
echo "(exit status $status)"
[ "$status" -eq 0 ]
step "the live state as a config file (every net.mptcp sysctl included)" show
