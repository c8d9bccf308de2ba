#!/usr/bin/perl
# scenegenctl stats: the numbers are what PostgreSQL and Redis hold. On a
# scratch database and Redis database that no daemon touches, with rows in
# every state and a queue in a known state (entries waiting, delivered
# but unacknowledged, delayed retries, the daemons' figures), -j reports
# exactly those; the text form has the same lines. On the running stack it
# answers with figures that add up. Redis down: exit 1, the database
# figures still printed.
use strict;
use warnings;
use FindBin;
use Test::More;
use lib "$FindBin::Bin/lib";
use Scenegen::Ops qw(ops_build_dir ctl scratch psql_on);
use Scenegen::Test qw(json new_uuid);

my $ctl = ops_build_dir() . '/scenegenctl';
plan skip_all => "$ctl not built" unless -x $ctl;

my $w = scratch('ctl_stats');
my %env = (DATABASE_URL => $w->{DATABASE_URL}, REDIS_URL => $w->{REDIS_URL});
my ($rc, $out, $err) = ctl(\%env, '-j', 'stats');
is($rc, 0, 'empty world: exit 0') or diag $err;
my $j = json()->decode($out);
is_deeply($j->{records}, { pending => 0, in_progress => 0, completed => 0,
    failed => 0, canceled => 0, total => 0, retried => 0 },
    'no records: all 0');
is($j->{oldest_pending_seconds}, undef, 'no oldest pending');
is_deeply($j->{queue}, { stream_length => 0, waiting => 0, delivered => 0,
    delayed => 0 }, 'no queue');
is($j->{capacity}, undef, 'no daemon figures: null');

# Rows: 3 pending (oldest 10 minutes), 2 in progress, 4 completed (2 in
# the last hour, 10 s and 20 s), 1 failed, 1 canceled; 3 of them retried.
my $user = new_uuid();
my @rows = (
	[ 'pending', 0, '10 minutes', undef ], [ 'pending', 0, '1 minute', undef ],
	[ 'pending', 1, '5 seconds', undef ], [ 'in_progress', 0, '1 minute', undef ],
	[ 'in_progress', 2, '1 minute', undef ], [ 'completed', 0, '5 minutes', 10 ],
	[ 'completed', 0, '6 minutes', 20 ], [ 'completed', 0, '2 days', 99 ],
	[ 'completed', 0, '3 days', 99 ], [ 'failed', 3, '1 minute', undef ],
	[ 'canceled', 0, '2 minutes', undef ],
);
my $sql = '';
for my $r (@rows) {
	my ($status, $retries, $age, $gen) = @$r;
	$sql .= sprintf("INSERT INTO image_generations (user_id, status, "
	    . "retry_count, generation_time_seconds, created_at, updated_at, "
	    . "completed_at) VALUES ('%s', '%s', %d, %s, now() - interval '%s', "
	    . "now() - interval '%s', %s);\n", $user, $status, $retries,
	    $gen // 'NULL', $age, $age, $status eq 'completed'
	    ? "now() - interval '$age'" : 'NULL');
}
psql_on($w->{DATABASE_URL}, $sql);

# Queue: 5 entries; the group read 2 of them (delivered, not acked);
# 3 delayed retries; the daemons' figures.
my $R = $w->{redis};
$R->('XADD', '{scenegen}:jobs', '*', 'id', new_uuid()) for 1 .. 5;
$R->('XGROUP', 'CREATE', '{scenegen}:jobs', 'scenegend', '0');
$R->('XREADGROUP', 'GROUP', 'scenegend', 'test', 'COUNT', 2, 'STREAMS',
    '{scenegen}:jobs', '>');
$R->('ZADD', '{scenegen}:delayed', time * 1000 + 60000, new_uuid()) for 1 .. 3;
$R->('HSET', '{scenegen}:stats', 'capacity', 5, 'in_flight', 2,
    'avg_generation_ms', 45200);

($rc, $out, $err) = ctl(\%env, '-j', 'stats');
is($rc, 0, 'stats -j: exit 0') or diag $err;
$j = json()->decode($out);
is_deeply($j->{records}, { pending => 3, in_progress => 2, completed => 4,
    failed => 1, canceled => 1, total => 11, retried => 3 },
    'records by status as inserted');
