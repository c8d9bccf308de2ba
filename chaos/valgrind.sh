#!/bin/bash
# Valgrind run: scenegend under memcheck for thousands of jobs with faults.
#
# A throwaway stack of its own (scripts/stack.sh, PORT=0, the plain build,
# a fast stand-in, short backoff and poll intervals) whose daemon runs
# under valgrind (DAEMON_WRAPPER). Jobs go in through nginx with valid
# tokens, each carrying a stand-in fault marker or none (chaos/valgrind.pl:
# processing with small ETAs, 5xx, 429 with Retry-After, errors under
# HTTP 200, hangs past the timeout, dropped connections, malformed,
# truncated and oversized JSON, fetch faults, failed generations, image
# downloads that 404, fatal refusals, poison jobs); one job in four has a
# webhook of every event to the stand-in's receiver (delivered, retried
# after a 500, or gone), and one in twenty is canceled by its owner as
# soon as it is posted. Once half of the rows
# are final the daemon is stopped with SIGTERM, work in flight (drain,
# hand back), and started again under valgrind; once every row is final
# it is stopped with SIGTERM again. Each valgrind log must show 0 errors
# and 0 bytes definitely, indirectly and possibly lost. Memory still
# reachable at exit (library globals) is not counted.
#
# Prints jobs, completed, failed, and per daemon run the ERROR SUMMARY,
# the lost bytes and the wall time. Exits 1 on any valgrind error or leak,
# a daemon that did not stop cleanly, or a row left unfinished.
#
# usage: chaos/valgrind.sh [--jobs N] [--dir DIR] [--keep]
#   --jobs   jobs to enqueue (default VALGRIND_JOBS or 3000)
#   --dir    work folder (default a new /tmp/scenegen-valgrind.XXXXXX);
#            removed at exit unless --keep or a failure
#   --keep   keep the work folder (valgrind logs, daemon log) in any case
#
# Environment: SCENEGEN_BUILD (binaries, default build: not an ASan
# build), VALGRIND_JOBS, VALGRIND_MAX_QUEUED (jobs the daemon holds at
# once, default 150), VALGRIND_TIMEOUT (seconds for every row to become
# final, default 1800), VALGRIND_STOP_WAIT (seconds a SIGTERMed daemon
# may take to drain and check its heap, default 600), VALGRIND_SEED,
# VALGRIND_OPTS (more valgrind options, read by valgrind itself).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=chaos/lib.sh
. "$here/chaos/lib.sh"
jobs=${VALGRIND_JOBS:-3000} dir='' keep=0
while [ $# -gt 0 ]; do
	case $1 in
	--jobs) jobs=${2:?--jobs N}; shift;;
	--jobs=*) jobs=${1#*=};;
	--dir) dir=${2:?--dir DIR}; shift;;
	--dir=*) dir=${1#*=};;
	--keep) keep=1;;
	-h|--help) sed -n '2,33p' "$0"; exit 0;;
	*) echo "valgrind: unknown argument $1" >&2; exit 2;;
	esac
	shift
done
case $jobs in ''|*[!0-9]*|0) echo "valgrind: --jobs wants a count" >&2; exit 2;; esac
timeout=${VALGRIND_TIMEOUT:-1800}
stop_wait=${VALGRIND_STOP_WAIT:-600}

command -v valgrind >/dev/null ||
    { echo "valgrind: no valgrind (apt-get install valgrind)" >&2; exit 2; }
dir=$(work_dir valgrind "$dir") || exit 2
# DAEMON_WRAPPER is split on spaces: the log paths in it must have none.
case $dir in *[[:space:]]*) echo "valgrind: $dir: no spaces, please" >&2; exit 2;; esac
stack=$dir/stack

use_build valgrind
# AddressSanitizer and valgrind do not mix: the plain build only.
if nm "$SCENEGEN_BUILD/scenegend" 2>/dev/null | grep -q __asan_init; then
	echo "valgrind: $SCENEGEN_BUILD/scenegend is an ASan build; use build/" >&2
	exit 2
fi

