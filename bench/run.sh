#!/bin/bash
# make bench: start the stack the way `make run` does (in a temporary
# folder), then measure each scenario next to its baseline in the same run:
# enqueue, status, drain, dispatch (bench/dispatch.sh), in flight, pickup,
# live status (bench/sse.pl), footprint, the dashboard's pages at a
# million rows (bench/admin.sh). Prints one line per scenario (figure,
# baseline, ratio, target) and writes bench/results/*.json.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${BENCH_DURATION:-10}
DRAIN_JOBS=${BENCH_DRAIN_JOBS:-20000}
INFLIGHT_JOBS=${BENCH_INFLIGHT_JOBS:-10000}
INFLIGHT_ETA=${BENCH_INFLIGHT_ETA:-30}
SSE_SUBSCRIBERS=${BENCH_SSE_SUBSCRIBERS:-1000}
CONNS=64

work=$(mktemp -d /tmp/scenegen-bench.XXXXXX)
chmod 755 "$work"
stack=$work/stack
mkdir -p "$here/bench/results"
out_json=$here/bench/results/bench-$(date -u +%Y%m%dT%H%M%SZ).json

export PORT=0 STACK_QUIET=1 NGINX_ACCESS_LOG=off SCENEGEN_LOG_LEVEL=warning
export STANDIN_ARGS="-m success -e 0"
export MODELSLAB_MAX_QUEUED=20000
unset MODELSLAB_API_KEY

# shellcheck source=chaos/lib.sh
. "$here/chaos/lib.sh"