my $sqlcounts = psql_on($w->{DATABASE_URL}, "SELECT status, count(*) FROM "
    . "image_generations GROUP BY status ORDER BY status");
is(join(',', map { "$_=$j->{records}{$_}" } qw(canceled completed failed
    in_progress pending)), join(',', map { s/\t/=/r } split /\n/, $sqlcounts),
    'and as SQL counts them');
ok($j->{oldest_pending_seconds} >= 600 && $j->{oldest_pending_seconds} < 700,
    "oldest pending $j->{oldest_pending_seconds} s: the 10-minute one");
is($j->{generation_seconds}{last_hour_average}, 15,
    'average generation of the last hour: 15 s (10 and 20)');
is($j->{generation_seconds}{last_hour_completed}, 2, 'of 2 completed');
is($j->{generation_seconds}{daemon_average}, 45.2, "daemons' average 45.2 s");
is_deeply($j->{queue}, { stream_length => 5, waiting => 3, delivered => 2,
    delayed => 3 }, 'queue: 5 entries, 3 waiting, 2 delivered, 3 delayed');
is($j->{capacity}, 5, 'capacity 5');
is($j->{in_flight}, 2, 'in flight 2');

# The daemons acknowledge and delete what they finish (XACK + XDEL), after
# which Redis 7.0 no longer knows the group's lag: waiting is still right.
my ($first) = $R->('XRANGE', '{scenegen}:jobs', '-', '+', 'COUNT', 1) =~ /^(\d+-\d+)/;
$R->('XACK', '{scenegen}:jobs', 'scenegend', $first);
$R->('XDEL', '{scenegen}:jobs', $first);
($rc, $out) = ctl(\%env, '-j', 'stats');
is_deeply(json()->decode($out)->{queue}, { stream_length => 4, waiting => 3,
    delivered => 1, delayed => 3 }, 'after XACK + XDEL: 4 entries, 3 waiting, 1 delivered');

# Text: the same figures, one per line.
($rc, $out) = ctl(\%env, 'stats');
is($rc, 0, 'stats: exit 0');
my %line = map { /^(\S.*?)\s{2,}(\S.*)$/ ? ($1 => $2) : () } split /\n/, $out;
is($line{pending}, 3, 'text: pending 3');
is($line{in_progress}, 2, 'text: in_progress 2');
is($line{completed}, 4, 'text: completed 4');
is($line{failed}, 1, 'text: failed 1');
is($line{canceled}, 1, 'text: canceled 1');
is($line{total}, 11, 'text: total 11');
is($line{retried}, 3, 'text: retried 3');
like($line{'oldest pending'}, qr/^6\d\d\.\d s$/, 'text: oldest pending');
like($line{'generation time'}, qr/^15\.0 s average, last hour \(2 completed\)$/,
    'text: generation time');
is($line{'queue waiting'}, 3, 'text: queue waiting 3');
is($line{'queue delivered'}, 1, 'text: queue delivered 1');
is($line{'delayed retries'}, 3, 'text: delayed retries 3');
is($line{'in flight'}, 2, 'text: in flight 2');
is($line{capacity}, 5, 'text: capacity 5');

# Redis down: the database figures, exit 1.
($rc, $out, $err) = ctl({ %env, REDIS_URL => 'unix:///nonexistent/r.sock' },
    'stats');
is($rc, 1, 'Redis unreachable: exit 1');
like($err, qr/cannot connect to Redis/, 'says so');
like($out, qr/^total\s+11$/m, 'the database figures are still there');

# The running stack: figures that add up.
($rc, $out, $err) = ctl('-j', 'stats');
is($rc, 0, 'stats on the running stack: exit 0') or diag $err;
$j = json()->decode($out);
my $r = $j->{records};
cmp_ok($r->{total}, '>=', $r->{pending} + $r->{in_progress} + $r->{completed}
    + $r->{failed} + $r->{canceled}, 'total covers the five states');
cmp_ok($j->{queue}{waiting} + $j->{queue}{delivered}, '<=',
    $j->{queue}{stream_length}, 'waiting + delivered within the stream');

done_testing();