# The stack: its own folder and port, a stand-in with ETAs under a
# second, fast retries and polls. valgrind makes the daemon 20-50 times
# slower: leases, timeouts and the drain leave room for that.
export PORT=0 STACK_QUIET=1
export STANDIN_ARGS="-e 0.5"
export MODELSLAB_MAX_QUEUED=${VALGRIND_MAX_QUEUED:-150}
export SCENEGEN_BACKOFF_SCALE=${SCENEGEN_BACKOFF_SCALE:-0.02}
export SCENEGEN_POLL_MIN_SECONDS=${SCENEGEN_POLL_MIN_SECONDS:-0.25}
export SCENEGEN_POLL_MAX_SECONDS=${SCENEGEN_POLL_MAX_SECONDS:-1}
export SCENEGEN_HTTP_TIMEOUT=${SCENEGEN_HTTP_TIMEOUT:-5}
export SCENEGEN_CONNECT_TIMEOUT=${SCENEGEN_CONNECT_TIMEOUT:-3}
export SCENEGEN_LEASE_SECONDS=${SCENEGEN_LEASE_SECONDS:-15}
export SCENEGEN_SWEEP_SECONDS=${SCENEGEN_SWEEP_SECONDS:-3}
export SCENEGEN_PENDING_GRACE_SECONDS=${SCENEGEN_PENDING_GRACE_SECONDS:-3}
export SCENEGEN_DRAIN_SECONDS=${SCENEGEN_DRAIN_SECONDS:-3}
export NGINX_ACCESS_LOG=${NGINX_ACCESS_LOG:-off}
# Webhooks (one job in four) go to the stand-in's receiver on loopback.
export SCENEGEN_WEBHOOK_ALLOW_PRIVATE=1
export SCENEGEN_WEBHOOK_BACKOFF_SCALE=${SCENEGEN_WEBHOOK_BACKOFF_SCALE:-0.001}

# valgrind for daemon run $1: its own log, our suppressions (if any).
vg_wrapper() {
	local w="valgrind --leak-check=full"
	w+=" --show-leak-kinds=definite,indirect,possible"
	w+=" --errors-for-leak-kinds=definite,indirect,possible"
	w+=" --error-exitcode=99 --track-fds=no --num-callers=30"
	if grep -q '^{' "$here/chaos/valgrind.supp" 2>/dev/null; then
		w+=" --suppressions=$here/chaos/valgrind.supp"
	fi
	echo "$w --log-file=$dir/valgrind-$1.log"
}

