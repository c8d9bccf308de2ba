# shellcheck shell=bash disable=SC2154
# Sourced by bench/run.sh (its stack, helpers and report): the dashboard
# (scenegen-api(8), "Dashboard") with ADMIN_ROWS records in
# image_generations, the issue's "pages answer in under 50 ms with
# 1,000,000 rows".
#
#  admin:  ADMIN_ROWS rows of ADMIN_USERS users over seven days (mostly
#          completed; failed with a few error classes; some pending and
#          in flight on four daemons), made by one INSERT and analyzed;
#          then, logged in with the operator token, each page fetched
#          ADMIN_TRIES times after one unmeasured fetch, one at a time
#          (curl's time_total, through nginx): the overview, the records
#          unfiltered, by status=failed and by an error class, one
#          record, the audit and the bulk confirm page. One line per
#          page (median, max) and one for the worst page's max.
#
# Runs last: it first empties image_generations (the earlier scenarios'
# records all finished in the last minutes, a burst the last-hour chart
# would count: its cost grows with the hour's records), and its rows stay
# (the stack is thrown away after it). Expects the daemon stopped (it
# would sweep the unfinished rows).

ADMIN_ROWS=${BENCH_ADMIN_ROWS:-1000000}
ADMIN_USERS=${BENCH_ADMIN_USERS:-20000}
ADMIN_TRIES=${BENCH_ADMIN_TRIES:-9}
ADMIN_TARGET_MS=50

log "admin: $ADMIN_ROWS rows of $ADMIN_USERS users, each page $ADMIN_TRIES times"
t0=$(date +%s)
# Row g: user g mod USERS, chapter g mod 10 * USERS (ten a user), updated
# over the last seven days (newest the smallest g); 90% completed, 8%
# failed (four classes with varying digits, and no message), 2% canceled,
# but among the newest 2% (the last hours) a quarter pending and a
# quarter in flight (10,000 unfinished). VACUUM as autovacuum would after
# such an INSERT, ANALYZE, and a checkpoint.
psql_q -v n="$ADMIN_ROWS" -v users="$ADMIN_USERS" >/dev/null <<'SQL'
TRUNCATE webhook_deliveries, image_generations;
INSERT INTO image_generations (id, user_id, chapter_id, scene_number,
    image_type, status, progress, attempts, retry_count, error_message,
    lease_holder, tier, prompt, style, aspect_ratio, metadata,
    generation_time_seconds, created_at, updated_at, completed_at)
SELECT gen_random_uuid(),
    ('00000000-0000-4000-8000-' || lpad(to_hex(g % :users), 12, '0'))::uuid,
    ('00000000-0000-4000-9000-' || lpad(to_hex(g % (10 * :users)), 12, '0'))::uuid,
    g % 40 + 1, 'scene', s.st,
    CASE s.st WHEN 'completed' THEN 100 ELSE 0 END,
    CASE s.st WHEN 'failed' THEN 4 ELSE 1 END,
    CASE s.st WHEN 'failed' THEN 3 ELSE 0 END,
    CASE WHEN s.st <> 'failed' THEN NULL
	WHEN g % 5 = 0 THEN 'The provider timed out after ' || (g % 7 + 1) || ' attempts.'
	WHEN g % 5 = 1 THEN 'Provider answered HTTP ' || (500 + g % 4) || ' for request ' || g
	WHEN g % 5 = 2 THEN 'Image download failed: connection reset after ' || (g % 1000) || ' bytes'
	WHEN g % 5 = 3 THEN 'Prompt refused by the provider''s content filter'
	END,
    CASE s.st WHEN 'in_progress' THEN 'bench-daemon-' || (g % 4) END,
    (ARRAY['free', 'pro', 'premium'])[g % 3 + 1],
    'A lighthouse in a storm', 'cinematic', '16:9', '{}',
    CASE s.st WHEN 'completed' THEN 3.2 END,
    now() - (g * interval '7 days' / :n) - interval '1 minute',
    now() - (g * interval '7 days' / :n),
    CASE s.st WHEN 'completed' THEN now() - (g * interval '7 days' / :n) END
