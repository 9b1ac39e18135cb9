#!/usr/bin/env bash
# End to end under a real systemd: boots a minimal Debian 12 tree with
# systemd-nspawn (--boot --private-network), installs the .deb from dist/ into
# it and drives the service from inside with systemctl, as an operator would:
# install, enable --now, edit + reload, a rejected file + reload, an endpoint
# deleted by hand, stop. Needs root, debootstrap, systemd-container and the
# machine's apt sources (for the Debian mirror). See test/e2e/README.md.
#
# Environment:
#   MPTCPD_E2E_CACHE          where the Debian tree is kept between runs
#                             (default /var/cache/mptcpd-e2e)
#   MPTCPD_E2E_DIST           where `make package` put the packages (default
#                             dist/ of this repository)
#   MPTCPD_E2E_DEB            the package to install (default: the newest
#                             *_ARCH.deb in MPTCPD_E2E_DIST)
#   MPTCPD_E2E_MIRROR         Debian mirror URI (default: the one apt uses)
#   MPTCPD_E2E_MAX_EXPOSURE   fail when `systemd-analyze security` scores the
#                             unit above this (default: only report it)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
suite=bookworm
variant=minbase
include=systemd,systemd-sysv,dbus,iproute2
# Bump when the way the tree is made changes, so old caches are not reused.
recipe=1
cache=${MPTCPD_E2E_CACHE:-/var/cache/mptcpd-e2e}
unit=mptcpd.service
conf=/etc/mptcpd.yaml
focus=$unit

passed=0
start_time=$SECONDS
work=""
tree=""
nspawn_pid=""
leader=""

log() { printf 'e2e: %s\n' "$*"; }
die() { printf 'e2e: error: %s\n' "$*" >&2; exit 1; }

# ok records one passed check.
ok() {
	passed=$((passed + 1))
	printf 'ok %d - %s\n' "$passed" "$*"
}

# fail prints the failed check, the evidence (the other arguments) and the
# journal of the unit under test ($focus), then stops the run (cleanup runs
# from the EXIT trap).
fail() {
	printf 'FAIL - %s\n' "$1"
	printf -- '--- evidence\n'
	printf '%s\n' "${@:2}"
	if [[ -n $leader ]]; then
		printf -- '--- systemctl status %s\n' "$focus"
		ct systemctl status --no-pager --full "$focus" 2>&1 || true
		printf -- '--- journalctl -u %s -n 50\n' "$focus"
		ct journalctl -u "$focus" -n 50 --no-pager 2>&1 || true
	fi
	printf 'e2e: %d passed, 1 failed\n' "$passed"
	exit 1
}

# ct runs a command inside the booted container. The host's PID 1 need not be
# systemd (then machinectl and systemd-run -M cannot reach the container), so
# it enters every namespace of the container's init with nsenter; systemctl
# and journalctl inside then talk to the container's own systemd.
ct() {
	timeout "${ct_timeout:-120}" nsenter -t "$leader" -a \
		env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		LANG=C.UTF-8 TERM=dumb SYSTEMD_PAGER= SYSTEMD_COLORS=0 "$@"
}

# ct_write writes standard input to a file inside the container, replacing it
# in one rename as editors and config management tools do.
ct_write() {
	# shellcheck disable=SC2016 # expanded by the shell inside
	ct sh -c 'cat >"$1.e2e-new" && mv -f "$1.e2e-new" "$1"' sh "$1"
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n $nspawn_pid ]] && kill -0 "$nspawn_pid" 2>/dev/null; then
		# SIGTERM makes systemd-nspawn power the container off cleanly.
		kill -TERM "$nspawn_pid" 2>/dev/null || true
		local i
		for ((i = 0; i < 300; i++)); do
			kill -0 "$nspawn_pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$nspawn_pid" 2>/dev/null; then
			log "container did not power off; killing it"
			[[ -z $leader ]] || kill -KILL "$leader" 2>/dev/null || true
			kill -KILL "$nspawn_pid" 2>/dev/null || true
		fi
		wait "$nspawn_pid" 2>/dev/null || true
	fi
	[[ -n $work ]] && rm -rf "$work"
	exit "$rc"
}

