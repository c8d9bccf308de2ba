#!/bin/bash
# Chaos run: a throwaway stack of its own (scripts/stack.sh, PORT=0, a fast
# stand-in, short lease/sweep/backoff), a steady stream of POSTs through
# nginx with stand-in faults in a share of them, disruptions at random
# moments (daemon SIGKILL, API worker SIGKILL, Redis restart and FLUSHALL,
# PostgreSQL restart, a daemon SIGSTOPped past its lease, two and three
# daemons at once), then a settle and the invariants of DESIGN.md, each
# printed as a figure and PASS/FAIL. Exits 1 if any invariant fails.
#
# usage: chaos/run.sh [--short] [--duration SECONDS] [--dir DIR] [--keep]
#   --short     ~60-90 s in all, one disruption of each cheap kind (CI)
#   --duration  seconds of load (default 300; 40 with --short)
#   --dir       work folder (default a new /tmp/scenegen-chaos.XXXXXX);
#               removed at exit unless --keep or a failure
#   --keep      keep the work folder (logs, samples) in any case
#
# Environment: SCENEGEN_BUILD (binaries, default build), CHAOS_SEED,
# CHAOS_RATE (POSTs per second, default 14; 10 with --short).
set -u

here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=chaos/lib.sh
. "$here/chaos/lib.sh"
short=0 duration= dir= keep=0
while [ $# -gt 0 ]; do
	case $1 in
	--short) short=1;;
	--duration) duration=${2:?--duration SECONDS}; shift;;
	--duration=*) duration=${1#*=};;
	--dir) dir=${2:?--dir DIR}; shift;;
	--dir=*) dir=${1#*=};;
	--keep) keep=1;;
	-h|--help) sed -n '2,20p' "$0"; exit 0;;
	*) echo "chaos: unknown argument $1" >&2; exit 2;;
	esac
	shift
done
[ -n "$duration" ] || { [ "$short" = 1 ] && duration=40 || duration=300; }
case $duration in ''|*[!0-9]*) echo "chaos: --duration wants seconds" >&2; exit 2;; esac

dir=$(work_dir chaos "$dir") || exit 2
stack=$dir/stack

use_build chaos

# The stack: its own folder and port, a fast stand-in, short timings.
export PORT=0 STACK_QUIET=1
export STANDIN_ARGS="-e 0.8"
export SCENEGEN_LEASE_SECONDS=${SCENEGEN_LEASE_SECONDS:-4}
export SCENEGEN_SWEEP_SECONDS=${SCENEGEN_SWEEP_SECONDS:-2}
export SCENEGEN_PENDING_GRACE_SECONDS=${SCENEGEN_PENDING_GRACE_SECONDS:-2}
export SCENEGEN_BACKOFF_SCALE=${SCENEGEN_BACKOFF_SCALE:-0.05}
export SCENEGEN_POLL_MIN_SECONDS=${SCENEGEN_POLL_MIN_SECONDS:-0.2}
export SCENEGEN_POLL_MAX_SECONDS=${SCENEGEN_POLL_MAX_SECONDS:-1}
export SCENEGEN_HTTP_TIMEOUT=${SCENEGEN_HTTP_TIMEOUT:-5}
export SCENEGEN_CONNECT_TIMEOUT=${SCENEGEN_CONNECT_TIMEOUT:-2}
export SCENEGEN_DRAIN_SECONDS=${SCENEGEN_DRAIN_SECONDS:-2}
export NGINX_ACCESS_LOG=${NGINX_ACCESS_LOG:-off}

rc=1
cleanup() {
	trap - EXIT INT TERM
	# processes this run started besides the stack: by their pid files
	for f in "$dir"/pids/*; do
		[ -f "$f" ] || continue
		p=$(head -n1 "$f")
		case $p in ''|*[!0-9]*) continue;; esac
		kill -CONT "$p" 2>/dev/null
		kill -TERM "$p" 2>/dev/null
	done
	[ -f "$stack/daemon.pid" ] && kill -CONT "$(head -n1 "$stack/daemon.pid")" 2>/dev/null
	sleep 0.3
	for f in "$dir"/pids/*; do
		[ -f "$f" ] || continue
		p=$(head -n1 "$f")
		case $p in ''|*[!0-9]*) continue;; esac
		kill -KILL "$p" 2>/dev/null
	done
	"$here/scripts/stack.sh" stop "$stack" >/dev/null 2>&1
	local left=0
	nothing_left chaos "$dir" || { rc=1; left=1; }
	if [ "$keep" = 1 ] || [ "$rc" != 0 ]; then
		echo "chaos: work folder kept: $dir" >&2
	else
		rm -rf "$dir"
	fi
	# a process left behind fails the run
	[ "$left" = 0 ] || exit 1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$dir/pids"
echo "chaos: stack in $stack (build $SCENEGEN_BUILD)"
if ! "$here/scripts/stack.sh" start "$stack"; then
	echo "chaos: could not start the stack" >&2
	exit 1
fi

args=(--stack "$stack" --work "$dir" --duration "$duration")
[ "$short" = 1 ] && args+=(--short)
perl -I"$here/chaos/lib" "$here/chaos/chaos.pl" "${args[@]}"
rc=$?
exit $rc
