#!/usr/bin/perl
# scenegenctl check: the old system's five checks. On the running stack
# every line is PASS and the exit status 0 (daemon and queue need a
# scenegend: without one they FAIL and say to look at it). The test
# enqueue leaves nothing behind and makes no job. With Redis stopped the
# Redis-side checks FAIL naming Redis and the exit status is 1; Redis
# started again (and the daemon back on it), all PASS again. An
# unmigrated database fails the schema check.
use strict;
use warnings;
use FindBin;
use Test::More;
use lib "$FindBin::Bin/lib";
use Scenegen::Ops qw(ops_build_dir ctl redisv daemon_running);
use Scenegen::Test qw(stack_env stack_part wait_until);

my $ctl = ops_build_dir() . '/scenegenctl';
plan skip_all => "$ctl not built" unless -x $ctl;
my @names = qw(schema redis daemon queue enqueue);

# (exit status, { name => [PASS|FAIL, detail] }, stdout) of one check.
sub check {
	my ($env, @opts) = @_;
	my ($rc, $out, $err) = ctl($env // {}, 'check', @opts);
	my %r = map { /^(PASS|FAIL) (\w+): (.*)$/ ? ($2 => [ $1, $3 ]) : () }
	    split /\n/, $out;
	return ($rc, \%r, $out . $err);
}

sub all_pass {
	my ($rc, $r) = check();
	return $rc == 0 && 5 == grep { ($r->{$_} // [''])->[0] eq 'PASS' } @names;
}

my $daemon = daemon_running();
my $len = redisv('XLEN', '{scenegen}:jobs');
my ($rc, $r, $out) = check();
is_deeply([ grep { exists $r->{$_} } @names ], \@names,
    'five lines: schema, redis, daemon, queue, enqueue') or diag $out;
like($out, qr/^\d of 5 checks passed$/m, 'and a summary');
for my $n (qw(schema redis enqueue)) {
	is($r->{$n}[0], 'PASS', "$n: PASS") or diag $out;
}
if ($daemon) {
	ok(wait_until(\&all_pass, 15), 'everything PASS, exit 0')
	    or diag((check())[2]);
} else {
	note 'no scenegend running: daemon must FAIL';
	is($r->{daemon}[0], 'FAIL', 'daemon: FAIL without a scenegend');
	like($r->{daemon}[1], qr/is scenegend running\?/, 'and says what to look at');
	is($rc, 1, 'exit 1');
}
like($r->{schema}[1], qr/26 required columns and the 4 indexes/,
    'schema: columns and indexes counted');

# The test enqueue leaves no key and makes no job.
is(redisv('XLEN', '{scenegen}:jobs'), $len, 'no job added to the real stream')
    unless $daemon;
is(redisv('--scan', '--pattern', '{scenegen}:check:*'), '',
    'no scratch stream left behind');

# Redis stopped: the Redis-side checks fail and say so.
my $stopped = 0;
END {
	local $?;
	if ($stopped) {
		eval { stack_part('start', 'redis') };
	}
}
stack_part('stop', 'redis');
$stopped = 1;
($rc, $r, $out) = check();
is($rc, 1, 'Redis stopped: exit 1');
is($r->{schema}[0], 'PASS', 'schema still PASS');
for my $n (qw(redis daemon queue enqueue)) {
	is($r->{$n}[0], 'FAIL', "$n: FAIL") or diag $out;
}
like($r->{redis}[1], qr/cannot connect to Redis.*is redis-server up/,
    'the redis line says what to look at');
like($r->{daemon}[1], qr/^not checked: /, 'the others say they could not check');
like($out, qr/^1 of 5 checks passed$/m, 'summary: 1 of 5');

stack_part('start', 'redis');
$stopped = 0;
($rc, $r) = check();
is($r->{redis}[0], 'PASS', 'Redis started again: redis PASS');
if ($daemon) {
	ok(wait_until(\&all_pass, 30),
	    'and once the daemon is back on it, everything PASS')
	    or diag((check())[2]);
}

# The daemon stopped: the daemon check fails (within -w seconds), then
# passes again once it runs.
if ($daemon) {
	my $down = 0;
	END { local $?; eval { stack_part('start', 'daemon') } if $down }
	stack_part('stop', 'daemon');
	$down = 1;
	sleep 3;
	($rc, $r, $out) = check({}, '-w', 2);
	is($r->{daemon}[0], 'FAIL', 'scenegend stopped: daemon FAIL') or diag $out;
	like($r->{daemon}[1], qr/is scenegend running\?/, 'says what to look at');
	is($rc, 1, 'exit 1');
	stack_part('start', 'daemon');
	$down = 0;
	ok(wait_until(\&all_pass, 30), 'started again: everything PASS')
	    or diag((check())[2]);
}

# A database without the schema: the schema check fails.
my $e = stack_env();
($rc, $r, $out) = check({ DATABASE_URL =>
    "postgresql:///postgres?host=$e->{PG_SOCKET_DIR}&user=postgres" });
is($r->{schema}[0], 'FAIL', 'unmigrated database: schema FAIL');
like($r->{schema}[1], qr/run scenegenctl migrate/, 'says to migrate');
is($rc, 1, 'exit 1');

done_testing();