# Processes this script starts itself (not through stack.sh), by PID: each
# is stopped with SIGTERM and waited for (SIGKILL after 10 s), whatever way
# the script ends.
own_pids=()
stop_own() {	# pid
	local p=$1 i
	kill -TERM "$p" 2>/dev/null || return 0
	for i in $(seq 1 100); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
}
cleanup() {
	local rc=$? p left=0
	trap - EXIT
	for p in "${own_pids[@]}"; do stop_own "$p"; done
	"$here/scripts/stack.sh" stop "$stack" >/dev/null 2>&1 || true
	nothing_left bench "$work" || left=1
	rm -rf "$work"
	[ "$left" = 0 ] || exit 1
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench: $*" >&2; }

"$here/scripts/stack.sh" start "$stack"
# shellcheck disable=SC1091
. "$stack/env"
psql_q() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$DATABASE_URL" "$@"; }
pgb() { pgbench -n -h "$PG_SOCKET_DIR" -U scenegen "$@" scenegen 2>&1; }
rcli() { redis-cli -s "$REDIS_SOCKET" "$@"; }
uuid() { cat /proc/sys/kernel/random/uuid; }
# Print the value of key=value field $1 of line $2.
field() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" <<<" $2"; }
# A figure of wrk's own summary $2: rps (whole requests a second), p99
# (as wrk prints it), requests, non2xx (answers other than 2xx and 3xx).
wrk_figure() {	# name output
	case $1 in
	rps) sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' <<<"$2" | cut -d. -f1;;
	p99) sed -n 's/^ *99% *\([0-9.]*[a-z]*\).*/\1/p' <<<"$2";;
	requests) sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' <<<"$2";;
	non2xx) sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' <<<"$2";;
	esac
}
per_job() { perl -e 'printf "%.0f", $ARGV[0] * 10000 / $ARGV[1]' "$1" "$DRAIN_JOBS"; }
ratio() { perl -e 'printf "%.2f", $ARGV[1] > 0 ? $ARGV[0] / $ARGV[1] : 0' "$1" "$2"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# CPU ticks of every process whose command line matches $1, summed.
group_ticks() {
	local p t=0
	for p in $(pgrep -f "$1"); do
		t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo "$t"
}
daemon_pid() { head -n1 "$stack/daemon.pid"; }
# Poll until no record of the chapters c matching SQL condition $1 is
# unfinished, at most $2 times every $3 s; leaves the count in left.
wait_chapters_final() {	# condition tries interval
	local _
	for _ in $(seq 1 "$2"); do
		left=$(psql_q -c "SELECT count(*) FROM image_generations g JOIN chapters c ON c.id = g.chapter_id WHERE $1 AND g.status NOT IN ('completed', 'failed')")
		[ "$left" = 0 ] && return 0
		sleep "$3"
	done
}

declare -a lines=()
json_parts=()
report() {	# name figure baseline ratio target verdict
	local line
	line=$(printf '%-10s %-44s %-36s %-14s %s [%s]' "$1" "$2" "$3" "$4" "$5" "$6")
	lines+=("$line")
	echo "$line"
	json_parts+=("$(printf '{"scenario":"%s","figure":"%s","baseline":"%s","ratio":"%s","target":"%s","verdict":"%s"}' \
	    "$1" "$2" "$3" "$4" "$5" "$6")")
}
verdict() { perl -e 'print eval($ARGV[0]) ? "met" : "MISSED"' "$1"; }

# Enqueue jobs for the drain and in-flight scenarios directly: N pending rows
# for one user/chapter, and their ids on the stream.
seed_jobs() {
	local n=$1 user chapter
	user=$(uuid); chapter=$(uuid)
	psql_q -v u="$user" -v c="$chapter" -v n="$n" <<'SQL' >"$work/ids"
INSERT INTO chapters (id, user_id, title) VALUES (:'c', :'u', 'bench');
INSERT INTO image_generations (id, user_id, chapter_id, scene_number, image_type,
    status, prompt, style, aspect_ratio, metadata)
SELECT gen_random_uuid(), :'u', :'c', g, 'scene', 'pending',
    'A lighthouse in a storm', 'cinematic', '16:9', '{}'
FROM generate_series(1, :n) g RETURNING id;
SQL
	perl -ne 'chomp; next unless /^[0-9a-f-]{36}$/;
	    printf "*5\r\n\$4\r\nXADD\r\n\$15\r\n{scenegen}:jobs\r\n\$1\r\n*\r\n\$2\r\nid\r\n\$36\r\n%s\r\n", $_' \
	    "$work/ids" | rcli --pipe >/dev/null
	echo "$chapter"
}

# ---------------------------------------------------------------- ceiling
# Bare nginx answering a fixed JSON body itself, with the stack's worker
# settings: the most any request through nginx can do on this machine
# (wrk, nginx and the kernel share the same two cores with everything).
log "ceiling: bare nginx, $CONNS connections, ${DURATION}s"
bare=$work/bare
mkdir -p "$bare/tmp"
api_workers=$(pgrep -c -P "$(head -n1 "$stack/api.pid")")
keepalive=$(sed -n 's/^[[:space:]]*keepalive \([0-9]*\);$/\1/p' "$stack/nginx/nginx.conf")
cc -O2 -Wall -Wextra -Werror -o "$work/fcgi-null" "$here/bench/fcgi_null.c"
bare_port=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:0")->sockport')
cat >"$bare/nginx.conf" <<NGINX
# In the foreground, a child of this script: stopped and waited for by PID.
daemon off;
worker_processes auto;
pid $bare/nginx.pid;
error_log $bare/error.log;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $bare/tmp;
	proxy_temp_path $bare/tmp;
	fastcgi_temp_path $bare/tmp;
	uwsgi_temp_path $bare/tmp;
	scgi_temp_path $bare/tmp;
	# The hop ceiling below: kept connections to bench/fcgi_null, as
	# many as the stack keeps, with the parameters and settings of
	# nginx/scenegen-api.conf.
	upstream null_fcgi {
		server unix:$bare/null.sock;
		keepalive $keepalive;
		keepalive_timeout 5s;
	}
	server {
		listen 127.0.0.1:$bare_port;
		location / {
			default_type application/json;
			return 200 '{"status":"completed","progress":100}';
		}
		location /api/ {
			include /etc/nginx/fastcgi_params;
			fastcgi_param HTTP_PROXY "";
			fastcgi_param SCRIPT_NAME /scenegen;
			fastcgi_param PATH_INFO "";
			fastcgi_keep_conn on;
			fastcgi_pass null_fcgi;
		}
	}
}
NGINX
nginx -c "$bare/nginx.conf" &
bare_pid=$!
own_pids+=("$bare_pid")
for _ in $(seq 1 50); do
	[ -s "$bare/nginx.pid" ] && break
	kill -0 "$bare_pid" 2>/dev/null || { log "bare nginx failed: $(tail -n3 "$bare/error.log")"; exit 1; }
	sleep 0.1
