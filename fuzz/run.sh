#!/bin/bash
# Run each fuzz target for SECONDS (default 60) from a scratch copy of its
# seed corpus, and print per target: executions, exec/s, coverage (cov:
# edges, ft: features), corpus size and crashes. Exits 1 if any target
# found a crash, leak, timeout or out-of-memory, or did not run.
#
# usage: fuzz/run.sh [SECONDS] [TARGET...]
# env:   FUZZ_BUILD  binaries (build-fuzz)
#        FUZZ_WORK   scratch: <target>/{corpus,artifacts,log} (build-fuzz/run)
#        FUZZ_KEEP=1 keep an existing scratch corpus (resume a long run)
#        FUZZ_JOBS   targets run at once (1)
#        FUZZ_ARGS   more libFuzzer flags
set -u

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here" || exit 1
secs=${1:-60}
[ $# -gt 0 ] && shift
bin=${FUZZ_BUILD:-build-fuzz}
work=${FUZZ_WORK:-build-fuzz/run}
jobs=${FUZZ_JOBS:-1}
targets=${*:-fuzz_route fuzz_body fuzz_jwt fuzz_provider fuzz_redis_msg \
fuzz_config fuzz_admin_form}

# Inputs bigger than what the real caller lets through add nothing.
max_len() {
	case $1 in
	fuzz_body)	echo 17000;;	# BODY_MAX 16384, and past it
	fuzz_jwt)	echo 9000;;	# TOKEN_MAX 8192, and past it
	fuzz_provider)	echo 16384;;
	fuzz_config)	echo 9000;;	# SECRET_MAX 8192, and past it
	*)		echo 4096;;
	esac
}

# Our own sanitizer settings: reports go to the log, not to a test
# suite's log_path; a leak is a finding.
export ASAN_OPTIONS="abort_on_error=0:detect_leaks=1:symbolize=1:\
allocator_may_return_null=1:handle_abort=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS=""

run_one() {
	t=$1
	w=$work/$t
	if [ "${FUZZ_KEEP:-0}" != 1 ] || [ ! -d "$w/corpus" ]; then
		rm -rf "$w"
		mkdir -p "$w/corpus" "$w/artifacts" || return 1
		if [ -d "fuzz/corpus/$t" ]; then
			cp fuzz/corpus/"$t"/* "$w/corpus/" 2>/dev/null
		fi
	fi
	mkdir -p "$w/artifacts"
	dict=fuzz/${t#fuzz_}.dict
	set -- -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    -max_len="$(max_len "$t")" -print_final_stats=1 \
	    -artifact_prefix="$w/artifacts/"
	[ -f "$dict" ] && set -- "$@" -dict="$dict"
	# shellcheck disable=SC2086
	"$bin/$t" "$@" ${FUZZ_ARGS:-} "$w/corpus" >"$w/log" 2>&1
	echo $? >"$w/rc"
}

summary() {
	t=$1
	w=$work/$t
	log=$w/log
	rc=$(cat "$w/rc" 2>/dev/null || echo 1)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" |
	    tail -n 1)
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
	[ -z "$execs" ] && execs=$(echo "$last" | sed -n 's/^#\([0-9]*\).*/\1/p')
	cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$last" | sed -n 's/.*corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p')
	found=$(find "$w/artifacts" -type f 2>/dev/null | wc -l)
	printf '%-16s execs %-11s exec/s %-7s cov %-5s ft %-6s corpus %-12s crashes %s\n' \
	    "$t" "${execs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" \
	    "${corp:-?}" "$found"
	if [ "$found" -gt 0 ] || [ "$rc" != 0 ]; then
		echo "  $t: exit $rc; artifacts:"
		find "$w/artifacts" -type f | sed 's/^/    /'
		grep -E -m 3 'ERROR|runtime error|fuzz invariant|SUMMARY' \
		    "$log" | sed 's/^/    /'
		echo "    (full log: $log)"
		return 1
	fi
	return 0
}

for t in $targets; do
	if [ ! -x "$bin/$t" ]; then
		echo "run.sh: $bin/$t not built (fuzz/build.sh)" >&2
		exit 1
	fi
done

n=0
for t in $targets; do
	run_one "$t" &
	n=$((n + 1))
	if [ "$n" -ge "$jobs" ]; then
		wait -n
		n=$((n - 1))
	fi
done
wait

status=0
for t in $targets; do
	summary "$t" || status=1
done
exit $status
