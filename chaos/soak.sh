#!/bin/bash
# Soak: a throwaway stack of its own (scripts/stack.sh, PORT=0, a stand-in
# with ETAs of a few seconds) under sustained mixed load for N minutes:
# POSTs (some with stand-in faults) and status polls through nginx. Every
# 10 s it samples VmRSS and open descriptors of every process (nginx
# master and workers, API master and workers, daemon, Redis, PostgreSQL
# postmaster and backends, stand-in), then prints a table and a verdict
# per group: flat, or growing (last third's mean above the middle third's
# by more than 10% RSS or a few descriptors). CSV in chaos/results/.
# Exits 1 if any scenegen process grows or dies.
#
# usage: chaos/soak.sh [--minutes N] [--dir DIR] [--keep]
#   --minutes  load time (default 10)
#   --dir      work folder (default a new /tmp/scenegen-soak.XXXXXX)
#   --keep     keep the work folder
#
# Environment: SCENEGEN_BUILD, SOAK_RATE (POSTs per second, default 6),
# SOAK_POLL_RATE (status GETs per second, default 10), SOAK_INTERVAL (10).
set -u

here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=chaos/lib.sh
. "$here/chaos/lib.sh"
minutes=10 dir= keep=0
while [ $# -gt 0 ]; do
	case $1 in
	--minutes) minutes=${2:?--minutes N}; shift;;
	--minutes=*) minutes=${1#*=};;
	--dir) dir=${2:?--dir DIR}; shift;;
	--dir=*) dir=${1#*=};;
	--keep) keep=1;;
	-h|--help) sed -n '2,20p' "$0"; exit 0;;
	*) echo "soak: unknown argument $1" >&2; exit 2;;
	esac
	shift
done
case $minutes in ''|*[!0-9.]*) echo "soak: --minutes wants a number" >&2; exit 2;; esac

dir=$(work_dir soak "$dir") || exit 2
stack=$dir/stack
results=$here/chaos/results
mkdir -p "$results"

use_build soak

export PORT=0 STACK_QUIET=1
export STANDIN_ARGS="-e 3"
export SCENEGEN_BACKOFF_SCALE=${SCENEGEN_BACKOFF_SCALE:-0.1}
export SCENEGEN_POLL_MIN_SECONDS=${SCENEGEN_POLL_MIN_SECONDS:-0.5}
export SCENEGEN_POLL_MAX_SECONDS=${SCENEGEN_POLL_MAX_SECONDS:-2}
export SCENEGEN_HTTP_TIMEOUT=${SCENEGEN_HTTP_TIMEOUT:-5}
export NGINX_ACCESS_LOG=${NGINX_ACCESS_LOG:-off}

rc=1
cleanup() {
	trap - EXIT INT TERM
	"$here/scripts/stack.sh" stop "$stack" >/dev/null 2>&1
	local left=0
	nothing_left soak "$dir" || { rc=1; left=1; }
	if [ "$keep" = 1 ]; then
		echo "soak: work folder kept: $dir" >&2
	else
		rm -rf "$dir"
	fi
	# a process left behind fails the run
	[ "$left" = 0 ] || exit 1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "soak: stack in $stack (build $SCENEGEN_BUILD), $minutes minutes"
if ! "$here/scripts/stack.sh" start "$stack"; then
	echo "soak: could not start the stack" >&2
	exit 1
fi
perl -I"$here/chaos/lib" "$here/chaos/soak.pl" --stack "$stack" --work "$dir" \
    --minutes "$minutes" --results "$results"
rc=$?
exit $rc