FROM generate_series(1, :n) g,
LATERAL (SELECT CASE WHEN g <= :n / 50 AND g % 4 = 0 THEN 'pending'
    WHEN g <= :n / 50 AND g % 4 = 1 THEN 'in_progress'
    WHEN g % 100 < 90 THEN 'completed'
    WHEN g % 100 < 98 THEN 'failed'
    ELSE 'canceled' END AS st) s;
INSERT INTO admin_audit (role, token_fp, action, record_id, filter,
    expected, affected, remote_addr)
SELECT 'operator', 'bench', CASE WHEN g % 2 = 0 THEN 'retry' ELSE 'cancel' END,
    NULL, '{"status": "failed"}', g % 50, g % 50, '127.0.0.1'
FROM generate_series(1, 1000) g;
VACUUM (ANALYZE) image_generations;
VACUUM (ANALYZE) admin_audit;
SQL
# And write the load out: a checkpoint flushing a million fresh rows is
# the load's own cost, not the pages'.
psql -X -q -h "$PG_SOCKET_DIR" -U postgres -d scenegen -c CHECKPOINT
log "admin: rows in $(($(date +%s) - t0)) s"

adm_jar=$work/admin.cookies
curl -s -o /dev/null -c "$adm_jar" --data-urlencode "token=$ADMIN_TOKEN" \
    "$BASE_URL/admin/login"
adm_record=$(psql_q -c "SELECT id FROM image_generations WHERE status = 'failed' ORDER BY updated_at DESC LIMIT 1 OFFSET 500")
adm_class='The provider timed out after N attempts.'
# Time GET $1 (and curl's -G arguments after it) ADMIN_TRIES times:
# "median max" in ms, or "status CODE" for an answer not 200.
admin_time() {	# path [curl args...]
	local path=$1 i code t
	shift
	local ms=()
	for i in $(seq 0 "$ADMIN_TRIES"); do
		read -r code t < <(curl -s -o /dev/null -b "$adm_jar" \
		    -w '%{http_code} %{time_total}\n' -G "$@" "$BASE_URL$path")
		if [ "$code" != 200 ]; then
			echo "status $code"
			return
		fi
		[ "$i" = 0 ] || ms+=("$(perl -e 'printf "%.1f", $ARGV[0] * 1000' "$t")")
	done
	printf '%s\n' "${ms[@]}" | sort -n | perl -e '@a = <STDIN>; chomp @a;
	    printf "%s %s\n", $a[$#a / 2], $a[-1]'
}
adm_worst=0
adm_worst_page=-
for page in overview records failed class record audit bulk; do
	case $page in
	overview) r=$(admin_time /admin/);;
	records) r=$(admin_time /admin/records);;
	failed) r=$(admin_time /admin/records --data-urlencode status=failed);;
	class) r=$(admin_time /admin/records --data-urlencode status=failed \
	    --data-urlencode "class=$adm_class");;
	record) r=$(admin_time "/admin/records/$adm_record");;
	audit) r=$(admin_time /admin/audit);;
	bulk) r=$(admin_time /admin/bulk --data-urlencode action=retry \
	    --data-urlencode status=failed --data-urlencode "class=$adm_class");;
	esac
	case $r in
	status*)
		report "admin-$page" "answered ${r#status }" "-" "-" "200" "MISSED"
		adm_worst=999999; adm_worst_page=$page
		continue;;
	esac
	read -r med max <<<"$r"
	if perl -e 'exit !($ARGV[0] > $ARGV[1])' "$max" "$adm_worst"; then
		adm_worst=$max; adm_worst_page=$page
	fi
	report "admin-$page" "median ${med}ms max ${max}ms ($ADMIN_TRIES GETs)" "-" "-" \
	    "<${ADMIN_TARGET_MS}ms" "$(verdict "$max < $ADMIN_TARGET_MS")"
done
report admin "worst page $adm_worst_page: max ${adm_worst}ms, $ADMIN_ROWS rows" \
    "-" "-" "<${ADMIN_TARGET_MS}ms" "$(verdict "$adm_worst < $ADMIN_TARGET_MS")"
