package Scenegen::Test;
# Shared helpers for the TAP tests: the running test stack (its env file),
# HTTP through nginx, tokens, SQL through psql, Redis through redis-cli.
# Every test file makes its own user and chapter, so files do not collide.
use strict;
use warnings;
use Exporter 'import';
use Digest::SHA qw(hmac_sha256);
use HTTP::Tiny;
use IPC::Open2 ();
use JSON::PP;
use MIME::Base64 qw(encode_base64url);
use Time::HiRes qw(sleep time);

our @EXPORT_OK = qw(stack_env http_req api_post api_status make_token
    new_uuid new_chapter sql sql_rows redis stack_part wait_until json
    project_dir build_dir
    scene_path sql_on sql1 pg_admin_url is_uuid count_rows is_api_error
    raw_http part_running wait_healthy redis_monitor_start
    redis_monitor_stop stream_has_job job_in_redis job_queued_seen api_pids
    daemon_takeover daemon_start daemon_stop daemon_signal daemon_alive
    daemon_log daemon_wait_log daemon_wait_ready daemon_exit_status
    standin_req standin_creates standin_creates_all insert_jobs
    wait_all_final id_list row_states daemons_sanitizer_clean
    part_down part_up api_same_ok daemon_test_setup post_user_batches
    busiest_daemon final_sampler sse_open sse_event);

my $json = JSON::PP->new->canonical->allow_nonref;
sub json { $json }

sub project_dir {
	my $d = __FILE__;
	$d =~ s{/t/lib/Scenegen/Test\.pm$}{};
	return $d eq __FILE__ ? '.' : $d;
}