done
wrk -t2 -c$CONNS -d2s "http://127.0.0.1:$bare_port/" >/dev/null
bare_out=$(wrk -t2 -c$CONNS -d${DURATION}s --latency "http://127.0.0.1:$bare_port/")

# ---------------------------------------------------------------- hop ceiling
# The same nginx handing each request to bench/fcgi_null, a FastCGI
# responder that does no work at all (one epoll loop per process, the
# route check's 400 as a constant): what nginx's FastCGI module and the
# process switch cost by themselves, the most any FastCGI program can
# reach here. Once with one process, once with as many as the API has
# workers. The null route below is judged against the second too.
hop_procs=(1 "$api_workers")
hop_out=()
for procs in "${hop_procs[@]}"; do
	"$work/fcgi-null" "$bare/null.sock" "$procs" &
	hop_pid=$!
	own_pids=("$bare_pid" "$hop_pid")
	for _ in $(seq 1 50); do [ -S "$bare/null.sock" ] && break; sleep 0.1; done
	[ -S "$bare/null.sock" ] || { log "bench/fcgi_null.c did not start"; exit 1; }
	wrk -t2 -c$CONNS -d2s "http://127.0.0.1:$bare_port/api/v1/x" >/dev/null
	hop_out+=("$(wrk -t2 -c$CONNS -d${DURATION}s --latency "http://127.0.0.1:$bare_port/api/v1/x")")
	stop_own "$hop_pid"
	own_pids=("$bare_pid")
done
# `nginx -s stop` only sends the signal: stop it by its PID and wait for
# the master (it waits for its workers) to be gone.
stop_own "$bare_pid"
own_pids=()
if pgrep -f -- "$bare/nginx.conf" >/dev/null; then
	log "bare nginx still running after its stop"; exit 1
fi
bare_rps=$(wrk_figure rps "$bare_out")
bare_p99=$(wrk_figure p99 "$bare_out")
report ceiling "bare nginx $bare_rps req/s, p99 $bare_p99" "-" "-" "(reference)" "info"
for i in "${!hop_procs[@]}"; do
	procs=${hop_procs[$i]}
	o=${hop_out[$i]}
	hop_rps=$(wrk_figure rps "$o")
	hop_p99=$(wrk_figure p99 "$o")
	hop_reqs=$(wrk_figure requests "$o")
	hop_400=$(wrk_figure non2xx "$o")
	what=$([ "$procs" = 1 ] && echo "1 process" || echo "$procs processes")
	report "hop-ceiling-$procs" "zero-work FastCGI responder, $what: $hop_rps req/s (400: ${hop_400:-0}/${hop_reqs:-0}) p99 $hop_p99" \
	    "bare nginx $bare_rps req/s" "$(ratio "$hop_rps" "$bare_rps")" "(reference)" "info"
done
hop_n_rps=$hop_rps	# the last: as many processes as the API has workers

# ---------------------------------------------------------------- null route
# The cheapest answer through the FastCGI hop: a path the worker's route
# check refuses (400, no token read, no database, no Redis). Beside a
# pgbench of a path's own statement it gives that path's floor on these
# two cores: 1 / (1/null + 1/pgbench).
log "null route: the worker's 400 at the route check, $CONNS connections, ${DURATION}s"
null_url="$BASE_URL/api/v1/chapters/not-a-uuid/images/scenes/1/status"
wrk -t2 -c$CONNS -d2s "$null_url" >/dev/null
null_out=$(wrk -t2 -c$CONNS -d${DURATION}s --latency "$null_url")
null_rps=$(wrk_figure rps "$null_out")
null_p99=$(wrk_figure p99 "$null_out")
null_reqs=$(wrk_figure requests "$null_out")
null_non2xx=$(wrk_figure non2xx "$null_out")
# p99 in ms, whatever unit wrk printed it in
ms() { perl -e '($v, $u) = $ARGV[0] =~ /^([0-9.]+)([a-z]*)$/; printf "%.2f", $u eq "us" ? $v / 1000 : $u eq "s" ? $v * 1000 : $v' "$1"; }
null_p99_ms=$(ms "$null_p99")
floor() { perl -e 'printf "%.0f", 1 / (1 / $ARGV[0] + 1 / $ARGV[1])' "$1" "$2"; }
r=$(ratio "$null_rps" "$bare_rps")
ok=$(verdict "$r >= 0.5 && ${null_non2xx:-0} == ${null_reqs:-1}")
report null-route "$null_rps req/s (400: ${null_non2xx:-0}/${null_reqs:-0}) p99 ${null_p99_ms}ms" \
    "bare nginx $bare_rps req/s" "$r" ">=0.5" "$ok"
report null-route-hop "$null_rps req/s" \
    "zero-work responder, $api_workers processes: $hop_n_rps req/s" \
    "$(ratio "$null_rps" "$hop_n_rps")" "(reference)" "info"

# ---------------------------------------------------------------- enqueue
log "enqueue: $CONNS connections, ${DURATION}s"
"$here/scripts/stack.sh" stop-part "$stack" daemon
: >"$work/pairs"
for i in $(seq 1 64); do
	u=$(uuid); c=$(uuid)
	echo "INSERT INTO chapters (id, user_id, title) VALUES ('$c', '$u', 'bench');"
	printf '%s %s\n' "$c" "$("$here/scripts/token.pl" "$u" "$SUPABASE_JWT_SECRET")" >>"$work/pairs"
done | psql_q >/dev/null
before=$(psql_q -c "SELECT count(*) FROM image_generations")
BENCH_PAIRS=$work/pairs wrk -t2 -c$CONNS -d2s -s "$here/bench/post.lua" "$BASE_URL" >/dev/null
mid=$(psql_q -c "SELECT count(*) FROM image_generations")
res=$(BENCH_PAIRS=$work/pairs wrk -t2 -c$CONNS -d${DURATION}s --latency -s "$here/bench/post.lua" "$BASE_URL" | grep '^BENCH')
after=$(psql_q -c "SELECT count(*) FROM image_generations")
reqs=$(field requests "$res"); dur=$(field duration_us "$res")
accepted=$(field status "$res" | tr ',' '\n' | sed -n 's/^202=//p'); accepted=${accepted:-0}
rps=$(perl -e 'printf "%.0f", $ARGV[0] / ($ARGV[1] / 1e6)' "$accepted" "$dur")
p50=$(perl -e 'printf "%.1f", $ARGV[0] / 1000' "$(field p50_us "$res")")
p99=$(perl -e 'printf "%.1f", $ARGV[0] / 1000' "$(field p99_us "$res")")
rows=$((after - mid))
u0=$(head -n1 "$work/pairs" | cut -d' ' -f1)
uid=$(psql_q -c "SELECT user_id FROM chapters WHERE id = '$u0'")
cat >"$work/insert.sql" <<SQL
INSERT INTO image_generations (id, user_id, chapter_id, scene_number, image_type, status, progress, retry_count, prompt, style, aspect_ratio, tier, metadata) VALUES (gen_random_uuid(), '$uid', '$u0', 1, 'scene', 'pending', 0, 0, 'A young wizard discovering magic', 'cinematic', '16:9', 'free', '{}');
SQL
pg=$(pgb -c $CONNS -j 2 -T "$DURATION" -M prepared -f "$work/insert.sql")
pg_tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$pg" | tail -n1)
r=$(ratio "$rps" "$pg_tps")
# wrk stops counting at the deadline; requests already sent still land (at most one per connection)
ok=$(verdict "$r >= 0.75 && $p99 <= 20 && $accepted == $reqs && $rows >= $accepted && $rows - $accepted <= $CONNS")
report enqueue "$rps req/s (202: $accepted/$reqs, rows $rows) p50 ${p50}ms p99 ${p99}ms" \
    "pgbench INSERT $pg_tps tps" "$r" ">=0.75, p99<=20ms" "$ok"
log "enqueue: $(ratio "$rps" "$bare_rps") of bare nginx's rate"
fl=$(floor "$null_rps" "$pg_tps")
ok=$(verdict "$rps >= 0.8 * $fl && $p99 <= 3 * $null_p99_ms")
report enqueue-floor "$rps req/s, p99 ${p99}ms" \
    "floor $fl req/s (null route + pgbench INSERT), null p99 ${null_p99_ms}ms" \
    "$(ratio "$rps" "$fl")" ">=0.8 of floor, p99<=3x null" "$ok"
psql_q -c "DELETE FROM image_generations WHERE chapter_id IN (SELECT id FROM chapters WHERE title = 'bench')" >/dev/null
rcli del '{scenegen}:jobs' >/dev/null

# ---------------------------------------------------------------- status
log "status: 100,000 rows, $CONNS connections, ${DURATION}s"
su=$(uuid)
: >"$work/spairs"
stoken=$("$here/scripts/token.pl" "$su" "$SUPABASE_JWT_SECRET")
for i in $(seq 1 100); do
	c=$(uuid)
	echo "INSERT INTO chapters (id, user_id, title) VALUES ('$c', '$su', 'bench-status');"
	echo "$c $stoken 1000" >>"$work/spairs"
done | psql_q >/dev/null
psql_q -v u="$su" >/dev/null <<'SQL'
INSERT INTO image_generations (id, user_id, chapter_id, scene_number, image_type,
    status, progress, image_url, prompt, style, aspect_ratio, metadata,
    generation_time_seconds)
SELECT gen_random_uuid(), :'u', c.id, g, 'scene', 'completed', 100,
    'http://127.0.0.1/images/x.png', 'bench', 'cinematic', '16:9', '{}', 3.2
FROM chapters c, generate_series(1, 1000) g WHERE c.user_id = :'u';
ANALYZE image_generations;
SQL
BENCH_PAIRS=$work/spairs wrk -t2 -c$CONNS -d2s -s "$here/bench/status.lua" "$BASE_URL" >/dev/null
res=$(BENCH_PAIRS=$work/spairs wrk -t2 -c$CONNS -d${DURATION}s -s "$here/bench/status.lua" "$BASE_URL" | grep '^BENCH')
reqs=$(field requests "$res"); dur=$(field duration_us "$res")
ok200=$(field status "$res" | tr ',' '\n' | sed -n 's/^200=//p'); ok200=${ok200:-0}
rps=$(perl -e 'printf "%.0f", $ARGV[0] / ($ARGV[1] / 1e6)' "$ok200" "$dur")
p50=$(perl -e 'printf "%.1f", $ARGV[0] / 1000' "$(field p50_us "$res")")
p99=$(perl -e 'printf "%.1f", $ARGV[0] / 1000' "$(field p99_us "$res")")
c0=$(head -n1 "$work/spairs" | cut -d' ' -f1)
cat >"$work/select.sql" <<SQL
\set scene random(1, 1000)
SELECT id, status, image_url, scene_number, retry_count, progress, generation_time_seconds, error_message, created_at, updated_at FROM image_generations WHERE chapter_id = '$c0' AND scene_number = :scene AND user_id = '$su' ORDER BY created_at DESC LIMIT 1;
SQL
pg=$(pgb -c $CONNS -j 2 -T "$DURATION" -M prepared -f "$work/select.sql")
pg_tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$pg" | tail -n1)
r=$(ratio "$rps" "$pg_tps")
ok=$(verdict "$r >= 0.8 && $p99 <= 10 && $ok200 == $reqs")
report status "$rps req/s (200: $ok200/$reqs) p50 ${p50}ms p99 ${p99}ms" \
    "pgbench SELECT $pg_tps tps" "$r" ">=0.8, p99<=10ms" "$ok"
status_rps=$rps
log "status: $(ratio "$rps" "$bare_rps") of bare nginx's rate"
fl=$(floor "$null_rps" "$pg_tps")
ok=$(verdict "$rps >= 0.9 * $fl && $p99 <= 3 * $null_p99_ms")
report status-floor "$rps req/s, p99 ${p99}ms" \
    "floor $fl req/s (null route + pgbench SELECT), null p99 ${null_p99_ms}ms" \
    "$(ratio "$rps" "$fl")" ">=0.9 of floor, p99<=3x null" "$ok"

# ---------------------------------------------------------------- drain
log "drain: $DRAIN_JOBS jobs, stand-in answering at once"
cat >"$work/update.sql" <<SQL
\set scene random(1, 1000)
UPDATE image_generations SET progress = 100, last_attempted_at = now() WHERE chapter_id = '$c0' AND scene_number = :scene AND user_id = '$su';
SQL
pg=$(pgb -c $CONNS -j 2 -T "$DURATION" -M prepared -f "$work/update.sql")
pg_tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$pg" | tail -n1)
dchapter=$(seed_jobs "$DRAIN_JOBS")
pg_t0=$(group_ticks "postgres: scenegen"); st_t0=$(group_ticks modelslab-standin)
"$here/scripts/stack.sh" start-part "$stack" daemon
wait_chapters_final "c.id = '$dchapter'" 1200 0.25
read -r done_n failed_n secs < <(psql_q -F ' ' -c "SELECT count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed'), extract(epoch FROM max(completed_at) - min(last_attempted_at)) FROM image_generations WHERE chapter_id = '$dchapter'")
files=$(find "$SCENEGEN_IMAGE_DIR" -name '*.png' | wc -l)
# Where the CPU went, per job (the backends of the daemon's connections
# are new, so their totals count from zero).
pg_t1=$(group_ticks "postgres: scenegen"); st_t1=$(group_ticks modelslab-standin)
d_t=$(cpu_ticks "$(daemon_pid)")
log "drain CPU per job: daemon $(per_job "$d_t") us, postgres $(per_job $((pg_t1 - pg_t0))) us, stand-in $(per_job $((st_t1 - st_t0))) us"
jps=$(perl -e 'printf "%.0f", $ARGV[1] > 0 ? $ARGV[0] / $ARGV[1] : 0' "$done_n" "${secs:-0}")
r=$(ratio "$jps" "$pg_tps")
ok=$(verdict "$jps >= 5000 && $done_n == $DRAIN_JOBS")
report drain "$jps jobs/s ($done_n completed, $failed_n failed, $files images)" \
    "pgbench UPDATE $pg_tps tps" "$r" ">=5000 jobs/s" "$ok"

"$here/scripts/stack.sh" stop-part "$stack" daemon
# shellcheck source=bench/dispatch.sh
. "$here/bench/dispatch.sh"

# ---------------------------------------------------------------- in flight
log "in flight: $INFLIGHT_JOBS jobs of ${INFLIGHT_ETA}s at the stand-in"
"$here/scripts/stack.sh" stop-part "$stack" daemon
curl -s -X POST "$STANDIN_URL/_standin/config" \
    -d "{\"mode\":\"processing\",\"eta\":$INFLIGHT_ETA}" >/dev/null
curl -s -X POST "$STANDIN_URL/_standin/reset" >/dev/null || true
curl -s -X POST "$STANDIN_URL/_standin/config" \
    -d "{\"mode\":\"processing\",\"eta\":$INFLIGHT_ETA}" >/dev/null
ichapter=$(seed_jobs "$INFLIGHT_JOBS")
"$here/scripts/stack.sh" start-part "$stack" daemon
dpid=$(daemon_pid)
peak=0
for i in $(seq 1 $((INFLIGHT_ETA * 4))); do
	now=$(psql_q -c "SELECT count(*) FROM image_generations WHERE chapter_id = '$ichapter' AND provider_request_id IS NOT NULL AND status = 'in_progress'")
	[ "$now" -gt "$peak" ] && peak=$now
	[ "$now" -ge "$INFLIGHT_JOBS" ] && break
	sleep 0.25
done
t0=$(cpu_ticks "$dpid"); s0=$(date +%s.%N)
sleep 5
t1=$(cpu_ticks "$dpid"); s1=$(date +%s.%N)
cpu=$(perl -e 'printf "%.3f", ($ARGV[1] - $ARGV[0]) / 100 / ($ARGV[3] - $ARGV[2])' "$t0" "$t1" "$s0" "$s1")
standin_peak=$(curl -s "$STANDIN_URL/_standin/stats" | perl -MJSON::PP -0 -ne 'print decode_json($_)->{processing_peak} // 0')
hwm=$(hwm_kb "$dpid")
wait_chapters_final "c.id = '$ichapter'" $((INFLIGHT_ETA * 8)) 0.5
hwm=$(hwm_kb "$dpid")
ok=$(verdict "$standin_peak >= $INFLIGHT_JOBS && $hwm <= 65536 && $cpu <= 0.25 && $left == 0")
report inflight "peak $standin_peak at provider (rows $peak), RSS peak $((hwm / 1024)) MB, CPU ${cpu} core" \
    "-" "-" "all $INFLIGHT_JOBS, <=64MB, <=0.25" "$ok"

# ---------------------------------------------------------------- pickup
log "pickup: 200 single POSTs at light load"
curl -s -X POST "$STANDIN_URL/_standin/config" -d '{"mode":"success","eta":0}' >/dev/null
p=$(head -n1 "$work/pairs"); pc=${p%% *}; pt=${p#* }
read -r pk50 pk99 pkn < <("$here/bench/pickup.pl" "$BASE_URL" "$pc" "$pt" "$DATABASE_URL" 200)
ok=$(verdict "$pkn == 200 && $pk50 <= 2 && $pk99 <= 10")
report pickup "202 received -> claimed p50 ${pk50}ms p99 ${pk99}ms ($pkn jobs)" "-" "-" "p50<=2ms, p99<=10ms" "$ok"

# ---------------------------------------------------------------- live status
log "live status: $SSE_SUBSCRIBERS subscribers of one record"
# A user of its own: the enqueue scenario's users still have thousands of
# jobs waiting, and a user's jobs run in the order posted.
eu=$(uuid); ec=$(uuid)
psql_q -c "INSERT INTO chapters (id, user_id, title) VALUES ('$ec', '$eu', 'sse')"
et=$("$here/scripts/token.pl" "$eu" "$SUPABASE_JWT_SECRET")
read -r sl50 sl99 sa50 sa99 sch sn < <("$here/bench/sse.pl" "$BASE_URL" "$ec" "$et" "$DATABASE_URL" "$SSE_SUBSCRIBERS" 4)
# The same subscribers polling the status once a second instead: that many
# requests a second, a share of the status rate measured above, and a
# change seen 500 ms late on average (1 s at worst).
share=$(perl -e 'printf "%.1f", $ARGV[1] > 0 ? 100 * $ARGV[0] / $ARGV[1] : 0' "$SSE_SUBSCRIBERS" "${status_rps:-0}")
ok=$(verdict "$sn == $SSE_SUBSCRIBERS && $sch >= 2 && $sl99 <= 1000")
report sse "change -> last of $sn subscribers p50 ${sl50}ms p99 ${sl99}ms (each delivery p50 ${sa50}ms p99 ${sa99}ms; $sch changes)" \
    "polling 1/s: $SSE_SUBSCRIBERS req/s = ${share}% of status capacity, 500ms mean delay" "-" "last p99<=1000ms" "$ok"

# ---------------------------------------------------------------- footprint
log "footprint: at rest"
# At rest: the pickup's jobs final, then a few of the daemon's idle ticks.
for i in $(seq 1 120); do
	left=$(psql_q -c "SELECT count(*) FROM image_generations WHERE status IN ('pending', 'in_progress')")
	[ "$left" = 0 ] && break
	sleep 0.5
done
sleep 3
api_master=$(head -n1 "$stack/api.pid")
worst=0
for w in $(pgrep -P "$api_master"); do
	k=$(rss_kb "$w"); [ "$k" -gt "$worst" ] && worst=$k
done
drss=$(rss_kb "$(daemon_pid)")
ok=$(verdict "$worst <= 8192 && $drss <= 16384")
report footprint "API worker max $((worst / 1024)).$(((worst % 1024) * 10 / 1024)) MB, daemon $((drss / 1024)).$(((drss % 1024) * 10 / 1024)) MB" \
    "-" "-" "worker<=8MB, daemon<=16MB" "$ok"

# Last: its million rows would weigh on every scenario after it.
"$here/scripts/stack.sh" stop-part "$stack" daemon
# shellcheck source=bench/admin.sh
. "$here/bench/admin.sh"

{
	echo "{\"date\":\"$(date -u +%FT%TZ)\",\"host_cores\":$(nproc),\"results\":["
	(IFS=,; echo "${json_parts[*]}")
	echo "]}"
} >"$out_json"
echo
echo "scenario   figure                                       baseline                             ratio          target"
printf '%s\n' "${lines[@]}"
echo "results: $out_json"