# debian_mirror prints the URI of the machine's apt source for $suite:
# deb822 files first, then one-line sources.list files.
debian_mirror() {
	if [[ -n ${MPTCPD_E2E_MIRROR:-} ]]; then
		printf '%s\n' "$MPTCPD_E2E_MIRROR"
		return
	fi
	local f uri
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -f $f ]] || continue
		uri=$(awk -v suite="$suite" '
			BEGIN { RS = ""; FS = "\n" }
			{
				types = ""; uris = ""; suites = ""; enabled = "yes"
				for (i = 1; i <= NF; i++) {
					line = $i
					if (line ~ /^[ \t]*#/) continue
					k = tolower(line); sub(/:.*/, "", k)
					v = line; sub(/^[^:]*:[ \t]*/, "", v)
					if (k == "types") types = v
					else if (k == "uris") uris = v
					else if (k == "suites") suites = v
					else if (k == "enabled") enabled = tolower(v)
				}
				if (enabled == "no" || (" " types " ") !~ / deb /) next
				if ((" " suites " ") !~ (" " suite " ")) next
				split(uris, u, /[ \t]+/); print u[1]; exit
			}' "$f")
		[[ -n $uri ]] && { printf '%s\n' "$uri"; return; }
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -f $f ]] || continue
		uri=$(awk -v suite="$suite" '
			$1 == "deb" {
				i = 2
				if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
				if ($(i + 1) == suite) { print $i; exit }
			}' "$f")
		[[ -n $uri ]] && { printf '%s\n' "$uri"; return; }
	done
	return 1
}

# tree_ok tells whether a cached tree is complete enough to boot.
tree_ok() {
	[[ -x $1/usr/lib/systemd/systemd && -x $1/usr/bin/dpkg && -e $1/etc/os-release ]] &&
		[[ -x $1/usr/bin/ip || -x $1/bin/ip ]]
}

# debian_tree sets $tree to the cached Debian tree, building it first if
# needed. The tree is built under a temporary name and renamed into place
# only once debootstrap succeeded, so a half-built tree is never used. An
# exclusive lock serialises builders; the caller then holds it shared while
# it uses the tree, so that pruning old trees never pulls one from under a
# running test.
debian_tree() {
	local arch key tmp mirror old
	arch=$(dpkg --print-architecture)
	key=$(printf '%s\n' "$recipe" "$suite" "$variant" "$include" "$arch" | sha256sum | cut -c1-16)
	tree=$cache/$suite-$arch-$key
	mkdir -p "$cache"
	exec {lock_fd}>"$cache/.lock"
	flock "$lock_fd"
	if [[ -d $tree ]] && ! tree_ok "$tree"; then
		log "cached tree $tree is incomplete; rebuilding"
		rm -rf "$tree"
	fi
	if [[ ! -d $tree ]]; then
		mirror=$(debian_mirror) || die "no apt source for $suite in /etc/apt (set MPTCPD_E2E_MIRROR)"
		# Left-overs of builds that were killed, and trees of other recipes.
		rm -rf "$cache"/.build-*
		for old in "$cache/$suite"-*; do
			[[ -d $old && $old != "$tree" ]] && rm -rf "$old"
		done
		tmp=$(mktemp -d "$cache/.build-XXXXXX")
		log "building $suite ($variant, $include) from $mirror into the cache"
		if ! debootstrap --variant="$variant" --include="$include" "$suite" "$tmp/root" "$mirror" >"$tmp/debootstrap.log" 2>&1; then
			tail -n 30 "$tmp/debootstrap.log" >&2
			rm -rf "$tmp"
			die "debootstrap failed"
		fi
		tree_ok "$tmp/root" || die "debootstrap made an incomplete tree"
		mv -T "$tmp/root" "$tree"
		rm -rf "$tmp"
	fi
	flock -s "$lock_fd"
}