sub build_dir { $ENV{SCENEGEN_BUILD} // project_dir() . '/build' }

my %env;
# The settings of the running stack (run/env or the suite's), as a hash.
sub stack_env {
	return \%env if %env;
	my $file = $ENV{SCENEGEN_ENV} // project_dir() . '/run/env';
	open my $fh, '<', $file or die "no stack env $file: start the stack "
	    . "(make run, or make test)\n";
	while (<$fh>) {
		chomp;
		next unless /^([A-Z_]+)=(.*)$/;
		my ($k, $v) = ($1, $2);
		$v =~ s/^'(.*)'$/$1/;
		$env{$k} = $v;
	}
	return \%env;
}

sub new_uuid {
	open my $fh, '<', '/proc/sys/kernel/random/uuid' or die $!;
	my $u = <$fh>;
	chomp $u;
	return $u;
}

# HS256 token; %o overrides claims (undef deletes), header, secret, alg.
sub make_token {
	my (%o) = @_;
	my $e = stack_env();
	my $now = time;
	my %claims = (
		sub => $o{sub} // $e->{DEMO_USER_ID}, aud => 'authenticated',
		role => 'authenticated', iat => int($now),
		exp => int($now) + 3600,
	);
	for my $k (keys %{ $o{claims} // {} }) {
		if (defined $o{claims}{$k}) { $claims{$k} = $o{claims}{$k} }
		else { delete $claims{$k} }
	}
	my $header = $o{header} // { alg => 'HS256', typ => 'JWT' };
	my $h = encode_base64url($json->encode($header));
	my $b = encode_base64url($json->encode(\%claims));
	my $secret = $o{secret} // $e->{SUPABASE_JWT_SECRET};
	my $sig = exists $o{signature} ? $o{signature}
	    : encode_base64url(hmac_sha256("$h.$b", $secret));
	return "$h.$b.$sig";
}

my $http = HTTP::Tiny->new(timeout => 30, keep_alive => 0);
# One HTTP request through nginx; returns { status, headers, content, json }.
sub http_req {
	my ($method, $path, %o) = @_;
	my $url = $path =~ m{^https?://} ? $path : stack_env()->{BASE_URL} . $path;
	my %args = (headers => $o{headers} // {});
	$args{content} = $o{body} if defined $o{body};
	my $r = $http->request($method, $url, \%args);
	my $decoded = eval { $json->decode($r->{content}) };
	$r->{json} = $decoded;
	return $r;
}

sub scene_path {
	my ($chapter, $scene) = @_;
	return "/api/v1/chapters/$chapter/images/scenes/$scene";
}

# POST a scene request with a token; body may be a hashref or raw text.
sub api_post {
	my (%o) = @_;
	my $body = ref $o{body} ? $json->encode($o{body}) : $o{body};
	my %h = ('Content-Type' => 'application/json');
	$h{Authorization} = "Bearer $o{token}" if defined $o{token};
	%h = (%h, %{ $o{headers} // {} });
	return http_req('POST', scene_path($o{chapter}, $o{scene} // 1),
	    headers => \%h, body => $body);
}

sub api_status {
	my (%o) = @_;
	my %h = %{ $o{headers} // {} };
	$h{Authorization} = "Bearer $o{token}" if defined $o{token};
	return http_req('GET', scene_path($o{chapter}, $o{scene} // 1) . '/status',
	    headers => \%h);
}

# Run SQL through psql; %vars become psql variables (:'name' in the query
# is quoted by psql). Returns the unaligned, tab-separated output.
sub sql {
	my ($query, %vars) = @_;
	return sql_on(stack_env()->{DATABASE_URL}, $query, %vars);
}

# sql() on another database (a connection URL or string), e.g. pg_admin_url().
sub sql_on {
	my ($db, $query, %vars) = @_;
	my @v = map { ('-v', "$_=$vars{$_}") } sort keys %vars;
	my $pid = IPC::Open2::open2(my $out, my $in, 'psql', '-X', '-q', '-t',
	    '-A', '-F', "\t", '-v', 'ON_ERROR_STOP=1', @v,
	    '-d', $db);
	print $in $query;
	close $in;
	local $/;
	my $text = <$out> // '';
	close $out;
	waitpid $pid, 0;
	die "psql failed ($?): $query\n" if $?;
	$text =~ s/\n+\z//;
	return $text;
}

# One value (or the whole output) of a query, without sql()'s trailing
# newlines: sql1("SELECT status ... WHERE id = :'id'", id => $id).
sub sql1 {
	my $out = sql(@_);
	$out =~ s/\n+\z//;
	return $out;
}

# Rows of a query as arrays of fields.
sub sql_rows {
	my $out = sql(@_);
	return [ map { [ split /\t/, $_, -1 ] } grep { length } split /\n/, $out ];
}

# A fresh user and a chapter they own: ($user_id, $chapter_id, $token).
sub new_chapter {
	my $user = new_uuid();
	my $chapter = new_uuid();
	sql("INSERT INTO chapters (id, user_id, title) VALUES (:'c', :'u', 'test')",
	    c => $chapter, u => $user);
	return ($user, $chapter, make_token(sub => $user));
}

sub redis {
	my @args = @_;
	my $sock = stack_env()->{REDIS_SOCKET};
	open my $fh, '-|', 'redis-cli', '-s', $sock, @args or die "redis-cli: $!";
	local $/;
	my $out = <$fh> // '';
	close $fh;
	$out =~ s/\n+\z//;
	return $out;
}

# Start or stop one part of the stack (postgres, redis, api, daemon, ...).
sub stack_part {
	my ($action, $part) = @_;
	my $dir = stack_env()->{STACK_DIR};
	system(project_dir() . "/scripts/stack.sh", "$action-part", $dir, $part) == 0
	    or die "stack.sh $action-part $part failed\n";
}

# Poll $cond every 50 ms until true or $timeout seconds; returns its value.
sub wait_until {
	my ($cond, $timeout) = @_;
	my $end = time + ($timeout // 10);
	while (time < $end) {
		my $v = $cond->();
		return $v if $v;
		sleep 0.05;
	}
	return $cond->();
}

# --- helpers for the API tests ---------------------------------------------

# A superuser connection string for database $db of the stack's PostgreSQL
# (through its socket folder PG_SOCKET_DIR), for tests that create databases.
sub pg_admin_url {
	my ($db) = @_;
	return "postgresql:///$db?host=" . stack_env()->{PG_SOCKET_DIR}
	    . '&user=postgres';
}

sub is_uuid {
	my ($s) = @_;
	return defined $s && !ref $s && $s =~
	    /\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\z/i;
}

# Rows of image_generations for a chapter and/or a user (either matches).
sub count_rows {
	my (%o) = @_;
	my @w;
	push @w, "chapter_id = :'c'" if defined $o{chapter};
	push @w, "user_id = :'u'" if defined $o{user};
	die "count_rows: chapter or user\n" unless @w;
	return 0 + sql('SELECT count(*) FROM image_generations WHERE '
	    . join(' OR ', @w), (defined $o{chapter} ? (c => $o{chapter}) : ()),
	    (defined $o{user} ? (u => $o{user}) : ()));
}

# Test assertions on an error answer: the status, a JSON content type, a
# JSON object with a non-empty string `detail` and `code` (equal to $code
# when given). The content type must be exactly application/json;
# charset=utf-8 (SPEC.md: all bodies), or with charset => 0 any
# application/json. Returns true when all held.
sub is_api_error {
	my ($r, $status, $code, $name, %o) = @_;
	require Test::More;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $tb = Test::More->builder;
	my $ok = 1;
	my $what = "$name: $r->{status}"
	    . (defined $r->{json} && ref $r->{json} eq 'HASH'
	    ? " code=" . ($r->{json}{code} // 'undef') : '')
	    . (defined $r->{content} ? ' body=' . substr($r->{content}, 0, 200) : '');
	$ok &= $tb->is_eq($r->{status}, $status, "$name: status $status")
	    or $tb->diag($what);
	my $ct = $r->{headers}{'content-type'} // '';
	if ($o{charset} // 1) {
		$ok &= $tb->is_eq($ct, 'application/json; charset=utf-8',
		    "$name: Content-Type");
	} else {
		$ok &= $tb->ok($ct =~ m{^application/json\b}i,
		    "$name: JSON Content-Type") or $tb->diag("Content-Type: $ct");
	}
	my $j = $r->{json};
	my $is_obj = ref $j eq 'HASH';
	$ok &= $tb->ok($is_obj && defined $j->{detail} && !ref $j->{detail}
	    && length $j->{detail}, "$name: body has a detail sentence")
	    or $tb->diag($what);
	if (defined $code) {
		$ok &= $tb->is_eq($is_obj ? $j->{code} : undef, $code,
		    "$name: code $code");
	} else {
		$ok &= $tb->ok($is_obj && defined $j->{code} && !ref $j->{code}
		    && length $j->{code}, "$name: body has a code");
	}
	return $ok;
}

# A request written by hand (for what HTTP::Tiny will not send, e.g. a POST
# without Content-Type): $text is sent as is to nginx, over HTTP/1.0 so the
# answer ends at close. Returns { status, headers, content, json } like
# http_req (header names lower-cased).
sub raw_http {
	my ($text) = @_;
	require IO::Socket::INET;
	my ($host, $port) = stack_env()->{BASE_URL} =~ m{^https?://([^/:]+):(\d+)};
	my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
	    Timeout => 30) or die "connect $host:$port: $!\n";
	binmode $s;
	# no shutdown(SHUT_WR): nginx takes a half-closed client for gone and
	# drops the answer; HTTP/1.0 makes nginx close after answering.
	print $s $text;
	local $/;
	my $answer = <$s> // '';
	close $s;
	my ($head, $body) = split /\r\n\r\n/, $answer, 2;
	my %r = (status => 599, headers => {}, content => $body // '');
	my @lines = split /\r\n/, $head // '';
	my $first = shift @lines // '';
	$r{status} = $1 if $first =~ m{^HTTP/\d\.\d (\d{3})};
	for (@lines) {
		my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
		$k = lc $k;
		$r{headers}{$k} = exists $r{headers}{$k} ? "$r{headers}{$k}, $v" : $v;
	}
	$r{json} = eval { $json->decode($r{content}) };
	return \%r;
}

# Is a part of the stack (api, daemon, standin, nginx, redis) running?
sub part_running {
	my ($part) = @_;
	my $dir = stack_env()->{STACK_DIR};
	my %pidfile = (api => 'api.pid', daemon => 'daemon.pid',
	    standin => 'standin.pid', nginx => 'nginx/nginx.pid',
	    redis => 'redis/redis.pid');
	open my $fh, '<', "$dir/$pidfile{$part}" or return 0;
	my $pid = <$fh>;
	return 0 unless defined $pid && $pid =~ /^(\d+)/;
	return kill 0, $1;
}

# Wait until GET /healthz answers 200 (default 30 s); returns true if so.
sub wait_healthy {
	my ($timeout) = @_;
	return wait_until(sub { http_req('GET', '/healthz')->{status} == 200 },
	    $timeout // 30);
}

# --- helpers for the outage tests -------------------------------------------
# part_down() stops one part of the stack (postgres, redis, ...) for a test
# and part_up() starts it again. A part still down at exit (END) is started
# again and the stack waited on to be healthy, so a failed test leaves the
# stack whole for the next file.

my %parts_down;
my $parts_pid = $$;

sub part_down {
	my ($part) = @_;
	stack_part('stop', $part);
	$parts_down{$part} = 1;
}

sub part_up {
	my ($part) = @_;
	stack_part('start', $part);
	delete $parts_down{$part};
}

END {
	local $?;
	%parts_down = () unless $$ == $parts_pid;	# not in forked children
	for my $part (sort keys %parts_down) {
		eval { stack_part('start', $part) };
		wait_healthy(30);
	}
}

# Test: the API answers from the same processes as ($api_pid, $workers) of
# an earlier api_pids(): the parent not restarted, no worker forked again.
sub api_same_ok {
	my ($api_pid, $workers) = @_;
	require Test::More;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($pid_after, $workers_after) = api_pids();
	my $ok = Test::More::is($pid_after, $api_pid,
	    'the API process was not restarted');
	$ok &= Test::More::is_deeply($workers_after, $workers,
	    'the same API workers answer (none died and was forked again)');
	return $ok;
}

# Watch every Redis command (redis-cli MONITOR) from now on, into a file;
# returns a handle for redis_monitor_stop.
sub redis_monitor_start {
	my $dir = stack_env()->{STACK_DIR};
	my $file = "$dir/monitor.$$." . int(rand(1e9));
	my $pid = fork // die "fork: $!";
	if (!$pid) {
		open STDOUT, '>', $file or die "$file: $!";
		open STDERR, '>', '/dev/null';
		exec 'redis-cli', '-s', stack_env()->{REDIS_SOCKET}, 'MONITOR';
		exit 127;
	}
	my $up = wait_until(sub { -s $file }, 10);
	die "redis-cli MONITOR did not start\n" unless $up;
	return { pid => $pid, file => $file };
}

# Stop a monitor; returns the commands seen, one line each
# (e.g. `1700000000.1 [0 unix:/...] "XADD" "{scenegen}:jobs" "*" "id" "..."`).
sub redis_monitor_stop {
	my ($m) = @_;
	sleep 0.2;
	kill 'TERM', $m->{pid};
	waitpid $m->{pid}, 0;
	open my $fh, '<', $m->{file} or return [];
	my @lines = <$fh>;
	close $fh;
	unlink $m->{file};
	chomp @lines;
	return [ grep { /^\d/ } @lines ];
}

# How many times record $id was put in the job stream: XADD commands of the
# monitor lines $lines with field id = $id, or (without $lines) entries
# still in the stream {scenegen}:jobs.
# Whether Redis holds record $id for dispatch: in the job stream, or
# waiting for a provider slot in a user's list (lib/dispatch.h).
sub job_in_redis {
	my ($id) = @_;
	return 1 if stream_has_job($id);
	for my $list (split /\n/, redis('--scan', '--pattern',
	    '{scenegen}:wait:*')) {
		my $pos = redis('LPOS', $list, $id);
		return 1 if length $pos && $pos =~ /^\d+$/;
	}
	return 0;
}

# Whether the MONITOR lines show record $id put up for dispatch: pushed on
# its user's waiting list or added to the job stream (commands run by the
# dispatch scripts show up in MONITOR too). Unlike job_in_redis this does
# not depend on a daemon not having taken the job yet.
sub job_queued_seen {
	my ($id, $lines) = @_;
	return scalar grep {
		/"(?:XADD|RPUSH|LPUSH)" "\{scenegen\}:(?:jobs|wait:[^"]*)" .*"\Q$id\E"/i
	} @$lines;
}

sub stream_has_job {
	my ($id, $lines) = @_;
	if ($lines) {
		return scalar grep {
			/"XADD" "\{scenegen\}:jobs" .*"id" "\Q$id\E"/i
		} @$lines;
	}
	my @out = split /\n/, redis('XRANGE', '{scenegen}:jobs', '-', '+');
	my $n = 0;
	for my $i (1 .. $#out) {
		$n++ if $out[$i] eq $id && $out[$i - 1] eq 'id';
	}
	return $n;
}

# The scenegen-api processes: (the pid of api.pid, sorted pids of its
# children, the pre-forked workers). A worker that died and was forked
# again shows as a changed list.
sub api_pids {
	my $dir = stack_env()->{STACK_DIR};
	open my $fh, '<', "$dir/api.pid" or return ('', []);
	my $parent = <$fh> // '';
	close $fh;
	($parent) = $parent =~ /^(\d+)/ or return ('', []);
	my @kids;
	opendir my $dh, '/proc' or return ($parent, []);
	for my $p (grep { /^\d+$/ } readdir $dh) {
		open my $st, '<', "/proc/$p/stat" or next;
		my $line = <$st> // '';
		close $st;
		# pid (comm) state ppid ...: comm may hold spaces and parens
		push @kids, $p if $line =~ /\)\s+\S+\s+(\d+)/ && $1 == $parent;
	}
	closedir $dh;
	return ($parent, [ sort { $a <=> $b } @kids ]);
}


# --- helpers for the daemon resilience tests --------------------------------
# A test that needs its own scenegend processes calls daemon_takeover()
# first: the stack's daemon is stopped, and at exit (END) every daemon the
# test started is killed and the stack's daemon is started again.

my @own_daemons;
my $took_over = 0;
my $daemon_tmp;
my $daemon_seq = 0;
my $test_pid = $$;

# The start of a daemon test: skip the file unless the stack has the
# stand-in, take over the stack's daemon (daemon_takeover), and make a user
# and a chapter; returns ($user_id, $chapter_id, $token) of new_chapter.
sub daemon_test_setup {
	require Test::More;
	Test::More::plan(skip_all => 'no stand-in in this stack')
	    unless stack_env()->{STANDIN_URL};
	daemon_takeover();
	return new_chapter();
}

sub daemon_takeover {
	# END blocks (which restore the stack's daemon) run on these too.
	$SIG{TERM} = $SIG{INT} = $SIG{HUP} = sub { warn "killed by SIG$_[0]\n"; exit 1 };
	stack_part('stop', 'daemon');
	$took_over = 1;
	return 1;
}

END {
	if ($$ == $test_pid) {
		my $rc = $?;
		for my $d (@own_daemons) {
			next if defined $d->{status};
			kill 'CONT', $d->{pid};
			kill 'KILL', $d->{pid};
			waitpid $d->{pid}, 0;
		}
		if ($took_over) {
			eval { stack_part('start', 'daemon') };
			warn "could not restart the stack's daemon: $@" if $@;
		}
		# the daemons' logs stay when a test failed
		if ($daemon_tmp) {
			my $tb = Test::Builder->can('new') && Test::Builder->new;
			if ($rc == 0 && $tb && $tb->is_passing) {
				require File::Path;
				File::Path::remove_tree($daemon_tmp);
			} else {
				print STDERR "# daemon logs in $daemon_tmp\n";
			}
		}
		$? = $rc;
	}
}

# Start build/scenegend with the stack's settings plus %o (env overrides:
# NAME => value, undef deletes; wrap => [command...] to start it under,
# which must exec it, e.g. ip netns exec NS); returns { pid, log, name }.
# Its stderr and stdout go to the log file (in a temporary folder kept on
# failure under $ENV{SCENEGEN_TEST_DIR} or /tmp).
sub daemon_start {
	my (%o) = @_;
	my $e = stack_env();
	unless ($daemon_tmp) {
		require File::Temp;
		my $base = $ENV{SCENEGEN_TEST_DIR} // '/tmp';
		$daemon_tmp = File::Temp::tempdir("scenegend-t.XXXXXX",
		    DIR => $base, CLEANUP => 0);
	}
	my $name = delete $o{name} // ('t' . $$ . '-' . ++$daemon_seq);
	my @wrap = @{ delete $o{wrap} // [] };
	my $log = "$daemon_tmp/$name.log";
	my %env = (
		DATABASE_URL => $e->{DATABASE_URL},
		REDIS_URL => $e->{REDIS_URL},
		MODELSLAB_API_KEY => 'standin-key',
		MODELSLAB_BASE_URL => $e->{STANDIN_URL},
		MODELSLAB_MAX_QUEUED => 50,
		SCENEGEN_IMAGE_DIR => $e->{SCENEGEN_IMAGE_DIR},
		SCENEGEN_IMAGE_BASE_URL => "$e->{BASE_URL}/images",
		SCENEGEN_LEASE_SECONDS => 3,
		SCENEGEN_SWEEP_SECONDS => 1,
		SCENEGEN_PENDING_GRACE_SECONDS => 1,
		SCENEGEN_BACKOFF_SCALE => 0.02,
		SCENEGEN_POLL_MIN_SECONDS => 0.2,
		SCENEGEN_POLL_MAX_SECONDS => 2,
		SCENEGEN_CONSUMER => $name,
		# Live status, as the stack's own daemon has it.
		($e->{SCENEGEN_EVENTS_SOCKET}
		    ? (SCENEGEN_EVENTS_SOCKET => $e->{SCENEGEN_EVENTS_SOCKET},
			SUPABASE_JWT_SECRET => $e->{SUPABASE_JWT_SECRET})
		    : ()),
		%o,
	);
	my $bin = build_dir() . '/scenegend';
	die "no $bin\n" unless -x $bin;
	my $pid = fork // die "fork: $!";
	if (!$pid) {
		setpgrp(0, 0);
		for my $k (keys %env) {
			if (defined $env{$k}) { $ENV{$k} = $env{$k} }
			else { delete $ENV{$k} }
		}
		delete $ENV{$_} for grep { !exists $env{$_} }
		    qw(NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID LISTEN_FDS);
		open STDIN, '<', '/dev/null';
		open STDOUT, '>>', $log or die "$log: $!";
		open STDERR, '>&', \*STDOUT;
		my @cmd = (@wrap, $bin);
		exec { $cmd[0] } @cmd;
		exit 127;
	}
	my $d = { pid => $pid, log => $log, name => $name,
	    started => time };
	push @own_daemons, $d;
	return $d;
}

# Has daemon $d exited? Reaps it; its wait status is in $d->{status}.
sub daemon_alive {
	my ($d) = @_;
	return 0 if defined $d->{status};
	require POSIX;
	my $r = waitpid $d->{pid}, POSIX::WNOHANG();
	if ($r == $d->{pid}) {
		$d->{status} = $?;
		$d->{ended} = time;
		return 0;
	}
	return 1;
}

sub daemon_signal {
	my ($d, $sig) = @_;
	return kill $sig, $d->{pid};
}

# Wait up to $timeout seconds for $d to exit; its wait status or undef.
sub daemon_exit_status {
	my ($d, $timeout) = @_;
	wait_until(sub { !daemon_alive($d) }, $timeout // 10);
	return $d->{status};
}

# Signal $d ($sig, default TERM) and wait up to $timeout s (default 15,
# then SIGKILL); returns the wait status.
sub daemon_stop {
	my ($d, $sig, $timeout) = @_;
	return $d->{status} if defined $d->{status};
	kill 'CONT', $d->{pid};
	kill $sig // 'TERM', $d->{pid};
	my $st = daemon_exit_status($d, $timeout // 15);
	return $st if defined $st;
	kill 'KILL', $d->{pid};
	return daemon_exit_status($d, 5);
}

sub daemon_log {
	my ($d) = @_;
	open my $fh, '<', $d->{log} or return '';
	local $/;
	my $t = <$fh> // '';
	return $t;
}

# Wait until the log of $d matches $re; returns true when it does.
sub daemon_wait_log {
	my ($d, $re, $timeout) = @_;
	return wait_until(sub { daemon_log($d) =~ $re }, $timeout // 10);
}

sub daemon_wait_ready {
	my ($d, $timeout) = @_;
	return daemon_wait_log($d, qr/ ready: /, $timeout // 15);
}

# A request to the stand-in's control endpoints: GET without $body,
# POST with it (a hashref is sent as JSON). Returns the decoded JSON.
sub standin_req {
	my ($path, $body) = @_;
	my $url = stack_env()->{STANDIN_URL} . $path;
	my $r = defined $body
	    ? http_req('POST', $url, body => ref $body ? $json->encode($body)
	    : $body, headers => { 'Content-Type' => 'application/json' })
	    : http_req('GET', $url);
	die "stand-in $path: $r->{status}\n" unless $r->{status} == 200;
	return $r->{json};
}

# { creates, fetches, ... } of one track id (record id).
sub standin_creates {
	my ($id) = @_;
	return standin_req("/_standin/creates?track_id=$id");
}

# { track_id => creates } of every track.
sub standin_creates_all { standin_req('/_standin/creates') }

# Post $o{per_user} scenes for each of $o{users} new users (a chapter
# each), described "$o{label} USER/SCENE", the stand-in holding each
# generation $o{eta} s; returns the record ids of the 202s.
sub post_user_batches {
	my (%o) = @_;
	my @ids;
	for my $u (1 .. $o{users}) {
		my (undef, $chapter, $token) = new_chapter();
		for my $n (1 .. $o{per_user}) {
			my $r = api_post(token => $token, chapter => $chapter,
			    scene => $n, body => { scene_description =>
			    "$o{label} $u/$n [standin:eta=$o{eta}]" });
			push @ids, $r->{json}{record_id} if $r->{status} == 202;
		}
	}
	return @ids;
}

# Of the daemons @d, the one holding the most records of $in (an
# id_list) in flight, by the lease holder its rows name: (daemon, count).
sub busiest_daemon {
	my ($in, @d) = @_;
	my ($best, $most) = ($d[0], -1);
	for my $dm (@d) {
		my $n = sql1("SELECT count(*) FROM image_generations WHERE id IN"
		    . " ($in) AND status = 'in_progress' AND lease_holder LIKE"
		    . " '%/$dm->{pid}'");
		($best, $most) = ($dm, $n) if $n > $most;
	}
	return ($best, $most);
}

# A sampler of the records $in (an id_list): each call keeps in $$max the
# most generations the stand-in held at once so far, and returns how
# many of the records are final.
sub final_sampler {
	my ($in, $max) = @_;
	return sub {
		my $s = standin_req('/_standin/stats');
		$$max = $s->{processing_now} if $s->{processing_now} > $$max;
		return sql1("SELECT count(*) FROM image_generations WHERE id IN"
		    . " ($in) AND status IN ('completed', 'failed')");
	};
}

# Insert $n pending rows of chapter $chapter (owned by $user) straight
# into image_generations and (unless no_xadd) XADD each to the job stream
# in one redis-cli pipe, as the API does. %o: prompt (default 'scene
# %d [standin:eta=0.8]'; %d is the row number), no_xadd. Returns the ids
# in insertion order.
sub insert_jobs {
	my ($user, $chapter, $n, %o) = @_;
	my $prompt = $o{prompt} // 'scene %d [standin:eta=0.8]';
	(my $sqlprompt = $prompt) =~ s/'/''/g;
	$sqlprompt =~ s/%d/' || g || '/g;
	my $out = sql(qq{INSERT INTO image_generations (id, user_id,
	    chapter_id, scene_number, image_type, status, progress,
	    retry_count, prompt, style, aspect_ratio, tier, metadata)
	    SELECT gen_random_uuid(), :'u', :'c', g, 'scene', 'pending', 0,
	    0, '$sqlprompt', 'cinematic', '16:9', 'free',
	    jsonb_build_object('scene_number', g, 'chapter_id', :'c'::uuid,
	    'service', 'modelslab_v7')
	    FROM generate_series(1, $n) g
	    RETURNING id}, u => $user, c => $chapter);
	my @ids = grep { length } split /\n/, $out;
	die "insert_jobs: " . scalar(@ids) . " rows of $n\n" unless @ids == $n;
	unless ($o{no_xadd}) {
		my $sock = stack_env()->{REDIS_SOCKET};
		open my $fh, '|-', "redis-cli -s '$sock' >/dev/null"
		    or die "redis-cli: $!";
		print $fh qq{XADD {scenegen}:jobs * id $_\n} for @ids;
		close $fh or die "redis-cli pipe failed\n";
	}
	return @ids;
}

# Test: no sanitizer report (ASan, UBSan, LSan) in the log of any daemon
# this test started (a sanitizer build reports on stderr, i.e. the log).
sub daemons_sanitizer_clean {
	require Test::More;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my @hits;
	for my $d (@own_daemons) {
		for my $line (split /\n/, daemon_log($d)) {
			push @hits, "$d->{name}: $line" if $line =~
			    /runtime error:|ERROR: (Address|Leak)Sanitizer|SUMMARY: \w+Sanitizer/;
		}
	}
	my $ok = Test::More::ok(!@hits, 'no sanitizer report in the logs of '
	    . scalar(@own_daemons) . ' daemons');
	Test::More::diag($_) for @hits[0 .. ($#hits < 9 ? $#hits : 9)];
	return $ok;
}

# 'id1','id2',... for an IN list (ids are UUIDs we made).
sub id_list {
	return join ',', map { "'$_'" } @_;
}

# status => count of the records @$ids.
sub row_states {
	my ($ids) = @_;
	my %n;
	for my $r (@{ sql_rows('SELECT status, count(*) FROM image_generations'
	    . ' WHERE id IN (' . id_list(@$ids) . ') GROUP BY status') }) {
		$n{$r->[0]} = $r->[1];
	}
	return \%n;
}

# Wait until every record of @$ids is completed or failed; true if so.
sub wait_all_final {
	my ($ids, $timeout) = @_;
	my $in = id_list(@$ids);
	return wait_until(sub {
		sql1("SELECT count(*) FROM image_generations WHERE id IN ($in)"
		    . " AND status IN ('completed', 'failed')") == @$ids
	}, $timeout // 30);
}

# Open a Server-Sent Events stream through nginx: GET $path with
# %headers (Accept: text/event-stream unless given). Returns
# { status, headers, sock, buf } once the header block is in; for a status
# other than 200 also the whole answer (content, json). HTTP/1.0, so
# nothing is chunked and an answer ends at close.
sub sse_open {
	my ($path, %h) = @_;
	require IO::Socket::INET;
	require IO::Select;
	$h{Accept} //= 'text/event-stream';
	delete $h{Accept} if $h{Accept} eq '';
	my ($host, $port) = stack_env()->{BASE_URL} =~ m{^https?://([^/:]+):(\d+)};
	my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
	    Timeout => 10) or die "connect $host:$port: $!\n";
	binmode $s;
	print $s "GET $path HTTP/1.0\r\nHost: localhost\r\n"
	    . join('', map { "$_: $h{$_}\r\n" } sort keys %h) . "\r\n";
	my $sel = IO::Select->new($s);
	my $buf = '';
	my $end = time + 10;
	while ($buf !~ /\r\n\r\n/ && time < $end) {
		last unless $sel->can_read($end - time);
		my $n = sysread($s, $buf, 65536, length $buf);
		last unless $n;
	}
	my ($head, $rest) = split /\r\n\r\n/, $buf, 2;
	my %r = (status => 599, headers => {}, sock => $s, buf => $rest // '');
	my @lines = split /\r\n/, $head // '';
	my $first = shift @lines // '';
	$r{status} = $1 if $first =~ m{^HTTP/\d\.\d (\d{3})};
	for (@lines) {
		my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
		$r{headers}{lc $k} = $v;
	}
	if ($r{status} != 200) {
		# An error: HTTP/1.0, so the answer ends at close.
		while ($sel->can_read(5)) {
			my $n = sysread($s, $r{buf}, 65536, length $r{buf});
			last unless $n;
		}
		$r{content} = $r{buf};
		$r{json} = eval { $json->decode($r{content}) };
	}
	return \%r;
}

# The next event of stream $r (from sse_open) within $timeout seconds
# (default 5): { event, id, data, json, at } (at: Time::HiRes time it
# came), or undef (nothing came, or the stream ended). ":" comments are
# skipped.
sub sse_event {
	my ($r, $timeout) = @_;
	require IO::Select;
	require Time::HiRes;
	my $end = Time::HiRes::time() + ($timeout // 5);
	my $sel = IO::Select->new($r->{sock});
	for (;;) {
		if ($r->{buf} =~ s/^(.*?)\n\n//s) {
			my $block = $1;
			my %e;
			for (split /\n/, $block) {
				$e{$1} = (defined $e{$1} ? "$e{$1}\n" : '') . $2
				    if /^([a-z]+): ?(.*)$/;
			}
			next unless defined $e{data};
			$e{json} = eval { $json->decode($e{data}) };
			$e{at} = Time::HiRes::time();
			return \%e;
		}
		my $left = $end - Time::HiRes::time();
		return undef if $left <= 0;
		return undef unless $sel->can_read($left);
		my $n = sysread($r->{sock}, $r->{buf}, 65536, length $r->{buf});
		return undef unless $n;
	}
}

1;