rc=1 enq_pid=''
# shellcheck disable=SC2317	# called by the trap
cleanup() {
	trap - EXIT INT TERM
	# the load, if still going (it stops its own clients)
	if [ -n "$enq_pid" ]; then kill -TERM "$enq_pid" 2>/dev/null || true; fi
	"$here/scripts/stack.sh" stop "$stack" >/dev/null 2>&1 || true
	local left=0
	nothing_left valgrind "$dir" || { rc=1; left=1; }
	if [ "$keep" = 1 ] || [ "$rc" != 0 ]; then
		echo "valgrind: work folder kept: $dir" >&2
	else
		rm -rf "$dir"
	fi
	# a process left behind fails the run
	[ "$left" = 0 ] || exit 1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t_start=$(date +%s)
elapsed() { echo $(($(date +%s) - t_start)); }
say() { printf '[%5ss] %s\n' "$(elapsed)" "$*"; }

sql() { psql -X -q -t -A -d "$DATABASE_URL" -c "$1"; }

# "final unfinished" counts of the rows; "? ?" when PostgreSQL did not say.
counts() {
	sql "SELECT count(*) FILTER (WHERE status IN ('completed', 'failed', 'canceled')),
	    count(*) FILTER (WHERE status NOT IN ('completed', 'failed', 'canceled'))
	    FROM image_generations" 2>/dev/null | tr '|' ' ' || echo '? ?'
}

daemon_pid() { head -n1 "$stack/daemon.pid" 2>/dev/null || true; }

# Wait until daemon run $1 has logged "ready:" (its $1-th), up to 300 s.
wait_ready() {
	local n=$1 pid
	pid=$(daemon_pid)
	for _ in $(seq 1 600); do
		[ "$(grep -c '^<[0-9]>scenegend: ready:' "$stack/daemon.log" || true)" -ge "$n" ] &&
		    return 0
		kill -0 "$pid" 2>/dev/null ||
		    { say "daemon run $n died before it was ready"; tail -n5 "$stack/daemon.log"; return 1; }
		sleep 0.5
	done
	say "daemon run $n not ready after 300 s"
	return 1
}

declare -A run_start run_end run_stop run_line
# Start daemon run $1 under valgrind through stack.sh.
start_daemon() {
	local n=$1
	run_start[$n]=$(date +%s)
	run_line[$n]=$(($(wc -l <"$stack/daemon.log") + 1))
	DAEMON_WRAPPER=$(vg_wrapper "$n") \
	    "$here/scripts/stack.sh" start-part "$stack" daemon
	wait_ready "$n"
	say "daemon run $n (pid $(daemon_pid)) under valgrind: ready after $(($(date +%s) - run_start[$n])) s"
}

# SIGTERM daemon run $1 and wait for valgrind to finish its leak check;
# never SIGKILL before stop_wait (a killed run has no leak summary).
stop_daemon() {
	local n=$1 pid
	pid=$(daemon_pid)
	if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
		say "daemon run $n is not running"
		return 1
	fi
	run_stop[$n]=$(date +%s)
	# its supervisor first: a run that exits non-zero (valgrind's
	# --error-exitcode) must not be started again under this run's options
	local f
	for f in "$stack"/supervise*.pid; do
		[ -f "$f" ] && kill -TERM "$(head -n1 "$f")" 2>/dev/null
		rm -f "$f"
	done
	kill -TERM "$pid"
	for _ in $(seq 1 $((stop_wait * 5))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "daemon run $n still up $stop_wait s after SIGTERM: SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		rm -f "$stack/daemon.pid"
		return 1
	fi
	rm -f "$stack/daemon.pid"
	run_end[$n]=$(date +%s)
	say "daemon run $n stopped: SIGTERM to exit $((run_end[$n] - run_stop[$n])) s"
}

mkdir -p "$dir/work"
echo "valgrind: $jobs jobs, stack in $stack (build $SCENEGEN_BUILD)"
run_start[1]=$(date +%s) run_line[1]=1
if ! DAEMON_WRAPPER=$(vg_wrapper 1) "$here/scripts/stack.sh" start "$stack"; then
	echo "valgrind: could not start the stack" >&2
	exit 1
fi
# shellcheck disable=SC1091
. "$stack/env"
wait_ready 1
say "daemon run 1 (pid $(daemon_pid)) under valgrind: ready after $(($(date +%s) - run_start[1])) s"

# The load runs beside the daemon: the restart comes while jobs still
# arrive, and jobs wait in the stream while no daemon runs.
say "enqueueing $jobs jobs through nginx"
perl -I"$here/chaos/lib" "$here/chaos/valgrind.pl" enqueue --stack "$stack" \
    --work "$dir/work" --jobs "$jobs" &
enq_pid=$! enq_rc=''

# Wait for the rows: the restart at half way, then every row final.
restart_at=$((jobs / 2)) restarted=0 last_print=0 final=0 left=$jobs
while :; do
	if [ -z "$enq_rc" ] && ! kill -0 "$enq_pid" 2>/dev/null; then
		enq_rc=0
		wait "$enq_pid" || enq_rc=$?
		enq_pid=''
		[ "$enq_rc" = 0 ] || { say "enqueueing failed"; break; }
	fi
	read -r final left < <(counts) || true
	if [ "$final" != '?' ]; then
		if [ "$restarted" = 0 ] && [ "$final" -ge "$restart_at" ]; then
			say "$final of $jobs final, $left unfinished: restarting the daemon with work in flight"
			stop_daemon 1
			start_daemon 2
			restarted=1
			continue
		fi
		if [ "$enq_rc" = 0 ] && [ "$left" = 0 ] && [ "$final" -ge "$jobs" ] &&
		    [ "$restarted" = 1 ]; then
			break
		fi
	fi
	if [ $(($(elapsed) - last_print)) -ge 30 ]; then
		say "$final final, $left unfinished"
		last_print=$(elapsed)
	fi
	if [ "$(elapsed)" -ge "$timeout" ]; then
		say "timed out after $timeout s: $left rows unfinished"
		break
	fi
	kill -0 "$(daemon_pid)" 2>/dev/null ||
	    { say "the daemon died"; tail -n5 "$stack/daemon.log"; break; }
	sleep 1
done
say "$final final, $left unfinished: stopping the daemon"
stopped_clean=1
stop_daemon "$((restarted + 1))" || stopped_clean=0

# --- figures ------------------------------------------------------------
fail=0
read -r completed failed canceled other < <(sql "SELECT
    count(*) FILTER (WHERE status = 'completed'),
    count(*) FILTER (WHERE status = 'failed'),
    count(*) FILTER (WHERE status = 'canceled'),
    count(*) FILTER (WHERE status NOT IN ('completed', 'failed', 'canceled'))
    FROM image_generations" | tr '|' ' ')
echo
echo "jobs $jobs: completed $completed, failed $failed, canceled $canceled, unfinished $other"
echo "webhook deliveries: $(sql "SELECT string_agg(status || ' ' || n, ', ')
    FROM (SELECT status, count(*) AS n FROM webhook_deliveries
    GROUP BY status ORDER BY status) s")"
perl -I"$here/chaos/lib" "$here/chaos/valgrind.pl" report --stack "$stack" \
    --work "$dir/work"
[ "$enq_rc" = 0 ] || { echo "FAIL: not every job was enqueued"; fail=1; }
if [ "$other" != 0 ] || [ $((completed + failed + canceled)) != "$jobs" ]; then
	echo "FAIL: not every job ended completed, failed or canceled"
	fail=1
fi
[ "$stopped_clean" = 1 ] || { echo "FAIL: the daemon did not stop cleanly"; fail=1; }

# "BYTES BLOCKS" of the "$2 lost:" line of valgrind log $1 ("0 0" when
# every heap block was freed; empty when the log has no leak summary).
lost() {
	if grep -q 'All heap blocks were freed' "$1"; then
		echo "0 0"
		return
	fi
	sed -n "s/.*$2 lost: \([0-9,]*\) bytes in \([0-9,]*\) blocks.*/\1 \2/p" "$1" |
	    tail -n1 | tr -d ,
}

echo
printf '%-4s %7s %8s  %-14s %-19s %-19s %-19s\n' run wall stop errors \
    'definitely lost' 'indirectly lost' 'possibly lost'
for n in 1 2; do
	log=$dir/valgrind-$n.log
	[ -n "${run_start[$n]:-}" ] || continue
	errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$log" 2>/dev/null |
	    tail -n1 | tr -d ,)
	def=$(lost "$log" definitely 2>/dev/null || true)
	ind=$(lost "$log" indirectly 2>/dev/null || true)
	pos=$(lost "$log" possibly 2>/dev/null || true)
	wall='?' stop='?'
	[ -n "${run_end[$n]:-}" ] && wall=$((run_end[$n] - run_start[$n]))s &&
	    stop=$((run_end[$n] - run_stop[$n]))s
	printf '%-4s %7s %8s  %-14s %-19s %-19s %-19s\n' "$n" "$wall" "$stop" \
	    "${errors:-none}" "${def:+${def% *} B / ${def#* } bl}" \
	    "${ind:+${ind% *} B / ${ind#* } bl}" "${pos:+${pos% *} B / ${pos#* } bl}"
	if [ -z "$errors" ] || [ -z "$def" ] || [ -z "$ind" ] || [ -z "$pos" ]; then
		echo "FAIL: run $n: no complete valgrind summary in $log"
		fail=1
	elif [ "$errors" != 0 ] || [ "${def% *}" != 0 ] || [ "${ind% *}" != 0 ] ||
	    [ "${pos% *}" != 0 ]; then
		echo "FAIL: run $n: valgrind errors or leaks, see $log"
		fail=1
	fi
	if grep -q 'Process terminating with default action' "$log" 2>/dev/null; then
		echo "FAIL: run $n: the daemon died of a signal, see $log"
		fail=1
	fi
done
# what each stop found in flight, from the daemon's own log
run_line[3]=$(($(wc -l <"$stack/daemon.log") + 1))
for n in 1 2; do
	[ -n "${run_line[$n]:-}" ] || continue
	end=${run_line[$((n + 1))]:-${run_line[3]}}
	sed -n "${run_line[$n]},$((end - 1))p" "$stack/daemon.log" |
	    grep -E '^<[0-9]>scenegend: (stopping|drained|stopped)' |
	    sed "s/^<[0-9]>scenegend: /  run $n: /" || true
done
echo
echo "wall time $(elapsed) s"
if [ "$fail" = 0 ]; then
	echo "PASS: no valgrind error, no leak, every job final"
	rc=0
fi
exit $fail
