# shellcheck shell=bash disable=SC2154
# Sourced by bench/run.sh (its stack, helpers and report): the dispatch
# scenarios (scenegend(8), "Dispatch").
#
#  pick:   what the next job costs to pick, inside Redis, with 1,000 jobs
#          of 100 users waiting and with 100,000 of 10,000 users in three
#          tiers: Redis's own time for the daemons' TICK script divided by
#          the jobs it took (the same take() every script ends with), the
#          fastest of five rounds. It must not grow with the backlog. The API's ENQUEUE (push, take,
#          and the job's place for its estimate) is timed beside it.
#  spread: the drain of DISPATCH_JOBS jobs of 10,000 users in three tiers
#          against the same number of one user's jobs (the plain FIFO
#          case), both through the users' lists and the account limit
#          (DISPATCH_LIMIT slots), the stand-in answering at once; run in
#          the order one, spread, spread, one, spread, one, one, spread.
#
# Expects the daemon stopped; leaves it stopped and Redis's dispatch keys
# empty.

DISPATCH_JOBS=${BENCH_DISPATCH_JOBS:-20000}
DISPATCH_LIMIT=${BENCH_DISPATCH_LIMIT:-1000}
DISPATCH_WEIGHTS=premium:4,pro:2,free:1

cc -O2 -Wall -Wextra -Werror -I"$here/lib" -o "$work/dispatch-script" \
    "$here/bench/dispatch_script.c"
# The SHA1 of a dispatch script, loaded into Redis.
script_sha() { rcli SCRIPT LOAD "$("$work/dispatch-script" "$1")"; }
now_ms() { perl -MTime::HiRes=time -e 'printf "%.0f", time * 1000'; }
# Empty every dispatch key and the job stream (its group goes with it:
# the daemon makes it again when it starts).
dispatch_clear() {
	rcli --scan --pattern '{scenegen}:wait:*' | xargs -r -n 500 \
	    redis-cli -s "$REDIS_SOCKET" DEL >/dev/null
	rcli DEL '{scenegen}:ring:premium' '{scenegen}:ring:pro' \
	    '{scenegen}:ring:free' '{scenegen}:tiers' '{scenegen}:pass' \
	    '{scenegen}:slots' '{scenegen}:owner' '{scenegen}:jobs' >/dev/null
}
# Push "id tier user" lines of stdin on the users' lists, without taking
# slots, by one pipe of SEED scripts.
dispatch_seed() {	# sha
	perl -ne 'BEGIN { ($sha, $now) = @ARGV; @ARGV = () }
	    chomp; my @a = ("EVALSHA", $sha, 1, "{scenegen}:jobs", $now,
	    (split / /)[1, 2, 0]);
	    print "*" . @a . "\r\n", map { "\$" . length($_) . "\r\n$_\r\n" } @a' \
	    "$1" "$(now_ms)" | rcli --pipe >/dev/null
}
# Microseconds Redis spent in EVALSHA since the last CONFIG RESETSTAT.
evalsha_usec() {
	rcli INFO commandstats | tr -d '\r' |
	    sed -n 's/^cmdstat_evalsha:.*usec=\([0-9]*\),.*/\1/p'
}

# ---------------------------------------------------------------- pick
log "dispatch pick: 1,000 jobs of 100 users, then 100,000 of 10,000 users"
rcli DEL '{scenegen}:dispatch' >/dev/null
seed_sha=$(script_sha SEED); tick_sha=$(script_sha TICK)
enq_sha=$(script_sha ENQUEUE)
declare -A pick_us enq_us
for backlog in 1000 100000; do
	users=$((backlog / 10))
	dispatch_clear
	# user u<k> of tier premium, pro or free by k mod 3
	perl -e 'my ($n, $u) = @ARGV; my @t = qw(premium pro free);
	    for my $i (0 .. $n - 1) { my $k = $i % $u;
	    print "bench-$i $t[$k % 3] u$k\n" }' "$backlog" "$users" |
	    dispatch_seed "$seed_sha"
	# Five rounds of 200 picks, freeing the slots between rounds; the
	# fastest round is the cost (what else runs on the cores only adds).
	rounds=()
	for _ in 1 2 3 4 5; do
		rcli DEL '{scenegen}:slots' >/dev/null
		rcli CONFIG RESETSTAT >/dev/null
		took=$(rcli EVALSHA "$tick_sha" 1 '{scenegen}:jobs' "$(now_ms)" \
		    200 600000 "$DISPATCH_WEIGHTS")
		rounds+=("$(perl -e 'printf "%.2f", $ARGV[0] / $ARGV[1]' \
		    "$(evalsha_usec)" "$took")")
	done
	pick_us[$backlog]=$(printf '%s\n' "${rounds[@]}" | sort -n | head -n1)
	# 300 POSTs' ENQUEUE, for users already waiting; no slot is free.
	rcli CONFIG RESETSTAT >/dev/null
	perl -e 'my ($n, $u) = @ARGV; my @t = qw(premium pro free);
	    for my $i (1 .. 300) { my $k = int(rand($u));
	    print "enq-$i $t[$k % 3] u$k\n" }' "$backlog" "$users" |
	    dispatch_seed "$enq_sha"
	enq_us[$backlog]=$(perl -e 'printf "%.1f", $ARGV[0] / 300' "$(evalsha_usec)")
	log "dispatch pick: backlog $backlog: ${pick_us[$backlog]} us per pick" \
	    "(rounds ${rounds[*]}), ENQUEUE ${enq_us[$backlog]} us"
done
# One user with 5,000 jobs waiting and no slot free: an enqueue of theirs
# must not cost more for it (the job's place is the list's length, not a
# walk of the list).
dispatch_clear
rcli EVALSHA "$tick_sha" 1 '{scenegen}:jobs' "$(now_ms)" 0 600000 \
    "$DISPATCH_WEIGHTS" >/dev/null