# package_file prints the .deb to install.
package_file() {
	if [[ -n ${MPTCPD_E2E_DEB:-} ]]; then
		printf '%s\n' "$MPTCPD_E2E_DEB"
		return
	fi
	local arch f newest="" dist=${MPTCPD_E2E_DIST:-$repo/dist}
	arch=$(dpkg --print-architecture)
	# The newest: a version bump leaves the older packages beside it.
	for f in "$dist"/*_"$arch".deb; do
		[[ -f $f && ( -z $newest || $f -nt $newest ) ]] && newest=$f
	done
	[[ -n $newest ]] || die "no $dist/*_$arch.deb: run make package first"
	printf '%s\n' "$newest"
}

# boot starts the container in the background and waits for its systemd.
boot() {
	local tree=$1 name=$2 i state
	# --volatile=overlay keeps the cached tree read-only under a tmpfs, so
	# nothing needs copying and nothing a test does reaches the cache.
	# --register=no --keep-unit: no machined or host systemd is needed.
	systemd-nspawn --boot --private-network --volatile=overlay \
		--register=no --keep-unit --console=read-only \
		--machine="$name" --directory="$tree" \
		</dev/null >"$work/console.log" 2>&1 &
	nspawn_pid=$!
	for ((i = 0; i < 300; i++)); do
		leader=$(ps -o pid= --ppid "$nspawn_pid" | head -n 1 | tr -d ' ') || true
		[[ -n $leader && $(cat "/proc/$leader/comm" 2>/dev/null) == systemd ]] && break
		leader=""
		kill -0 "$nspawn_pid" 2>/dev/null || break
		sleep 0.1
	done
	if [[ -z $leader ]]; then
		fail "the container boots" "$(tail -n 40 "$work/console.log")"
	fi
	# Until the container's systemd has set up /run/systemd and listens on
	# its private socket, systemctl cannot connect at all (and nsenter may
	# find the namespaces half made); after that, --wait waits for the boot.
	local deadline=$((SECONDS + 90))
	while :; do
		state=$(ct_timeout=90 ct systemctl is-system-running --wait 2>&1) || true
		case $state in running | degraded) break ;; esac
		if ((SECONDS >= deadline)) || ! kill -0 "$nspawn_pid" 2>/dev/null; then
			break
		fi
		sleep 0.2
	done
	case $state in
	running) ;;
	degraded) log "the container booted degraded: $(ct systemctl --failed --plain --no-legend --no-pager | tr '\n' ' ')" ;;
	*) fail "the container's systemd comes up" "is-system-running: $state" "$(tail -n 40 "$work/console.log")" ;;
	esac
	ok "container $name booted (systemd $(ct systemctl --version | awk 'NR == 1 { print $2 }'), init pid $leader on the host)"
}

# endpoints prints the kernel's endpoints inside the container, sorted by
# address, as ip shows them.
endpoints() { ct ip mptcp endpoint show | LC_ALL=C sort; }

# expect_endpoints checks that the endpoint table, sorted by address, has one
# line per pattern, each matching its (anchored, extended) pattern in order.
expect_endpoints() {
	local what=$1 got line i=0 good=1
	shift
	got=$(endpoints)
	local -a lines=()
	[[ -n $got ]] && mapfile -t lines <<<"$got"
	if ((${#lines[@]} != $#)); then
		good=0
	else
		for line in "${lines[@]}"; do
			i=$((i + 1))
			[[ $line =~ ^${!i}$ ]] || good=0
		done
	fi
	if ((good)); then
		ok "$what"
		return
	fi
	fail "$what" "want (patterns):" "$(printf '  %s\n' "$@")" \
		"got (ip mptcp endpoint show, sorted):" "  ${got//$'\n'/$'\n'  }"
}

expect_limits() {
	local what=$1 want=$2 got
	got=$(ct ip mptcp limits show)
	if [[ $got == "$want" ]]; then
		ok "$what"
		return
	fi
	fail "$what" "want: $want" "got:  $got"
}

expect_sysctl() {
	local what=$1 name=$2 want=$3 got
	got=$(ct cat "/proc/sys/net/mptcp/$name")
	[[ $got == "$want" ]] && { ok "$what"; return; }
	fail "$what" "net.mptcp.$name: want $want, got $got"
}

expect_active() {
	local what=$1 state
	state=$(ct systemctl is-active "$unit" 2>&1) || true
	[[ $state == active ]] && { ok "$what"; return; }
	fail "$what" "systemctl is-active $unit: $state"
}

main_pid() { ct systemctl show --property=MainPID --value "$unit"; }

# run_ct runs a command inside, recording its output and exit status in
# $out and $rc without stopping the script.
run_ct() {
	rc=0
	out=$(ct "$@" 2>&1) || rc=$?
}

main() {
	[[ $(id -u) == 0 ]] || die "must run as root (systemd-nspawn, nsenter)"
	local cmd
	for cmd in debootstrap systemd-nspawn nsenter flock timeout dpkg; do
		command -v "$cmd" >/dev/null || die "$cmd not found (apt-get install debootstrap systemd-container util-linux)"
	done
	[[ -e /proc/sys/net/mptcp/enabled ]] || die "this kernel has no MPTCP"

	local deb name
	deb=$(package_file)
	[[ -f $deb ]] || die "$deb: no such package"
	debian_tree
	work=$(mktemp -d "${TMPDIR:-/tmp}/mptcpd-e2e.XXXXXX")
	name=mptcpd-e2e-$$
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	log "tree $tree ($((SECONDS - start_time))s), package $(basename "$deb")"

	boot "$tree" "$name"

	# Links to hang endpoints on: --private-network leaves only lo, and
	# dummy links are not available everywhere, so a veth pair.
	run_ct sh -ec '
		ip link add e2e0 type veth peer name e2e0p
		ip link set e2e0 up
		ip link set e2e0p up
		ip addr add 192.0.2.1/24 dev e2e0
		ip addr add 192.0.2.2/24 dev e2e0
		ip addr add 198.51.100.1/24 dev e2e0p
		ip mptcp endpoint add 203.0.113.9 id 3 signal'
	((rc == 0)) || fail "test network set up inside the container" "$out"
	ok "veth pair e2e0/e2e0p with 192.0.2.1, 192.0.2.2, 198.51.100.1 and a hand-made endpoint 203.0.113.9 id 3"

	# Install as a person would: copy the package in, dpkg -i.
	local before
	before=$(ct ip mptcp endpoint show)
	ct sh -c 'cat >/root/mptcpd.deb' <"$deb" || fail "copy $deb into the container"
	run_ct dpkg -i /root/mptcpd.deb
	((rc == 0)) || fail "dpkg -i $(basename "$deb")" "$out"
	ok "dpkg -i $(basename "$deb")"
	run_ct systemctl is-enabled "$unit"
	[[ $out == enabled ]] || fail "the package enables $unit" "is-enabled: $out"
	ok "the package enables $unit"
	expect_active "the package starts $unit"
	run_ct test -f "$conf"
	((rc == 0)) || fail "the package ships $conf" "$out"
	if [[ $(ct ip mptcp endpoint show) != "$before" ]]; then
		fail "the shipped $conf changes nothing" "before:" "$before" "after:" "$(ct ip mptcp endpoint show)"
	fi
	ok "the shipped $conf changes nothing in the kernel"

	# The first real file: enable --now returns once it is applied.
	run_ct systemctl stop "$unit"
	((rc == 0)) || fail "systemctl stop $unit" "$out"
	ct_write "$conf" <<'EOF'
# e2e: the first file
limits:
  subflows: 3
  add_addr_accepted: 1
endpoints:
  - address: 192.0.2.1
    dev: e2e0
    id: 10
    flags: [subflow]
  - interface: e2e0p
    family: ipv4
    flags: [signal]
EOF
	run_ct systemctl enable --now "$unit"
	((rc == 0)) || fail "systemctl enable --now $unit" "$out"
	ok "systemctl enable --now $unit returned 0"
	expect_endpoints "the file is applied when start returns (203.0.113.9 removed: exclusive)" \
		'192\.0\.2\.1 id 10 subflow dev e2e0 ' \
		'198\.51\.100\.1 id [0-9]+ signal dev e2e0p '
	expect_limits "limits applied when start returns" "add_addr_accepted 1 subflows 3 "
	local signal_id pid
	signal_id=$(ct ip mptcp endpoint show | awk '$1 == "198.51.100.1" { print $3 }')
	pid=$(main_pid)

	# An edit and a reload: the change is in the kernel when reload returns.
	ct_write "$conf" <<'EOF'
# e2e: edited
limits:
  subflows: 4
  add_addr_accepted: 1
sysctl:
  add_addr_timeout: 90
endpoints:
  - address: 192.0.2.1
    dev: e2e0
    id: 10
    flags: [subflow, backup]
  - address: 192.0.2.2
    dev: e2e0
    id: 20
    flags: [subflow]
  - interface: e2e0p
    family: ipv4
    flags: [signal]
EOF
	run_ct systemctl reload "$unit"
	((rc == 0)) || fail "systemctl reload $unit after an edit" "$out"
	ok "systemctl reload $unit returned 0 after an edit"
	expect_endpoints "the edit is applied when reload returns (backup set in place, 192.0.2.2 added, signal id $signal_id kept)" \
		'192\.0\.2\.1 id 10 subflow backup dev e2e0 ' \
		'192\.0\.2\.2 id 20 subflow dev e2e0 ' \
		"198\\.51\\.100\\.1 id $signal_id signal dev e2e0p "
	expect_limits "limits edit applied when reload returns" "add_addr_accepted 1 subflows 4 "
	expect_sysctl "the sysctl edit is applied when reload returns (through the unit's sandbox)" add_addr_timeout 90

	# A bad file: reload fails, the service and the kernel stay as they were.
	local ep_before lim_before bad_line status
	ep_before=$(ct ip mptcp endpoint show)
	lim_before=$(ct ip mptcp limits show)
	ct_write "$conf" <<'EOF'
# e2e: a typo, and changes that must not reach the kernel
limits:
  subflows: 6
  add_addr_accepted: 1
sysctl:
  add_addr_timeout: 30
endpoints:
  - address: 192.0.2.1
    dev: e2e0
    id: 10
    flags: [subflow]
  - address: 192.0.2.2
    dev: e2e0
    id: 20
    flagz: [subflow]
EOF
	bad_line=$(ct grep -n 'flagz' "$conf" | cut -d: -f1)
	run_ct systemctl reload "$unit"
	((rc != 0)) || fail "systemctl reload $unit fails on a bad file" "exit status 0: $out"
	ok "systemctl reload $unit failed (exit $rc) on a bad file"
	expect_active "$unit stays active after the rejected reload"
	[[ $(main_pid) == "$pid" ]] || fail "$unit was not restarted by the rejected reload" "MainPID $pid became $(main_pid)"
	ok "$unit kept its main process ($pid)"
	if [[ $(ct ip mptcp endpoint show) != "$ep_before" || $(ct ip mptcp limits show) != "$lim_before" ]]; then
		fail "the kernel is unchanged after the rejected reload" "before:" "$ep_before" "$lim_before" \
			"after:" "$(ct ip mptcp endpoint show)" "$(ct ip mptcp limits show)"
	fi
	ok "the kernel is unchanged (ip mptcp endpoint show and limits show byte-identical)"
	expect_sysctl "net.mptcp sysctls are unchanged after the rejected reload" add_addr_timeout 90
	status=$(ct systemctl status --no-pager --full "$unit" 2>&1) || true
	[[ $status == *"$conf:$bad_line:"* ]] || fail "systemctl status shows $conf:$bad_line" "$status"
	ok "systemctl status $unit shows $conf:$bad_line: $(grep -o "$conf:$bad_line:[^;]*" <<<"$status" | head -n 1)"

	# What Ansible's validate and Puppet's validate_cmd run.
	run_ct mptcpd check -c "$conf"
	if ((rc == 0)) || [[ $out != *"$conf:$bad_line:"* ]]; then
		fail "mptcpd check rejects the bad file with $conf:$bad_line" "exit $rc" "$out"
	fi
	ok "mptcpd check -c $conf fails (exit $rc) naming $conf:$bad_line"

	# A good file again.
	ct_write "$conf" <<'EOF'
# e2e: good again
limits:
  subflows: 2
  add_addr_accepted: 1
endpoints:
  - address: 192.0.2.1
    dev: e2e0
    id: 10
    flags: [subflow, fullmesh]
  - interface: e2e0p
    family: ipv4
    flags: [signal]
EOF
	run_ct systemctl reload "$unit"
	((rc == 0)) || fail "systemctl reload $unit with a good file again" "$out"
	ok "systemctl reload $unit returned 0 with a good file again"
	expect_endpoints "the good file is applied when reload returns (192.0.2.2 removed)" \
		'192\.0\.2\.1 id 10 subflow fullmesh dev e2e0 ' \
		"198\\.51\\.100\\.1 id $signal_id signal dev e2e0p "
	expect_limits "limits applied" "add_addr_accepted 1 subflows 2 "
	status=$(ct systemctl show --property=StatusText --value "$unit")
	[[ $status != *rejected* ]] || fail "the status no longer reports the rejected file" "$status"
	ok "the status no longer reports a rejected file: $status"

	run_ct mptcpd status
	if ((rc != 0)) || [[ $out != *192.0.2.1* || $out != *198.51.100.1* ]]; then
		fail "mptcpd status shows the endpoints" "exit $rc" "$out"
	fi
	ok "mptcpd status talks to the service and shows its endpoints"

	# Drift: an endpoint deleted by hand comes back.
	local want_line t0 back=0 i
	want_line=$(ct ip mptcp endpoint show id 10)
	run_ct ip mptcp endpoint delete id 10
	((rc == 0)) || fail "ip mptcp endpoint delete id 10" "$out"
	t0=$(date +%s%N)
	for ((i = 0; i < 100; i++)); do
		if [[ $(ct ip mptcp endpoint show) == *"$want_line"* ]]; then
			back=1
			break
		fi
		sleep 0.1
	done
	((back)) || fail "an endpoint deleted by hand comes back" "waited 10s for: $want_line" "got:" "$(ct ip mptcp endpoint show)"
	ok "an endpoint deleted by hand (id 10) came back after $((($(date +%s%N) - t0) / 1000000)) ms"

	# journald holds one line per change, with the endpoint.
	local journal
	# journald files stream lines asynchronously: give it a moment.
	local missing
	for ((i = 0; i < 50; i++)); do
		journal=$(ct journalctl -u "$unit" --no-pager -o cat)
		missing=""
		for want_line in '192\.0\.2\.1 ' '192\.0\.2\.2 ' '203\.0\.113\.9 '; do
			grep -q "^changed .*endpoint=\"$want_line" <<<"$journal" || missing+=" $want_line"
		done
		[[ -z $missing ]] && break
		sleep 0.1
	done
	[[ -z $missing ]] || fail "the journal has changed lines for every endpoint changed" "missing:$missing" "$journal"
	ok "journalctl -u $unit has changed lines: $(grep -c '^changed' <<<"$journal") lines, e.g. $(grep -m 1 '^changed .*192.0.2.2' <<<"$journal")"

	# The unit's hardening, as systemd scores it.
	local exposure
	run_ct systemd-analyze security --no-pager "$unit"
	exposure=$(grep -o 'Overall exposure level for [^:]*: [0-9.]*' <<<"$out" | awk '{ print $NF }') || true
	[[ -n $exposure ]] || fail "systemd-analyze security $unit" "$out"
	if [[ -n ${MPTCPD_E2E_MAX_EXPOSURE:-} ]] && awk -v e="$exposure" -v m="$MPTCPD_E2E_MAX_EXPOSURE" 'BEGIN { exit !(e > m) }'; then
		fail "systemd-analyze security exposure at most $MPTCPD_E2E_MAX_EXPOSURE" "$out"
	fi
	ok "systemd-analyze security $unit: exposure $exposure"

	run_ct systemd-analyze verify --man=no "$unit" mptcpd@e2e.service
	((rc == 0)) || fail "systemd-analyze verify $unit mptcpd@e2e.service" "$out"
	ok "systemd-analyze verify $unit mptcpd@e2e.service${out:+: $out}"

	# Stopping leaves the endpoints in place.
	ep_before=$(ct ip mptcp endpoint show)
	run_ct systemctl stop "$unit"
	((rc == 0)) || fail "systemctl stop $unit" "$out"
	run_ct systemctl is-active "$unit"
	[[ $out == inactive ]] || fail "$unit is inactive after stop" "is-active: $out"
	[[ $(ct ip mptcp endpoint show) == "$ep_before" ]] ||
		fail "systemctl stop leaves the endpoints in place" "before:" "$ep_before" "after:" "$(ct ip mptcp endpoint show)"
	ok "systemctl stop $unit left the endpoints in place"

	# One instance per network namespace: systemd puts mptcpd@blue into
	# /run/netns/blue, and it follows /etc/mptcpd/blue.yaml.
	local ns_unit=mptcpd@blue.service
	focus=$ns_unit
	run_ct sh -ec '
		ip netns add blue
		ip -n blue link add b0 type veth peer name b0p
		ip -n blue link set b0 up
		ip -n blue link set b0p up
		ip -n blue addr add 192.0.2.77/24 dev b0
		mkdir -p /etc/mptcpd'
	((rc == 0)) || fail "network namespace blue set up inside the container" "$out"
	ct_write /etc/mptcpd/blue.yaml <<'EOF'
sysctl:
  add_addr_timeout: 45
endpoints:
  - address: 192.0.2.77
    dev: b0
    id: 7
    flags: [subflow]
EOF
	ep_before=$(ct ip mptcp endpoint show)
	run_ct systemctl start "$ns_unit"
	((rc == 0)) || fail "systemctl start $ns_unit" "$out"
	out=$(ct ip -n blue mptcp endpoint show)
	[[ $out == "192.0.2.77 id 7 subflow dev b0 " ]] || fail "$ns_unit applies /etc/mptcpd/blue.yaml in namespace blue" "$out"
	out=$(ct ip netns exec blue cat /proc/sys/net/mptcp/add_addr_timeout)
	[[ $out == 45 ]] || fail "$ns_unit sets namespace blue's sysctls" "add_addr_timeout: $out"
	[[ $(ct ip mptcp endpoint show) == "$ep_before" ]] ||
		fail "$ns_unit leaves the container's own namespace alone" "before:" "$ep_before" "after:" "$(ct ip mptcp endpoint show)"
	ok "systemctl start $ns_unit applied /etc/mptcpd/blue.yaml inside namespace blue only"
	ct sed -i 's/\[subflow\]/[subflow, backup]/' /etc/mptcpd/blue.yaml || fail "edit /etc/mptcpd/blue.yaml"
	run_ct systemctl reload "$ns_unit"
	((rc == 0)) || fail "systemctl reload $ns_unit" "$out"
	out=$(ct ip -n blue mptcp endpoint show)
	[[ $out == "192.0.2.77 id 7 subflow backup dev b0 " ]] || fail "the edit is applied in namespace blue when reload returns" "$out"
	ok "systemctl reload $ns_unit applied an edit in namespace blue"
	run_ct systemctl stop "$ns_unit"
	((rc == 0)) || fail "systemctl stop $ns_unit" "$out"
	out=$(ct ip -n blue mptcp endpoint show)
	[[ $out == "192.0.2.77 id 7 subflow backup dev b0 " ]] || fail "systemctl stop $ns_unit leaves its endpoints" "$out"
	ok "systemctl stop $ns_unit left namespace blue's endpoints in place"

	log "done in $((SECONDS - start_time))s"
	printf 'e2e: %d passed, 0 failed\n' "$passed"
}

main "$@"
