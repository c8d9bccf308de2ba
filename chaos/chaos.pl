#!/usr/bin/perl
# The chaos run proper (chaos/run.sh starts the stack and calls this):
# load through nginx, a sampler of every row, disruptions at random
# moments, a settle, then the invariants. Prints "[PASS] ..." / "[FAIL] ..."
# lines (details indented below them) and a summary; exits 1 on any FAIL.
use strict;
use warnings;
use Getopt::Long;
use HTTP::Tiny;
use JSON::PP;
use List::Util qw(shuffle sum max min);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use Chaos;

$| = 1;
my %o = (duration => 300);
GetOptions(\%o, 'stack=s', 'work=s', 'duration=i', 'short') or exit 2;
my $stack = $o{stack} or die "--stack\n";
my $work = $o{work} or die "--work\n";
my $short = $o{short} ? 1 : 0;
my $duration = $o{duration};
my $seed = $ENV{CHAOS_SEED} // (time ^ $$) & 0xffffff;
srand($seed);
my $rate = $ENV{CHAOS_RATE} // ($short ? 10 : 14);
my $lease = $ENV{SCENEGEN_LEASE_SECONDS} // 4;
my $max_creates = 1 + ($ENV{SCENEGEN_MAX_RETRIES} // 3);
my $build = $ENV{SCENEGEN_BUILD} // project_dir() . '/build';
my $env = read_env("$stack/env");
die "the stack has no stand-in\n" unless $env->{STANDIN_URL};
my $json = JSON::PP->new->canonical;
my $T0 = time;
my $http = HTTP::Tiny->new(timeout => 10);

sub logmsg { say_ts($T0, @_) }

logmsg("seed $seed, $duration s of load at ~$rate POST/s, lease ${lease} s, "
    . ($short ? 'short' : 'full') . " run, work folder $work");

# --- the load -------------------------------------------------------------

# Fault classes: [class, weight, marker generator]. "clean" records carry
# no fault marker (an eta= marker is no fault) and must be created once.
my @retryable = qw(http500 http502 http503 http504 http429 error200
    malformed truncated drop short failed);
my @classes = (
	[ clean => 40, sub { '' } ],
	[ clean => 12, sub { sprintf 'eta=%.1f', 1.5 + rand 2.5 } ],
	[ retry1 => 16, sub { 'fault=' . $retryable[rand @retryable] . ';times=1' } ],
	[ retry2 => 9, sub { 'fault=' . $retryable[rand @retryable] . ';times=2' } ],
	[ fetchfault => 5, sub { 'fault=' . (qw(http500 truncated http503))[rand 3]
	    . ';at=fetch;times=1' } ],
	[ fatal => 6, sub { 'fault=http402' } ],
	[ fatal => 4, sub { 'fault=http401' } ],
	[ poison => 4, sub { 'fault=' . (qw(http503 drop truncated error200))[rand 4]
	    . ';times=9' } ],
);
my $wsum = sum(map { $_->[1] } @classes);

sub pick_class {
	my $r = rand $wsum;
	for my $c (@classes) {
		return ($c->[0], $c->[2]->()) if ($r -= $c->[1]) < 0;
	}
	return ('clean', '');
}

my $load_stop = "$work/load.stop";
my @load_kids;

sub load_child {
	my ($n, $per_s, $out) = @_;
	srand($seed + 1000 * $n);
	my $h = HTTP::Tiny->new(timeout => 10, keep_alive => 1);
	my $url = "$env->{BASE_URL}/api/v1/chapters/$env->{DEMO_CHAPTER_ID}"
	    . '/images/scenes/';
	my %hdr = ('Content-Type' => 'application/json',
	    Authorization => "Bearer $env->{DEMO_TOKEN}");
	open my $fh, '>', $out or die "$out: $!";
	$fh->autoflush(1);
	my $step = 1 / $per_s;
	my $next = time;
	my $hard_end = time + $duration + 60;
	my $max = int($duration * $per_s * 1.5) + 100;
	for my $seq (1 .. $max) {
		last if -e $load_stop || time > $hard_end;
		my ($class, $marker) = pick_class();
		my $scene = 1 + int rand 10000;
		my $desc = "chaos $n-$seq: a lighthouse keeper in a storm"
		    . ($marker ne '' ? " [standin:$marker]" : '');
		my $t = time;
		my $r = $h->request('POST', $url . $scene, { headers => \%hdr,
		    content => $json->encode({ scene_description => $desc }) });
		my $took = time - $t;
		my ($id, $detail) = ('-', '-');
		my $j = eval { $json->decode($r->{content} // '') };
		if ($r->{status} == 202) {
			$id = ref $j eq 'HASH' && $j->{record_id} ? $j->{record_id} : 'NONE';
		} else {
			$detail = ref $j eq 'HASH' ? ($j->{code} // '?')
			    : substr($r->{content} // '', 0, 80);
			$detail =~ s/[\t\r\n]+/ /g;
			$detail = '-' if $detail eq '';
		}
		printf $fh "%.3f\t%.4f\t%s\t%s\t%s\t%s\t%s\n", $t, $took,
		    $r->{status}, $id, $class, $marker eq '' ? '-' : $marker,
		    $detail;
		$next += $step;
		my $now = time;
		if ($next > $now) { sleep($next - $now) }
		elsif ($now - $next > 2) { $next = $now }
	}
	close $fh;
	POSIX::_exit(0);
}

# --- the sampler ----------------------------------------------------------
# Every row, every ~second: (status, progress) must only move forward,
# and a final row's (status, completed_at, image_url, error_message) must
# never change. Violations go to $work/sampler.out at once.
my $sampler_stop = "$work/sampler.stop";
my $sampler_pid;
my %rank = (pending => 0, in_progress => 1, completed => 2, failed => 2);

sub sampler {
	my $out = "$work/sampler.out";
	open my $fh, '>', $out or die "$out: $!";
	$fh->autoflush(1);
	my (%last, $samples, $failed_samples, $moves, $max_rows);
	($samples, $failed_samples, $moves, $max_rows) = (0, 0, 0, 0);
	my $q = q{SELECT id, status, coalesce(progress, -1),
	    coalesce(to_char(completed_at, 'YYYY-MM-DD"T"HH24:MI:SS.US'), ''),
	    coalesce(image_url, ''), coalesce(md5(error_message), '')
	    FROM image_generations};
	my $hard_end = time + $duration + 900;
	my $last_round = 0;
	while (time < $hard_end) {
		$last_round = 1 if -e $sampler_stop;
		my $t = time;
		my $rows = psql_rows($env->{DATABASE_URL}, $q, 10);
		if (!$rows) {
			$failed_samples++;
		} else {
			$samples++;
			$max_rows = @$rows if @$rows > $max_rows;
			for my $r (@$rows) {
				my ($id, $st, $pr, $ca, $url, $err) = @$r;
				my $p = $last{$id};
				if ($p) {
					my ($pst, $ppr, $pca, $purl, $perr) = @$p;
					if ($st ne $pst || $pr != $ppr) { $moves++ }
					if (($rank{$st} // -1) < ($rank{$pst} // -1)) {
						printf $fh "REGRESS\t%.3f\t%s\tstatus %s -> %s (progress %s -> %s)\n",
						    $t, $id, $pst, $st, $ppr, $pr;
					} elsif ($pr < $ppr) {
						printf $fh "REGRESS\t%.3f\t%s\tprogress %s -> %s (status %s -> %s)\n",
						    $t, $id, $ppr, $pr, $pst, $st;
					}
					if ($rank{$pst} == 2 && ($st ne $pst || $ca ne $pca
					    || $url ne $purl || $err ne $perr)) {
						printf $fh "FINAL\t%.3f\t%s\tfinal row changed: %s/%s/%s/%s -> %s/%s/%s/%s\n",
						    $t, $id, $pst, $pca, $purl, substr($perr, 0, 8),
						    $st, $ca, $url, substr($err, 0, 8);
					}
				}
				$last{$id} = [ $st, $pr, $ca, $url, $err ];
			}
		}
		last if $last_round && $rows;
		my $spent = time - $t;
		sleep(max(1 - $spent, 0.2, $spent));	# at most ~half the time in psql
	}
	printf $fh "SUMMARY\t%d\t%d\t%d\t%d\t%d\n", $samples, $failed_samples,
	    scalar(keys %last), $moves, $max_rows;
	close $fh;
	POSIX::_exit(0);
}

# --- disruptions ----------------------------------------------------------
my @events;		# { kind, t0, t1, detail }
my %extra;		# pid => { name, log }
my $extra_n = 0;
my @daemon_instances;	# { log, from, pid, t } instances of the stack's daemon
my @kills;		# { log, from, to } the log of each SIGKILLed instance

sub rel { sprintf '%.1f', $_[0] - $T0 }

sub event {
	my ($kind, $t0, $detail) = @_;
	my $e = { kind => $kind, t0 => $t0, t1 => time, detail => $detail };
	push @events, $e;
	logmsg(sprintf '%-14s %s (%.1f s)', $kind, $detail, $e->{t1} - $t0);
	return $e;
}

sub main_daemon { pid_of("$stack/daemon.pid") }

sub note_daemon_instance {
	my $pid = main_daemon();
	push @daemon_instances, { log => "$stack/daemon.log", pid => $pid,
	    from => $_[0], t => time } if $pid;
}

sub start_main_daemon {
	my $from = file_size("$stack/daemon.log");
	my $ok = stack_part($stack, 'start', 'daemon');
	note_daemon_instance($from);
	return $ok;
}

# Wait until $pid is gone (or a zombie no one reaps); then drop a pid
# file naming it, so that stack.sh starts a new one.
sub wait_gone {
	my ($pid, $pidfile, $secs) = @_;
	my $end = time + ($secs // 5);
	sleep 0.05 while proc_alive($pid) && time < $end;
	if ($pidfile && !proc_alive($pid) && (pid_of($pidfile) // 0) == $pid) {
		unlink $pidfile;
	}
	return !proc_alive($pid);
}

sub d_daemon_kill {
	my $t0 = time;
	my $pid = main_daemon();
	if (!$pid || !proc_alive($pid)) {
		start_main_daemon();
		return event('daemon-kill', $t0, 'no daemon was running; started one');
	}
	# The stack's supervisor starts it again by itself (as systemd's
	# Restart= would); start-part only waits for that. The new instance's
	# log starts where the killed one's ended.
	my $from = file_size("$stack/daemon.log");
	my ($inst) = grep { ($_->{pid} // 0) == $pid } reverse @daemon_instances;
	push @kills, { log => "$stack/daemon.log", from => $inst ? $inst->{from} : 0,
	    to => $from };
	kill 'KILL', $pid;
	wait_gone($pid, "$stack/daemon.pid");
	sleep(0.3 + rand 1.5);
	my $ok = stack_part($stack, 'start', 'daemon');
	note_daemon_instance($from);
	event('daemon-kill', $t0, "SIGKILL daemon $pid, restarted as "
	    . (main_daemon() // '?') . ($ok ? '' : ' (start FAILED)'));
}

sub d_api_kill {
	my $t0 = time;
	my ($parent) = pid_of("$stack/api.pid");
	my @kids = children_of($parent);
	my @victims = (shuffle @kids)[0 .. min($#kids, int rand 2)];
	kill 'KILL', @victims;
	my $end = time + 5;
	my @now;
	while (time < $end) {
		@now = children_of($parent);
		my %old = map { $_ => 1 } @victims;
		last if @now >= @kids && !grep { $old{$_} } @now;
		sleep 0.1;
	}
	event('api-kill', $t0, sprintf 'SIGKILL API worker(s) %s of %d; pool back to %d%s',
	    join(',', @victims), scalar @kids, scalar @now,
	    @now >= @kids ? '' : ' (NOT restored)');
}

sub d_redis_restart {
	my $t0 = time;
	stack_part($stack, 'stop', 'redis');
	sleep(0.5 + rand 1.5);
	my $ok = stack_part($stack, 'start', 'redis');
	event('redis-restart', $t0, 'Redis stopped (data lost) and started'
	    . ($ok ? '' : ' (start FAILED)'));
}

sub d_redis_flush {
	my $t0 = time;
	my $out = `redis-cli -s '$env->{REDIS_SOCKET}' FLUSHALL 2>&1`;
	chomp $out;
	event('redis-flushall', $t0, "FLUSHALL: $out");
}

sub d_pg_restart {
	my $t0 = time;
	stack_part($stack, 'stop', 'postgres');
	my $down = time;
	sleep(1 + rand 2);
	my $ok = stack_part($stack, 'start', 'postgres');
	event('pg-restart', $t0, sprintf('PostgreSQL fast stop, %.1f s down, started%s',
	    time - $down, $ok ? '' : ' (start FAILED)'));
}

sub start_extra {
	my $name = 'chaos-extra-' . ++$extra_n;
	my $log = "$work/daemon-$name.log";
	my $pid = start_extra_daemon(env => $env, build => $build, name => $name,
	    log => $log, pidfile => "$work/pids/$name");
	$extra{$pid} = { name => $name, log => $log, t => time };
	return $pid;
}

sub stop_extras {
	my (@pids) = @_;
	@pids = keys %extra unless @pids;
	my @how;
	for my $p (@pids) {
		my $how = stop_pid($p, 10);
		push @how, "$extra{$p}{name}($p) $how";
		unlink "$work/pids/$extra{$p}{name}";
		delete $extra{$p};
	}
	return join ', ', @how;
}

sub d_multi_start {
	my $t0 = time;
	my $want = $_[0] // 3;
	my @started;
	push @started, start_extra() while 1 + keys(%extra) < $want;
	event('daemons-multi', $t0, sprintf '%d daemons at once (extra %s)',
	    1 + keys %extra, join(',', @started) || 'none new');
}

sub d_multi_end {
	my $t0 = time;
	my $how = stop_extras();
	event('daemons-single', $t0, "extra daemons stopped (SIGTERM): $how");
}

# The stack's daemon paused past its lease while another one runs.
my @pauses;	# { pid, log, from, stop_off, cont_off, t_stop, t_cont, others => {log => [off_stop]} }
sub d_sigstop {
	my $t0 = time;
	my $started = '';
	if (!%extra) { $started = ' (started extra ' . start_extra() . ')'; sleep 0.5 }
	my $pid = main_daemon();
	my ($inst) = grep { ($_->{pid} // 0) == ($pid // -1) } reverse @daemon_instances;
	my $p = { pid => $pid, log => "$stack/daemon.log",
	    from => $inst ? $inst->{from} : 0, t_stop => time,
	    stop_off => file_size("$stack/daemon.log") };
	$p->{others} = { map { ($extra{$_}{log} => file_size($extra{$_}{log})) } keys %extra };
	kill 'STOP', $pid;
	my $pause = $lease * 2 + 1;
	sleep $pause;
	$p->{t_cont} = time;
	$p->{cont_off} = file_size("$stack/daemon.log");
	kill 'CONT', $pid;
	push @pauses, $p;
	event('daemon-sigstop', $t0, sprintf('SIGSTOP daemon %s for %d s (lease %d s), '
	    . 'SIGCONT%s; %d daemons running', $pid, $pause, $lease, $started,
	    1 + keys %extra));
}

# --- schedule ---------------------------------------------------------------

my @plan;	# [ at (s after load start), sub, name ]
if ($short) {
	my $s = $duration / 40;
	@plan = (
		[ 4 * $s, \&d_daemon_kill ],
		[ 7 * $s, \&d_api_kill ],
		[ 10 * $s, \&d_redis_flush ],
		[ 12 * $s, sub { d_multi_start(3) } ],
		[ 13 * $s, \&d_sigstop ],
		[ 23 * $s, \&d_pg_restart ],
		[ 28 * $s, \&d_multi_end ],
		[ 31 * $s, \&d_redis_restart ],
		[ 35 * $s, \&d_daemon_kill ],
	);
} else {
	my @kinds = ((\&d_daemon_kill) x 5, (\&d_api_kill) x 3,
	    (\&d_redis_restart) x 2, (\&d_redis_flush) x 2, (\&d_pg_restart) x 2,
	    (\&d_sigstop) x 2);
	my $span = $duration - 15;
	my $slot = $span / @kinds;
	my $i = 0;
	for my $k (shuffle @kinds) {
		push @plan, [ 5 + $slot * $i++ + rand($slot * 0.6), $k ];
	}
	# two daemons for a stretch, three for another
	push @plan, [ $duration * 0.25, sub { d_multi_start(2) } ],
	    [ $duration * 0.25 + 30, \&d_multi_end ],
	    [ $duration * 0.55, sub { d_multi_start(3) } ],
	    [ $duration * 0.55 + 45, \&d_multi_end ];
	@plan = sort { $a->[0] <=> $b->[0] } @plan;
}

# --- run ----------------------------------------------------------------------
$SIG{INT} = $SIG{TERM} = sub { die "interrupted\n" };
END {
	# our children, by pid
	kill 'TERM', @load_kids if @load_kids;
	kill 'TERM', $sampler_pid if $sampler_pid;
	kill 'CONT', main_daemon() // () if defined $stack;
	stop_pid($_, 3) for keys %extra;
}

note_daemon_instance(0);
if (open my $t0fh, ">", "$work/t0") { print $t0fh "$T0\n"; close $t0fh }
my $nkids = $rate > 8 ? 2 : 1;
for my $n (1 .. $nkids) {
	my $pid = fork // die "fork: $!";
	if (!$pid) { $SIG{INT} = $SIG{TERM} = 'DEFAULT'; load_child($n, $rate / $nkids, "$work/load-$n.tsv") }
	push @load_kids, $pid;
}
$sampler_pid = fork // die "fork: $!";
if (!$sampler_pid) { $SIG{INT} = $SIG{TERM} = 'DEFAULT'; @load_kids = (); sampler() }

my $load_start = time;
for my $step (@plan) {
	my $at = $load_start + $step->[0];
	last if $at > $load_start + $duration;
	sleep($at - time) if $at > time;
	$step->[1]->();
}
stop_extras() if %extra;
my $left = $load_start + $duration - time;
sleep $left if $left > 0;
{ open my $sfh, ">", $load_stop; close $sfh }
for my $k (@load_kids) { waitpid($k, 0) }
@load_kids = ();
my $load_end = time;
logmsg('load stopped');

# --- settle -------------------------------------------------------------------
kill 'CONT', main_daemon() // 0;
start_main_daemon() unless proc_alive(main_daemon() // 0);
my $settle_max = $short ? 60 : 180;
my $settle_end = time + $settle_max;
my $unfinished;
while (1) {
	my $r = psql_rows($env->{DATABASE_URL},
	    "SELECT count(*) FROM image_generations WHERE status IN ('pending', 'in_progress')");
	$unfinished = $r ? $r->[0][0] : '?';
	last if $r && $unfinished == 0;
	last if time > $settle_end;
	sleep 1;
}
my $settled = time - $load_end;
logmsg(sprintf 'settled after %.1f s (%s unfinished)', $settled, $unfinished);
sleep 2;	# a last sample after the last write
{ open my $sfh, ">", $sampler_stop; close $sfh }
waitpid($sampler_pid, 0);
$sampler_pid = undef;

# --- evidence -----------------------------------------------------------------
my (@answers, %by_code);
for my $n (1 .. $nkids) {
	open my $fh, '<', "$work/load-$n.tsv" or next;
	while (<$fh>) {
		chomp;
		my ($t, $took, $code, $id, $class, $marker, $detail) = split /\t/;
		push @answers, { t => $t, took => $took, code => $code, id => $id,
		    class => $class, marker => $marker, detail => $detail };
		$by_code{$code}++;
	}
}
my %accepted = map { ($_->{id} => $_) } grep { $_->{code} == 202 } @answers;

my $rows = psql_rows($env->{DATABASE_URL}, q{SELECT id, status,
    coalesce(progress, -1), attempts, retry_count,
    coalesce(replace(replace(error_message, E'\t', ' '), E'\n', ' '), ''),
    extract(epoch FROM created_at),
    extract(epoch FROM coalesce(completed_at, updated_at, now())),
    coalesce(provider_request_id, ''), coalesce(image_url, '')
    FROM image_generations}, 60) // [];
my %row = map { ($_->[0] => { id => $_->[0], status => $_->[1],
    progress => $_->[2], attempts => $_->[3], retries => $_->[4],
    error => $_->[5], created => $_->[6], ended => $_->[7],
    provider_id => $_->[8], image_url => $_->[9] }) } @$rows;
my $creates = eval { $json->decode($http->get("$env->{STANDIN_URL}/_standin/creates")
    ->{content}) } // {};
my $stats = eval { $json->decode($http->get("$env->{STANDIN_URL}/_standin/stats")
    ->{content}) } // {};

sub overlapping {
	my ($from, $to) = @_;
	my @e = grep { $_->{t1} >= $from - 1 && $_->{t0} <= $to + 1 } @events;
	return join('; ', map { "$_->{kind}\@" . rel($_->{t0}) } @e) || 'no disruption';
}

sub describe {
	my ($id) = @_;
	my $a = $accepted{$id};
	my $r = $row{$id};
	my $s = $id;
	$s .= " [$a->{class} $a->{marker}]" if $a;
	if ($r) {
		$s .= sprintf ' %s progress %s attempts %s retries %s creates %s, '
		    . 'created %s ended %s; %s', $r->{status}, $r->{progress},
		    $r->{attempts}, $r->{retries}, $creates->{$id} // 0,
		    rel($r->{created}), rel($r->{ended}),
		    overlapping($r->{created}, $r->{ended});
		$s .= "; error: " . substr($r->{error}, 0, 160) if $r->{error} ne '';
	}
	return $s;
}

my @results;	# [ pass, text, [details] ]
sub check {
	my ($pass, $text, @details) = @_;
	push @results, [ $pass ? 1 : 0, $text, [ @details ] ];
}
sub capped {
	my ($n, @l) = @_;
	return @l <= $n ? @l : (@l[0 .. $n - 1], '... and ' . (@l - $n) . ' more');
}

# 1. every 202 has a row
{
	my @missing = grep { !$row{$_} } sort keys %accepted;
	my $noid = grep { $_->{code} == 202 && $_->{id} eq 'NONE' } @answers;
	check(!@missing && !$noid && scalar(keys %row) > 0,
	    sprintf('every 202 has a row: %d accepted, %d with their row, %d missing, %d 202s without record_id',
	    scalar keys %accepted, keys(%accepted) - @missing, scalar @missing, $noid),
	    capped(20, map { "missing: $_ (POST at " . rel($accepted{$_}{t}) . ', '
	    . overlapping($accepted{$_}{t}, $accepted{$_}{t}) . ')' } @missing));
}

# 2. every row terminal
{
	my %st;
	$st{$_->{status}}++ for values %row;
	my @open = grep { $_->{status} !~ /^(completed|failed)$/ } values %row;
	my $extra_rows = grep { !$accepted{$_} } keys %row;
	check(!@open && scalar(keys %row) > 0, sprintf('every row terminal: %d rows (%s; %d without a 202 seen), %d unfinished after %.0f s of settle',
	    scalar keys %row, join(', ', map { "$_ $st{$_}" } sort keys %st),
	    $extra_rows, scalar @open, $settled),
	    capped(20, map { 'unfinished: ' . describe($_->{id}) } @open));
}

# 3. no write by a worker that lost its lease
my @sampler = do { open my $fh, '<', "$work/sampler.out"; $fh ? <$fh> : () };
chomp @sampler;
my ($ssum) = grep { /^SUMMARY/ } @sampler;
my (undef, $samples, $failed_samples, $sampled_rows, $moves) = split /\t/, $ssum // "SUMMARY\t0\t0\t0\t0";
{
	my @final = grep { /^FINAL/ } @sampler;
	my (@pause_lines, @pause_notes, @bad, $inflight_total, $abandoned_total, $wrote_total);
	($inflight_total, $abandoned_total, $wrote_total) = (0, 0, 0);
	for my $p (@pauses) {
		# the jobs the paused daemon held when stopped
		my $before = read_from($p->{log}, $p->{from}, $p->{stop_off});
		my %active;
		for (split /\n/, $before) {
			next unless /job ([0-9a-f-]{36}): (.*)/;
			my ($id, $what) = ($1, $2);
			if ($what =~ /^(claimed|resuming|submitted|generated at once|image ready|still processing)/) {
				$active{$id} = 1;
			} elsif ($what =~ /^(completed|failed:|handed back|abandoned|not claimable|no such record)/
			    || $what =~ /retry \d+ of \d+/) {
				delete $active{$id};
			}
		}
		# what it did with them after SIGCONT, and who else claimed them
		my $after = read_from($p->{log}, $p->{cont_off});
		my %taken;
		for my $log (keys %{ $p->{others} }) {
			my $t = read_from($log, $p->{others}{$log});
			$taken{$1} = 1 while $t =~ /job ([0-9a-f-]{36}): claimed/g;
		}
		my ($ab, $wr, $other, $untaken) = (0, 0, 0, 0);
		for my $id (sort keys %active) {
			# its lines for the job until it claims it anew (a
			# new lease: then its writes are legitimate)
			my @l;
			for (grep { /job \Q$id\E: / } split /\n/, $after) {
				last if /: claimed/;
				push @l, $_;
			}
			my $wrote = grep { /: (completed|failed:)/ } @l;
			my $aband = grep { /abandoned without writing/ } @l;
			$ab++ if $aband;
			if ($wrote && !$aband && $taken{$id}) {
				$wr++;
				push @bad, "paused daemon $p->{pid} wrote $id after SIGCONT although another daemon had claimed it: "
				    . join(' | ', @l[0 .. min($#l, 3)]);
			} elsif ($wrote && !$aband) {
				# its lease ran out during the pause but no one
				# took it: the token in the row is still its own
				$untaken++;
				push @pause_notes, "note: paused daemon $p->{pid} finished $id after SIGCONT; its lease had run out "
				    . 'but no other daemon had claimed the row, so its token still held (no lost lease): '
				    . join(' | ', @l[0 .. min($#l, 3)]);
			} elsif (!$aband) {
				$other++;
			}
		}
		$inflight_total += keys %active;
		$abandoned_total += $ab;
		push @pause_lines, sprintf 'pause of daemon %s at %s: %d jobs in flight, %d abandoned without writing, %d written after another daemon claimed them, %d finished with an expired but untaken lease, %d other (%d of them claimed by another daemon meanwhile)',
		    $p->{pid}, rel($p->{t_stop}), scalar keys %active, $ab, $wr, $untaken, $other,
		    scalar grep { $taken{$_} } keys %active;
		$wrote_total += $wr;
	}
	check(!@final && !@bad && $samples > 0, sprintf('no write after a lost lease: %d final rows changed after first seen final (%d samples); paused daemons: %d jobs in flight, %d abandoned, %d written over another daemon claim',
	    scalar @final, $samples, $inflight_total, $abandoned_total, $wrote_total),
	    @pause_lines, @pause_notes, capped(20, (map { my @f = split /\t/; "$f[2] at " . rel($f[1]) . ": $f[3]; " . describe($f[2]) } @final), @bad));
}

# Records whose create a daemon may have sent but never recorded when it
# was SIGKILLed or SIGSTOPped: its last line about them is the claim or
# the provider's answer. The provider's id died with it (the provider
# cannot be asked by our id), so whoever takes the record over creates it
# again: one create more is expected of those, and of no other.
sub mid_create {
	my %mid;
	for my $seg (@_) {
		my %last;
		for (split /\n/, read_from($seg->{log}, $seg->{from}, $seg->{to})) {
			$last{$1} = $2 if /job ([0-9a-f-]{36}): (\S+)/;
		}
		$mid{$_} = 1 for grep { $last{$_} =~ /^(claimed|submitted)/ } keys %last;
	}
	return \%mid;
}

# 4. creates at the provider
{
	my (@over, @clean_bad, @explained, %dist);
	my $mid = mid_create(@kills,
	    map { { log => $_->{log}, from => $_->{from}, to => $_->{stop_off} } } @pauses);
	for my $id (keys %row) {
		my $n = $creates->{$id} // 0;
		my $a = $accepted{$id};
		my $class = $a ? $a->{class} : 'unknown';
		$dist{$class}{$n}++;
		push @over, $id if $n > $max_creates;
		next unless $class eq 'clean' && $n != 1;
		if ($n == 2 && $mid->{$id}) {
			push @explained, $id;
		} else {
			push @clean_bad, $id;
		}
	}
	my $clean = sum(map { $_ // 0 } values %{ $dist{clean} // {} }) // 0;
	my @dist = map { my $c = $_; sprintf('creates of %s records: %s', $c,
	    join(' ', map { "${_}x$dist{$c}{$_}" } sort { $a <=> $b } keys %{ $dist{$c} })) } sort keys %dist;
	check(!@over && !@clean_bad, sprintf('creates per record: max %d (limit %d), %d over; clean records created exactly once: %d of %d (%d twice: their create was on the wire when its daemon was killed or stopped)',
	    max(0, map { $creates->{$_} // 0 } keys %row), $max_creates, scalar @over,
	    $clean - @clean_bad - @explained, $clean, scalar @explained),
	    @dist,
	    capped(20, map { 'twice, create on the wire at a kill or stop: ' . describe($_) } @explained),
	    capped(20, map { 'over: ' . describe($_) } @over),
	    capped(20, map { 'clean, not once: ' . describe($_) } @clean_bad));
}

# 5. status and progress only forward
{
	my @reg = grep { /^REGRESS/ } @sampler;
	check(!@reg && $samples > 0, sprintf('status and progress only forward: %d samples of up to %d rows (%d failed while PostgreSQL was down), %d changes seen, %d backward',
	    $samples, $sampled_rows, $failed_samples, $moves, scalar @reg),
	    capped(20, map { my @f = split /\t/; "$f[2] at " . rel($f[1]) . ": $f[3]; " . describe($f[2]) } @reg));
}

# 6. answers: 202, or 503 while PostgreSQL was down
{
	my @pg = map { [ $_->{t0} - 0.2, $_->{t1} + 3 ] } grep { $_->{kind} eq 'pg-restart' } @events;
	my @apik = map { [ $_->{t0} - 0.5, $_->{t0} + 1.5 ] } grep { $_->{kind} eq 'api-kill' } @events;
	my ($in_pg, $casualty, @bad) = (0, 0);
	for my $a (@answers) {
		next if $a->{code} == 202;
		my $end = $a->{t} + $a->{took};
		if ($a->{code} == 503 && grep { $end >= $_->[0] && $a->{t} <= $_->[1] } @pg) {
			$in_pg++;
		} elsif ($a->{code} == 502 && grep { $end >= $_->[0] && $a->{t} <= $_->[1] } @apik) {
			$casualty++;
		} else {
			push @bad, $a;
		}
	}
	my $n5 = grep { $_->{code} >= 500 } @bad;
	check(!@bad, sprintf('answers: %d POSTs (%s); %d 503 while PostgreSQL was down, %d 502 from a SIGKILLed API worker, %d other non-202 (%d of them 5xx)',
	    scalar @answers, join(', ', map { "$_: $by_code{$_}" } sort keys %by_code),
	    $in_pg, $casualty, scalar @bad, $n5),
	    (map { sprintf 'PostgreSQL window %s..%s s', rel($_->[0]), rel($_->[1]) } @pg),
	    capped(20, map { sprintf '%s at %s (%.2f s): %s [%s]; %s', $_->{code}, rel($_->{t}),
	    $_->{took}, $_->{detail}, $_->{marker}, overlapping($_->{t}, $_->{t} + $_->{took}) } @bad));
}

# --- report -------------------------------------------------------------------
print "\n== disruptions\n";
my %kinds;
$kinds{$_->{kind}}++ for @events;
printf "  %-16s %s\n", $_, $kinds{$_} for sort keys %kinds;
for my $e (@events) {
	printf "  %7s s  %-15s %s\n", rel($e->{t0}), $e->{kind}, $e->{detail};
}
print "\n== outcome by fault class (rows)\n";
{
	my %t;
	for my $id (keys %row) {
		my $c = $accepted{$id} ? $accepted{$id}{class} : '(no 202)';
		$t{$c}{$row{$id}{status}}++;
		$t{$c}{n}++;
	}
	printf "  %-12s %7s %10s %7s %s\n", 'class', 'rows', 'completed', 'failed', 'other';
	for my $c (sort keys %t) {
		printf "  %-12s %7d %10d %7d %d\n", $c, $t{$c}{n}, $t{$c}{completed} // 0,
		    $t{$c}{failed} // 0, $t{$c}{n} - ($t{$c}{completed} // 0) - ($t{$c}{failed} // 0);
	}
	my @cf = grep { $accepted{$_} && $accepted{$_}{class} =~ /^(clean|retry1|retry2|fetchfault)$/
	    && $row{$_}{status} eq 'failed' } keys %row;
	if (@cf) {
		print "  note: records that should have completed but failed:\n";
		print "    ", describe($_), "\n" for capped(15, @cf);
	}
	my @pf = grep { $accepted{$_} && $accepted{$_}{class} =~ /^(fatal|poison)$/
	    && $row{$_}{status} eq 'completed' } keys %row;
	if (@pf) {
		print "  note: records that should have failed but completed:\n";
		print "    ", describe($_), "\n" for capped(15, @pf);
	}
}
printf "\n== stand-in: %s creates, %s fetches, %s images\n",
    $stats->{creates_total} // '?', $stats->{fetches_total} // '?', $stats->{images_total} // '?';
{
	my @lat = sort { $a <=> $b } map { $_->{took} } grep { $_->{code} == 202 } @answers;
	printf "== POST latency (202): p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
	    1000 * $lat[$#lat * 0.5], 1000 * $lat[$#lat * 0.99], 1000 * $lat[-1] if @lat;
}
my $dl = join '', map { read_from($_) } "$stack/daemon.log", map { $extra{$_}{log} } keys %extra;
$dl .= read_from($_) for glob "$work/daemon-chaos-extra-*.log";
my %dcount;
$dcount{abandoned} = () = $dl =~ /abandoned without writing/g;
$dcount{'lease lost'} = () = $dl =~ /leases lost|lease ran out|lease was lost/g;
$dcount{'swept'} = () = $dl =~ /sweeper: \d+ unattended/g;
$dcount{'not claimable'} = () = $dl =~ /not claimable/g;
$dcount{'refused state change (bug)'} = () = $dl =~ /refused state change/g;
print "== daemon logs: ", join(', ', map { "$_ $dcount{$_}" } sort keys %dcount), "\n";
for my $f ("$stack/api.log", "$stack/daemon.log", glob("$work/daemon-chaos-extra-*.log")) {
	my $t = read_from($f);
	my @crash = $t =~ /^(.*(?:AddressSanitizer|runtime error|Segmentation|core dumped|assert).*)$/mg;
	print "  $f: $_\n" for capped(5, @crash);
}

print "\n== invariants\n";
my $fails = 0;
for my $r (@results) {
	printf "[%s] %s\n", $r->[0] ? 'PASS' : 'FAIL', $r->[1];
	print "    $_\n" for @{ $r->[2] };
	$fails++ unless $r->[0];
}
printf "\n== chaos %s: %d of %d invariants hold (seed %s, %.0f s)\n",
    $fails ? 'FAILED' : 'passed', @results - $fails, scalar @results, $seed, time - $T0;
exit($fails ? 1 : 0);
