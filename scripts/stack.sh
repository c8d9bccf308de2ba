#!/bin/bash
# The local stack, everything under one folder: PostgreSQL, Redis, the
# ModelsLab stand-in (unless MODELSLAB_API_KEY is set), scenegen-api,
# scenegend and nginx. Used by `make run` (folder run/) and by the tests
# (a temporary folder each run).
#
# usage: stack.sh start|stop|status DIR
#        stack.sh start-part|stop-part DIR postgres|redis|standin|api|daemon|nginx
#        stack.sh write-env DIR   (DIR/env, once its parts run; start writes it)
#
# Environment: PORT (nginx, default 8080; 0 picks a free one), SCENEGEN_BUILD
# (folder of the binaries, default build), MODELSLAB_API_KEY,
# MODELSLAB_BASE_URL, MODELSLAB_MAX_QUEUED, STANDIN_ARGS, DAEMON_WRAPPER (a
# command scenegend is started under, split on spaces, e.g. valgrind and
# its options; chaos/valgrind.sh), SCENEGEN_DAEMONS (daemons to run,
# default 1), NGINX_KEEPALIVE and NGINX_KEEPALIVE_TIMEOUT (nginx's kept
# connections to the API, per nginx worker; default sized from the API's
# workers, and 5s), and every other SCENEGEN_*/MODELSLAB_* setting, passed
# through.
# STACK_LISTEN_ADDR (an IPv4 address of this machine, default none): a new
# folder's PostgreSQL (port 5432, trust for its own subnets) and its Redis
# (port 6379) listen on it over TCP as well as on their sockets, and the
# stand-in listens on it instead of 127.0.0.1; for daemons in other network
# namespaces (t/lib/Scenegen/Netns.pm).
#
# Each daemon runs under a supervisor (stack.sh supervise DIR N, a bash loop
# started by start-part daemon): restarted within 5 s when it dies, as
# systemd's Restart=on-failure would; see supervise() below.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:?usage: stack.sh start|stop|status DIR}
dir=${2:?usage: stack.sh start|stop|status DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
build=${SCENEGEN_BUILD:-build}
case $build in /*) ;; *) build=$here/$build;; esac
pgbin=/usr/lib/postgresql/15/bin
# The ModelsLab key is for scenegend alone, and as a file: keep it out of
# the environment that every other part started here would inherit.
modelslab_key=${MODELSLAB_API_KEY:-}
unset MODELSLAB_API_KEY

say() { echo "stack: $*" >&2; }

# Is the process of pid file $1 alive?
alive() { [ -f "$1" ] && kill -0 "$(head -n1 "$1" 2>/dev/null)" 2>/dev/null; }

# Wait up to $2 tenths of a second for command "$1" to succeed.
wait_for() {
	local i=0
	while ! eval "$1" >/dev/null 2>&1; do
		i=$((i + 1))
		[ "$i" -ge "$2" ] && return 1
		sleep 0.1
	done
}

# A free port below the kernel's ephemeral range (32768 and up here): a
# port the kernel hands out for "any port" can be taken again as the local
# end of an outgoing connection before nginx binds it.
free_port() {
	perl -MIO::Socket::INET -e '
	    my ($lo) = split " ", do { local (@ARGV, $/) =
		"/proc/sys/net/ipv4/ip_local_port_range"; <> // "32768" };
	    $lo = 32768 if !$lo || $lo < 12000;
	    for (1 .. 200) {
		my $p = 10000 + int(rand($lo - 10000));
		my $s = IO::Socket::INET->new(Listen => 1,
		    LocalAddr => "127.0.0.1", LocalPort => $p, ReuseAddr => 1)
		    or next;
		print $p;
		exit 0;
	    }
	    exit 1'
}

# Settings chosen once per folder, kept in $dir/stack.conf.
load_conf() {
	if [ ! -f "$dir/stack.conf" ]; then
		local port=${PORT:-8080} old_umask
		old_umask=$(umask)
		umask 077	# it holds the JWT secret
		[ "$port" = 0 ] && port=$(free_port)
		local secret
		secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
		{
			echo "NGINX_PORT=$port"
			echo "JWT_SECRET=$secret"
			echo "DEMO_USER_ID=$(cat /proc/sys/kernel/random/uuid)"
			echo "DEMO_CHAPTER_ID=$(cat /proc/sys/kernel/random/uuid)"
		} >"$dir/stack.conf"
		umask "$old_umask"
	fi
	# The dashboard's two operator tokens (folders made before it lack them).
	if ! grep -q '^ADMIN_TOKEN=' "$dir/stack.conf"; then
		{
			echo "ADMIN_TOKEN=op-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
			echo "ADMIN_READONLY_TOKEN=ro-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
		} >>"$dir/stack.conf"
	fi
	chmod 600 "$dir/stack.conf"	# folders made before the umask
	# shellcheck disable=SC1091
	. "$dir/stack.conf"
	export DATABASE_URL="postgresql:///scenegen?host=$dir/pg&user=scenegen"
	export REDIS_URL="unix://$dir/redis/redis.sock"
	export JWT_AUDIENCE=${JWT_AUDIENCE:-authenticated}
	# The caller's SCENEGEN_* and MODELSLAB_* settings reach the programs
	# as they are (exported variables are inherited); these have
	# stack defaults, and nginx follows the two paths.
	export SCENEGEN_IMAGE_DIR=${SCENEGEN_IMAGE_DIR:-$dir/images}
	export SCENEGEN_IMAGE_BASE_URL=${SCENEGEN_IMAGE_BASE_URL:-http://127.0.0.1:$NGINX_PORT/images}
	export SCENEGEN_API_SOCKET=${SCENEGEN_API_SOCKET:-$dir/api.sock}
	export SCENEGEN_API_SOCKET_GROUP=${SCENEGEN_API_SOCKET_GROUP:-www-data}
	# Live status: nchan's publisher, local only (nginx binds it).
	export SCENEGEN_EVENTS_SOCKET=${SCENEGEN_EVENTS_SOCKET-$dir/nginx/events.sock}
	# Each API worker's state, '.' idle or 'B' busy (scenegen-api(8)).
	export SCENEGEN_API_SCOREBOARD=${SCENEGEN_API_SCOREBOARD-$dir/api.scoreboard}
	export SUPABASE_JWT_SECRET_FILE=$dir/secrets/jwt_secret
	mkdir -p "$dir/secrets" "$SCENEGEN_IMAGE_DIR"
	chmod 700 "$dir/secrets"
	chmod 755 "$dir" "$SCENEGEN_IMAGE_DIR"
	printf '%s\n' "$JWT_SECRET" >"$dir/secrets/jwt_secret"
	# The dashboard's tokens, as files like the JWT secret.
	export SCENEGEN_ADMIN_TOKEN_FILE=$dir/secrets/admin_token
	export SCENEGEN_ADMIN_READONLY_TOKEN_FILE=$dir/secrets/admin_readonly_token
	printf '%s\n' "$ADMIN_TOKEN" >"$dir/secrets/admin_token"
	printf '%s\n' "$ADMIN_READONLY_TOKEN" >"$dir/secrets/admin_readonly_token"
}

start_postgres() {
	local data=$dir/pg/data
	if [ ! -f "$data/PG_VERSION" ]; then
		mkdir -p "$dir/pg"
		chown postgres:postgres "$dir/pg"
		runuser -u postgres -- "$pgbin/initdb" -D "$data" -A trust \
		    -U postgres -E UTF8 --locale=C.UTF-8 >"$dir/pg/initdb.log" 2>&1 ||
		    { say "initdb failed, see $dir/pg/initdb.log"; return 1; }
		cat >>"$data/postgresql.conf" <<CONF
listen_addresses = '${STACK_LISTEN_ADDR:-}'
unix_socket_directories = '$dir/pg'
max_connections = 200
shared_buffers = 128MB
logging_collector = off
CONF
		[ -z "${STACK_LISTEN_ADDR:-}" ] ||
		    echo "host scenegen scenegen samenet trust" >>"$data/pg_hba.conf"
	fi
	if ! runuser -u postgres -- "$pgbin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		runuser -u postgres -- "$pgbin/pg_ctl" -D "$data" -l "$dir/pg/postgres.log" \
		    -w -t 60 start >/dev/null ||
		    { say "postgres failed, see $dir/pg/postgres.log"; return 1; }
	fi
	if ! psql -X -q -h "$dir/pg" -U postgres -d postgres -tAc \
	    "SELECT 1 FROM pg_roles WHERE rolname = 'scenegen'" | grep -q 1; then
		psql -X -q -h "$dir/pg" -U postgres -d postgres \
		    -c "CREATE ROLE scenegen LOGIN" -c "CREATE DATABASE scenegen OWNER scenegen"
	fi
	"$here/scripts/migrate.sh" "$here/sql" >"$dir/migrate.log" ||
	    { cat "$dir/migrate.log" >&2; return 1; }
	psql -X -q -d "$DATABASE_URL" -v uid="$DEMO_USER_ID" -v cid="$DEMO_CHAPTER_ID" <<'SQL'
INSERT INTO chapters (id, user_id, title) VALUES (:'cid', :'uid', 'Demo chapter')
ON CONFLICT (id) DO NOTHING;
SQL
}

stop_postgres() {
	[ -f "$dir/pg/data/PG_VERSION" ] || return 0
	runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir/pg/data" -m fast -w stop \
	    >/dev/null 2>&1 || true
}

start_redis() {
	mkdir -p "$dir/redis"
	alive "$dir/redis/redis.pid" && return 0
	local tcp="--port 0"
	# (no protected mode there: it refuses every client not on loopback)
	[ -z "${STACK_LISTEN_ADDR:-}" ] ||
	    tcp="--port 6379 --bind $STACK_LISTEN_ADDR --protected-mode no"
	# shellcheck disable=SC2086
	redis-server $tcp --unixsocket "$dir/redis/redis.sock" \
	    --unixsocketperm 700 --dir "$dir/redis" --daemonize yes \
	    --pidfile "$dir/redis/redis.pid" --logfile "$dir/redis/redis.log" \
	    --save "" --appendonly no --maxclients 10000 >/dev/null
	wait_for "redis-cli -s '$dir/redis/redis.sock' ping | grep -q PONG" 100 ||
	    { say "redis failed, see $dir/redis/redis.log"; return 1; }
}

stop_redis() {
	if alive "$dir/redis/redis.pid"; then
		redis-cli -s "$dir/redis/redis.sock" shutdown nosave >/dev/null 2>&1 ||
		    kill "$(cat "$dir/redis/redis.pid")" 2>/dev/null || true
	fi
}

start_standin() {
	[ -n "$modelslab_key" ] && return 0
	[ -x "$build/modelslab-standin" ] || { say "no $build/modelslab-standin"; return 1; }
	alive "$dir/standin.pid" && return 0
	rm -f "$dir/standin.port"
	# shellcheck disable=SC2086
	setsid "$build/modelslab-standin" -l "${STACK_LISTEN_ADDR:-127.0.0.1}:0" \
	    -p "$dir/standin.port" -k standin-key ${STANDIN_ARGS:--e 3} </dev/null >>"$dir/standin.log" 2>&1 &
	echo $! >"$dir/standin.pid"
	wait_for "test -s '$dir/standin.port'" 100 ||
	    { say "stand-in failed, see $dir/standin.log"; return 1; }
}

# Provider settings: the stand-in when there is no key.
provider_env() {
	if [ -z "$modelslab_key" ]; then
		modelslab_key=standin-key
		export MODELSLAB_BASE_URL="http://${STACK_LISTEN_ADDR:-127.0.0.1}:$(cat "$dir/standin.port")"
		export MODELSLAB_MAX_QUEUED=${MODELSLAB_MAX_QUEUED:-1000}
	fi
}

start_api() {
	[ -x "$build/scenegen-api" ] || { say "no $build/scenegen-api"; return 1; }
	alive "$dir/api.pid" && return 0
	rm -f "$SCENEGEN_API_SOCKET"
	setsid "$build/scenegen-api" </dev/null >>"$dir/api.log" 2>&1 &
	echo $! >"$dir/api.pid"
	wait_for "test -S '$SCENEGEN_API_SOCKET'" 100 ||
	    { say "scenegen-api failed, see $dir/api.log"; tail -n5 "$dir/api.log" >&2; return 1; }
}

# Daemon $1 (1..SCENEGEN_DAEMONS): its pid, log and supervisor files.
daemon_files() {
	local n=$1 sfx=
	[ "$n" = 1 ] || sfx=-$n
	dpid=$dir/daemon$sfx.pid
	dlog=$dir/daemon$sfx.log
	spid=$dir/supervise$sfx.pid
}

# One line in the daemon's log, from the supervisor.
sup_log() { echo "supervise: $(date '+%F %T') $*" >>"$dlog"; }

# The supervisor of daemon $1, as systemd's Restart=on-failure: start
# scenegend, and when it dies of a signal other than TERM/INT/HUP/PIPE or
# exits non-zero, start it again after 1 s (at most 5 starts in 10 s, like
# StartLimitBurst=). A clean stop (exit 0, SIGTERM) ends the supervision.
# SIGTERM to the supervisor ends it at once and leaves the daemon running:
# `stack.sh stop` stops the supervisors first, then drains the daemons.
supervise() {
	local n=$1 child st why restarts=() now
	daemon_files "$n"
	trap 'exit 0' TERM INT HUP
	child=
	# A daemon that runs without its supervisor (the supervisor was
	# killed): watch it; its exit status is unknown, so any end counts
	# as a failure.
	if alive "$dpid"; then
		child=$(head -n1 "$dpid")
		sup_log "watching scenegend $n (pid $child) started earlier"
		while kill -0 "$child" 2>/dev/null; do sleep 0.5 & wait $! || true; done
		sup_log "scenegend $n (pid $child) is gone (exit status unknown);" \
		    "restarting in 1 s"
		sleep 1
	fi
	while :; do
		now=$(date +%s)
		restarts+=("$now")
		if [ "${#restarts[@]}" -gt 5 ]; then
			restarts=("${restarts[@]: -5}")
			if [ $((now - restarts[0])) -lt 10 ]; then
				sup_log "scenegend $n: 5 starts in 10 s; giving up"
				rm -f "$spid"
				exit 1
			fi
		fi
		# shellcheck disable=SC2086
		MODELSLAB_API_KEY_FILE="$dir/secrets/modelslab_api_key" \
		    ${DAEMON_WRAPPER:-} "$build/scenegend" </dev/null \
		    >>"$dlog" 2>&1 &
		child=$!
		echo "$child" >"$dpid"
		# Poll rather than wait: the pid file is written again if a
		# script removed it, and a TERM is acted on within 0.5 s.
		while kill -0 "$child" 2>/dev/null; do
			[ "$(head -n1 "$dpid" 2>/dev/null)" = "$child" ] ||
			    echo "$child" >"$dpid"
			# (a trapped TERM interrupts `wait` at once, not `sleep`)
			sleep 0.5 & wait $! || true
		done
		st=0
		wait "$child" || st=$?
		case $st in
		0) sup_log "scenegend $n (pid $child) exited 0: not restarted"
		   break;;
		129|130|141|143)
		   sup_log "scenegend $n (pid $child) stopped by signal" \
		       "$((st - 128)): not restarted"
		   break;;
		esac
		if [ "$st" -gt 128 ]; then why="killed by signal $((st - 128))"
		else why="exited with status $st"; fi
		sup_log "scenegend $n (pid $child) $why; restarting in 1 s"
		sleep 1 & wait $! || true
		sup_log "scenegend $n: restarting"
	done
	rm -f "$spid"
}

start_daemon() {
	[ -x "$build/scenegend" ] || { say "no $build/scenegend yet, jobs stay queued"; return 0; }
	local n count=${SCENEGEN_DAEMONS:-1} i
	case $count in ''|*[!0-9]*|0) say "SCENEGEN_DAEMONS must be 1 or more"; return 1;; esac
	provider_env
	# The key as a file, not in the environment (/proc/PID/environ,
	# core dumps, children): MODELSLAB_API_KEY_FILE, as LoadCredential=
	# does under systemd.
	(umask 077 && printf '%s\n' "$modelslab_key" \
	    >"$dir/secrets/modelslab_api_key")
	for n in $(seq 1 "$count"); do
		daemon_files "$n"
		alive "$spid" && alive "$dpid" && continue
		if ! alive "$spid"; then
			setsid "$here/scripts/stack.sh" supervise "$dir" "$n" \
			    </dev/null >/dev/null 2>&1 &
			echo $! >"$spid"
		fi
		# the supervisor writes the daemon's pid file
		for i in $(seq 1 50); do
			alive "$dpid" && break
			sleep 0.1
		done
		# A wrapper such as valgrind takes seconds to reach main(): give a
		# bad setting that long to show before calling the start good.
		if [ -n "${DAEMON_WRAPPER:-}" ]; then sleep 3; else sleep 0.2; fi
		if ! alive "$dpid"; then
			stop_pidfile "$spid" 2
			say "scenegend failed, see $dlog"
			tail -n5 "$dlog" >&2
			return 1
		fi
	done
}

# Supervisors first (so that nothing restarts what is being stopped), then
# every daemon, each given its drain time (SCENEGEN_DRAIN_SECONDS, 20).
stop_daemon() {
	local f
	for f in "$dir"/supervise*.pid; do
		[ -f "$f" ] && stop_pidfile "$f" 5
	done
	for f in "$dir"/daemon*.pid; do
		[ -f "$f" ] && stop_pidfile "$f" "$(( ${SCENEGEN_DRAIN_SECONDS:-20} + 15 ))" &
	done
	wait
}

start_nginx() {
	mkdir -p "$dir/nginx/tmp"
	# Kept FastCGI connections per nginx worker (README.md, "Kept
	# connections"): 8 per API worker, shared out between nginx's
	# workers (worker_processes auto: one per CPU). NGINX_KEEPALIVE
	# overrides it (t/api-kept-connections.t keeps more than the workers
	# hold on purpose).
	local ncpu api_workers keepalive
	ncpu=$(nproc)
	api_workers=${SCENEGEN_API_WORKERS:-0}
	[ "$api_workers" -gt 0 ] 2>/dev/null || api_workers=$((4 * ncpu))
	keepalive=${NGINX_KEEPALIVE:-$((api_workers * 8 / ncpu))}
	[ "$keepalive" -ge 1 ] 2>/dev/null || keepalive=1
	cat >"$dir/nginx/nginx.conf" <<CONF
# Generated by scripts/stack.sh: the local wrapper around nginx/scenegen-api.conf.
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
daemon on;
worker_processes auto;
user www-data;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/error.log warn;
# Live status: each SSE subscriber holds a connection (and a descriptor).
worker_rlimit_nofile 16384;
events { worker_connections 4096; }
http {
	include /etc/nginx/mime.types;
	access_log ${NGINX_ACCESS_LOG:-$dir/nginx/access.log};
	client_body_temp_path $dir/nginx/tmp/body;
	fastcgi_temp_path $dir/nginx/tmp/fastcgi;
	proxy_temp_path $dir/nginx/tmp/proxy;
	uwsgi_temp_path $dir/nginx/tmp/uwsgi;
	scgi_temp_path $dir/nginx/tmp/scgi;
	# As nginx/scenegen-site.conf: kept connections to the API's workers.
	upstream scenegen_api {
		server unix:$SCENEGEN_API_SOCKET;
		keepalive $keepalive;
		keepalive_timeout ${NGINX_KEEPALIVE_TIMEOUT:-5s};
	}
	# As nginx/scenegen-site.conf: nchan's publisher, on a local socket.
	server {
		listen unix:$dir/nginx/events.sock;
		include $here/nginx/scenegen-events-publisher.conf;
	}
	server {
		listen 127.0.0.1:$NGINX_PORT;
		server_name localhost;
		include $here/nginx/scenegen-errors.conf;
		include $here/nginx/scenegen-api.conf;
		include $here/nginx/scenegen-admin.conf;
		location /images/ { alias $SCENEGEN_IMAGE_DIR/; }
		# As nginx/scenegen-site.conf: anything else is a JSON 404.
		location / {
			default_type "application/json; charset=utf-8";
			return 404 '{"detail":"No such endpoint.","code":"not_found"}\n';
		}
	}
}
CONF
	if alive "$dir/nginx/nginx.pid"; then
		nginx -c "$dir/nginx/nginx.conf" -s reload 2>>"$dir/nginx/error.log"
		return 0
	fi
	nginx -c "$dir/nginx/nginx.conf" 2>>"$dir/nginx/error.log" ||
	    { say "nginx failed, see $dir/nginx/error.log"; tail -n5 "$dir/nginx/error.log" >&2; return 1; }
}

# SIGTERM the process of pid file $1, SIGKILL it after $2 seconds (10).
stop_pidfile() {
	local f=$1 i
	alive "$f" || { rm -f "$f"; return 0; }
	kill -TERM "$(head -n1 "$f")" 2>/dev/null || true
	for i in $(seq 1 $((${2:-10} * 10))); do
		alive "$f" || break
		sleep 0.1
	done
	alive "$f" && kill -KILL "$(head -n1 "$f")" 2>/dev/null
	rm -f "$f"
}

write_env() {
	local token
	token=$("$here/scripts/token.pl" "$DEMO_USER_ID" "$JWT_SECRET" "$JWT_AUDIENCE")
	# It holds the JWT secret: for root only (umask in a subshell).
	(umask 077 && : >"$dir/env.tmp")
	{
		echo "BASE_URL=http://127.0.0.1:$NGINX_PORT"
		echo "DATABASE_URL='$DATABASE_URL'"
		echo "REDIS_URL='$REDIS_URL'"
		echo "SUPABASE_JWT_SECRET=$JWT_SECRET"
		echo "JWT_AUDIENCE=$JWT_AUDIENCE"
		echo "DEMO_USER_ID=$DEMO_USER_ID"
		echo "DEMO_CHAPTER_ID=$DEMO_CHAPTER_ID"
		echo "DEMO_TOKEN=$token"
		echo "ADMIN_URL=http://127.0.0.1:$NGINX_PORT/admin/"
		echo "ADMIN_TOKEN=$ADMIN_TOKEN"
		echo "ADMIN_READONLY_TOKEN=$ADMIN_READONLY_TOKEN"
		echo "STACK_DIR=$dir"
		echo "PG_SOCKET_DIR=$dir/pg"
		echo "REDIS_SOCKET=$dir/redis/redis.sock"
		[ -f "$dir/standin.port" ] && [ "${modelslab_key:-standin-key}" = standin-key ] &&
		    echo "STANDIN_URL=http://${STACK_LISTEN_ADDR:-127.0.0.1}:$(cat "$dir/standin.port")"
		echo "SCENEGEN_IMAGE_DIR=$SCENEGEN_IMAGE_DIR"
		echo "SCENEGEN_EVENTS_SOCKET=$SCENEGEN_EVENTS_SOCKET"
		echo "SCENEGEN_API_SCOREBOARD=$SCENEGEN_API_SCOREBOARD"
	} >"$dir/env.tmp"
	chmod 600 "$dir/env.tmp"
	mv -f "$dir/env.tmp" "$dir/env"
}

start_part() {
	case $1 in
	postgres) start_postgres;;
	redis) start_redis;;
	standin) start_standin;;
	api) start_api;;
	daemon) start_daemon;;
	nginx) start_nginx;;
	*) say "unknown part $1"; return 1;;
	esac
}

stop_part() {
	case $1 in
	postgres) stop_postgres;;
	redis) stop_redis;;
	standin) stop_pidfile "$dir/standin.pid";;
	api) stop_pidfile "$dir/api.pid";;
	daemon) stop_daemon;;
	nginx) stop_pidfile "$dir/nginx/nginx.pid";;
	*) say "unknown part $1"; return 1;;
	esac
}

case $cmd in
start)
	load_conf
	for part in postgres redis standin api daemon nginx; do
		start_part $part
	done
	write_env
	if [ "${STACK_QUIET:-0}" != 1 ]; then
		# shellcheck disable=SC1091
		. "$dir/env"
		cat <<MSG
scenegen is running: $BASE_URL (settings in $dir/env; \`make stop\` stops it)

  curl -s -X POST "$BASE_URL/api/v1/chapters/$DEMO_CHAPTER_ID/images/scenes/1" \\
    -H "Authorization: Bearer $DEMO_TOKEN" \\
    -H "Content-Type: application/json" \\
    -d '{"scene_description": "A young wizard discovering magic", "style": "cinematic", "aspect_ratio": "16:9"}'

  curl -s "$BASE_URL/api/v1/chapters/$DEMO_CHAPTER_ID/images/scenes/1/status" \\
    -H "Authorization: Bearer $DEMO_TOKEN"

The operator dashboard: $ADMIN_URL (log in with ADMIN_TOKEN of $dir/env;
ADMIN_READONLY_TOKEN for a read-only operator)
MSG
	fi
	;;
stop)
	for part in nginx daemon api standin redis postgres; do
		stop_part $part
	done
	;;
start-part)
	load_conf
	start_part "${3:?part}"
	;;
stop-part)
	stop_part "${3:?part}"
	;;
write-env)
	load_conf
	write_env
	;;
supervise)	# internal: the supervisor of daemon $3 (start_daemon runs it,
		# with the environment the daemon needs)
	supervise "${3:?daemon number}"
	;;
status)
	for f in standin.pid api.pid daemon.pid nginx/nginx.pid redis/redis.pid; do
		if alive "$dir/$f"; then echo "$f: running"; else echo "$f: stopped"; fi
	done
	for f in "$dir"/daemon-*.pid "$dir"/supervise*.pid; do
		[ -f "$f" ] || continue
		if alive "$f"; then echo "${f#"$dir"/}: running"; else echo "${f#"$dir"/}: stopped"; fi
	done
	runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir/pg/data" status >/dev/null 2>&1 &&
	    echo "postgres: running" || echo "postgres: stopped"
	;;
*)
	say "unknown command $cmd"
	exit 2
	;;
esac