perl -e 'print "deep-$_ free deep\n" for 1 .. 5000' | dispatch_seed "$seed_sha"
rcli CONFIG RESETSTAT >/dev/null
perl -e 'print "deep-enq-$_ free deep\n" for 1 .. 300' | dispatch_seed "$enq_sha"
enq_deep_us=$(perl -e 'printf "%.1f", $ARGV[0] / 300' "$(evalsha_usec)")
log "dispatch: ENQUEUE by a user with 5,000 waiting: ${enq_deep_us} us"
dispatch_clear
rcli DEL '{scenegen}:dispatch' >/dev/null
r=$(ratio "${pick_us[100000]}" "${pick_us[1000]}")
ok=$(verdict "$r <= 1.5")
report pick "${pick_us[100000]} us/pick at 100,000 waiting (10,000 users)" \
    "${pick_us[1000]} us at 1,000 (100 users)" "$r" "<=1.5 (flat)" "$ok"
report enqueue-lua "ENQUEUE ${enq_us[100000]} us in Redis at 100,000 waiting" \
    "${enq_us[1000]} us at 1,000" \
    "$(ratio "${enq_us[100000]}" "${enq_us[1000]}")" "(info)" "info"
report enqueue-deep "ENQUEUE ${enq_deep_us} us in Redis, a user with 5,000 waiting" \
    "${enq_us[1000]} us at 1,000 of 100 users" \
    "$(ratio "$enq_deep_us" "${enq_us[1000]}")" "<=1.5 (flat)" \
    "$(verdict "$(ratio "$enq_deep_us" "${enq_us[1000]}") <= 1.5")"

# ---------------------------------------------------------------- spread
# Seed DISPATCH_JOBS pending rows for $1 users (chapters) in the three
# tiers, put them on their users' lists, and drain them with a daemon of
# DISPATCH_LIMIT slots. Prints the jobs per second.
dispatch_drain() {	# users
	local users=$1 chapter_tag secs done_n
	chapter_tag=bench-dispatch-$users-$(uuid)
	psql_q -v n="$DISPATCH_JOBS" -v u="$users" -v tag="$chapter_tag" <<'SQL' |
INSERT INTO chapters (id, user_id, title)
SELECT gen_random_uuid(), gen_random_uuid(), :'tag' FROM generate_series(1, :u);
WITH c AS (SELECT id, user_id, row_number() OVER (ORDER BY id) - 1 AS k
           FROM chapters WHERE title = :'tag')
INSERT INTO image_generations (id, user_id, chapter_id, scene_number,
    image_type, status, prompt, style, aspect_ratio, tier, metadata)
SELECT gen_random_uuid(), c.user_id, c.id, g, 'scene', 'pending',
    'A lighthouse in a storm', 'cinematic', '16:9',
    (ARRAY['premium', 'pro', 'free'])[1 + c.k % 3], '{}'
FROM c, generate_series(1, :n / :u) g
RETURNING id || ' ' || tier || ' ' || user_id;
SQL
	    grep -E '^[0-9a-f-]{36} ' | dispatch_seed "$seed_sha"
	MODELSLAB_MAX_QUEUED=$DISPATCH_LIMIT \
	    "$here/scripts/stack.sh" start-part "$stack" daemon
	wait_chapters_final "c.title = '$chapter_tag'" 1200 0.25
	"$here/scripts/stack.sh" stop-part "$stack" daemon
	read -r done_n secs < <(psql_q -F ' ' -c "SELECT count(*) FILTER (WHERE g.status = 'completed'), extract(epoch FROM max(g.completed_at) - min(g.last_attempted_at)) FROM image_generations g JOIN chapters c ON c.id = g.chapter_id WHERE c.title = '$chapter_tag'")
	log "dispatch drain: $users users: $done_n of $DISPATCH_JOBS completed in ${secs}s"
	[ "$done_n" = "$DISPATCH_JOBS" ] || { echo 0; return; }
	perl -e 'printf "%.0f", $ARGV[1] > 0 ? $ARGV[0] / $ARGV[1] : 0' \
	    "$done_n" "${secs:-0}"
}

log "dispatch drain: $DISPATCH_JOBS jobs, $DISPATCH_LIMIT slots, one user and 10,000, in the order one, spread, spread, one, spread, one, one, spread"
# Each later drain runs a little slower (the files and rows of the earlier
# ones), and one drain varies by some 15% from the next, so the two cases
# run in the order ABBA BAAB and each is the mean of its four runs.
rcli HSET '{scenegen}:dispatch' limit 0 lease_ms 60000 \
    weights "$DISPATCH_WEIGHTS" >/dev/null
one_runs=(); spread_runs=()
for users in 1 10000 10000 1 10000 1 1 10000; do
	rcli HSET '{scenegen}:dispatch' limit 0 >/dev/null
	jps=$(dispatch_drain "$users")
	if [ "$users" = 1 ]; then one_runs+=("$jps"); else spread_runs+=("$jps"); fi
done
mean() { perl -e 'my $s = 0; $s += $_ for @ARGV; printf "%.0f", $s / @ARGV' "$@"; }
one_jps=$(mean "${one_runs[@]}")
spread_jps=$(mean "${spread_runs[@]}")
dispatch_clear
r=$(ratio "$spread_jps" "$one_jps")
ok=$(verdict "$r >= 0.9 && $one_jps > 0")
report spread "$spread_jps jobs/s, 10,000 users in 3 tiers (${spread_runs[*]})" \
    "$one_jps jobs/s, one user (${one_runs[*]})" "$r" ">=0.9" "$ok"
