#!/usr/bin/perl
# Fair dispatch across hosts, for real (scenegend(8), "Dispatch"; README,
# "Several hosts"): three daemons, each in a network namespace of its own
# with its own address, reach one PostgreSQL, one Redis and the stand-in
# over TCP on a bridge (t/lib/Scenegen/Netns.pm; the machine's loopback
# only, everything removed at exit). The stand-in takes 3 generations at
# once (the account's limit) and answers 429 past that. Jobs posted
# through the API spread over the three hosts; the stand-in never holds
# more than 3 and refuses none; one host cut off mid-run (its link down,
# its daemon SIGSTOPped) loses nothing: its slots lapse with its lease,
# the other two finish its jobs, and once back it writes over none of them.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep time);
use Scenegen::Test qw(daemon_wait_ready daemon_log daemon_stop
    daemon_signal daemon_alive id_list sql_on sql1 sql_rows pg_admin_url
    wait_until wait_all_final row_states daemons_sanitizer_clean
    standin_req standin_creates_all redis post_user_batches busiest_daemon
    final_sampler);
use Scenegen::Netns qw(netns_setup netns_daemon_start netns_link
    netns_identify);

my $LEASE = 3;
my $LIMIT = 3;
my $t0 = time;
my $net = netns_setup(hosts => 3);
my @h = @{ $net->{hosts} };
note sprintf 'stack on %s, hosts %s (set up in %.1f s)', $net->{addr},
    join(' ', map { "$_->{ns}=$_->{addr}" } @h), time - $t0;
is(standin_req('/_standin/config', { queue_limit => $LIMIT })->{queue_limit},
    $LIMIT, "the stand-in takes $LIMIT generations at once, 429 past that");

# --- 1. three hosts, each from its own namespace -----------------------
my @d = map { netns_daemon_start($net, $_, name => 'host-' . ($_ + 1),
    MODELSLAB_MAX_QUEUED => $LIMIT, SCENEGEN_LEASE_SECONDS => $LEASE,
    SCENEGEN_POLL_MIN_SECONDS => 0.2, SCENEGEN_POLL_MAX_SECONDS => 0.5) }
    0 .. $#h;
for my $i (0 .. $#d) {
	ok(daemon_wait_ready($d[$i]), "$d[$i]{name} ready")
	    or diag daemon_log($d[$i]);
	is(netns_identify($d[$i]{pid}), $h[$i]{ns},
	    "$d[$i]{name} runs in namespace $h[$i]{ns} ($h[$i]{addr})");
}
my $want = join ' ', sort map { $_->{addr} } @h;
my $pg_peers = sub {
	return join ' ', sort split /\n/, sql_on(pg_admin_url('postgres'),
	    "SELECT DISTINCT host(client_addr) FROM pg_stat_activity WHERE"
	    . " datname = 'scenegen' AND client_addr IS NOT NULL");
};
ok(wait_until(sub { $pg_peers->() eq $want }, 10),
    "PostgreSQL's TCP clients are the three hosts: $want")
    or diag 'seen: ' . $pg_peers->();
my $redis_peers = sub {
	my %ip = map { $_ => 1 }
	    redis('CLIENT', 'LIST') =~ /\baddr=(\d+\.\d+\.\d+\.\d+):\d+/g;
	return join ' ', sort keys %ip;
};
ok(wait_until(sub { $redis_peers->() eq $want }, 10),
    "Redis's TCP clients are the three hosts: $want")
    or diag 'seen: ' . $redis_peers->();
ok(wait_until(sub { redis('HGET', '{scenegen}:dispatch', 'limit') eq $LIMIT },
    5), "the daemons published the account's limit, $LIMIT");

# --- 2. jobs spread over the three -------------------------------------
my @ids = post_user_batches(users => 3, per_user => 12,
    label => 'multi-host', eta => 1);
is(scalar @ids, 36, '36 jobs posted by 3 users');
my $in = id_list(@ids);
my %mine = map { $_ => 1 } @ids;

my $max_now = 0;
my $sample = final_sampler($in, \$max_now);
# Records of @ids with a "job ID: $what" line in the log of $d.
my $logged = sub {
	my ($dm, $what) = @_;
	my $log = daemon_log($dm);
	my %seen;
	$seen{$1} = 1 while $log =~ /job ([0-9a-f-]{36}): \Q$what\E\b/g;
	return grep { $seen{$_} } @ids;
};
ok(wait_until(sub { $sample->(); !grep { $logged->($_, 'claimed') < 2 } @d },
    60), 'every host claimed jobs: ' . join(', ',
    map { "$_->{name} " . scalar($logged->($_, 'claimed')) } @d))
    or diag join '', map { daemon_log($_) } @d;

# --- 4. one host cut off mid-run -----------------------------------------
# The host holding the most jobs in flight (the row names its pid), cut
# off: link down, then SIGSTOP. With the account's 3 slots it holds one
# or two, of a second each: when they finished between the look and the
# cut, the cut is undone (link up, SIGCONT) and made again.
my ($victim, $most, $t_cut, $down, $stopped, %held);
my $tries = 0;
while ($tries++ < 5) {
	last unless wait_until(sub {
		$sample->();
		($victim, $most) = busiest_daemon($in, @d);
		return $most > 0;
	}, 30);
	$t_cut = time;
	$down = netns_link($victim->{host}, 'down');
	$stopped = daemon_signal($victim, 'STOP');
	sleep 0.2;
	# Its records as PostgreSQL has them now: those without a provider
	# id may have had their create on the wire (sent, its answer not yet
	# recorded): the host that takes the record over creates it again,
	# the one double create that is allowed (the provider cannot be
	# asked by our id).
	%held = map { $_->[0] => $_->[1] } @{ sql_rows("SELECT id,"
	    . " coalesce(provider_request_id, '') FROM image_generations"
	    . " WHERE id IN ($in) AND status = 'in_progress' AND"
	    . " lease_holder LIKE '%/$victim->{pid}'") };
	last if %held || !$down || !$stopped;
	netns_link($victim->{host}, 'up');
	daemon_signal($victim, 'CONT');
}
ok($most && $most > 0, "$victim->{name} holds $most jobs in flight");
ok($down, "$victim->{name}: link $victim->{host}{link} down");
ok($stopped, "$victim->{name}: SIGSTOP");
my %may_twice = map { $_ => 1 } grep { $held{$_} eq '' } keys %held;
note sprintf '%s cut off holding %d jobs (%d without a provider id yet)',
    $victim->{name}, scalar keys %held, scalar keys %may_twice;
ok(scalar keys %held, "$victim->{name} was cut off holding "
    . scalar(keys %held) . ' jobs (cut ' . ($tries > 5 ? 5 : $tries)
    . ' time(s))');

my @others = grep { $_ != $victim } @d;
my $held_in = id_list(keys %held) || 'NULL';
ok(wait_until(sub {
	$sample->();
	sql1("SELECT count(*) FROM image_generations WHERE id IN ($held_in)"
	    . " AND status = 'completed'") == keys %held
	    && time - $t_cut > 2 * $LEASE;
}, 60), sprintf('the other hosts finished the %d jobs of the cut-off one '
    . '(%.1f s after the cut)', scalar keys %held, time - $t_cut))
    or diag explain row_states([ keys %held ]);
ok(daemon_alive($victim), "$victim->{name} is still there, frozen");

# What is final now must stay as it is once the cut-off host is back.
my $q = "SELECT id, status, updated_at, completed_at, image_url,"
    . " lease_holder, coalesce(lease_token::text, ''),"
    . " coalesce(provider_request_id, ''), attempts FROM image_generations"
    . " WHERE id IN ($in) AND status IN ('completed', 'failed') ORDER BY id";
my $final_before = sql_rows($q);
ok(netns_link($victim->{host}, 'up'), "$victim->{name}: link up");
ok(daemon_signal($victim, 'CONT'), "$victim->{name}: SIGCONT after "
    . sprintf('%.1f s', time - $t_cut));

ok(wait_until(sub { $sample->() == @ids }, 90), 'every job final')
    or diag explain row_states(\@ids);
# the woken host's heartbeat and writes come within a lease
my $t_end = time + $LEASE + 1;
while (time < $t_end) {
	$sample->();
	sleep 0.2;
}
is_deeply(row_states(\@ids), { completed => scalar @ids },
    'all 36 completed: none lost, none failed');
my %final_now = map { $_->[0] => $_ } @{ sql_rows($q) };
my @changed = grep { !defined $final_now{ $_->[0] }
    || join("\t", @{ $final_now{ $_->[0] } }) ne join("\t", @$_) }
    @$final_before;
is_deeply([ map { $_->[0] } @changed ], [], scalar(@$final_before)
    . ' records final before the host came back: none written since');
ok(daemon_alive($victim), "$victim->{name} runs on after waking");
my @kept = grep { my $id = $_; !grep { $_ eq $id }
    $logged->($victim, 'abandoned without writing') } keys %held;
is_deeply(\@kept, [], "$victim->{name} gave up, unwritten, the "
    . scalar(keys %held) . ' jobs it held at the cut')
    or diag daemon_log($victim);

# Each record completed once, by one host.
my %done_by;
for my $dm (@d) {
	$done_by{$_}{ $dm->{name} }++ for $logged->($dm, 'completed');
}
my @not_once = grep { keys %{ $done_by{$_} // {} } != 1 } @ids;
is_deeply(\@not_once, [], 'each record completed by exactly one host')
    or diag explain { map { $_ => $done_by{$_} } @not_once };
my @late = grep { $done_by{$_}{ $victim->{name} } } keys %held;
is_deeply(\@late, [], "$victim->{name} completed none of the jobs taken "
    . 'from it');
my $creates = standin_creates_all();
my @twice = grep { ($creates->{$_} // 0) == 2 } @ids;
my @bad = grep { my $c = $creates->{$_} // 0;
    $c != 1 && !($c == 2 && $may_twice{$_}) } @ids;
is_deeply(\@bad, [], sprintf('one create per record (%d twice, their '
    . 'create on the wire at the cut)', scalar @twice))
    or diag explain { map { $_ => $creates->{$_} } @bad };

# --- 3. the account's limit held throughout -------------------------------
# (the stand-in refuses past 3, so its peak cannot pass 3: too many at
# once shows as a 429 in a host's log, checked below)
my $s = standin_req('/_standin/stats');
cmp_ok($s->{processing_peak}, '<=', $LIMIT, "the stand-in's peak: "
    . "$s->{processing_peak} generations at once (the account allows "
    . "$LIMIT; three hosts of $LIMIT each)");
cmp_ok($max_now, '<=', $LIMIT, "sampled at most $max_now at once");
ok($s->{processing_peak} >= 2, 'the slots were used');
my @refused = grep { daemon_log($_) =~ /\b429\b/ } @d;
is_deeply([ map { $_->{name} } @refused ], [], 'no host was answered 429');
ok(wait_until(sub { redis('ZCARD', '{scenegen}:slots') == 0 }, 2 * $LEASE),
    'no slot left held once all are done');

my %per = map { my $dm = $_;
    ($dm->{name} => scalar grep { $done_by{$_}{ $dm->{name} } } @ids) } @d;
note 'completed per host: ' . join(', ', map { "$_ $per{$_}" } sort keys %per)
    . sprintf('; peak %d; %d double creates; %.1f s', $s->{processing_peak},
    scalar @twice, time - $t0);
ok(!grep({ !$per{ $_->{name} } } @others), 'the hosts not cut off both '
    . 'completed jobs');

is(daemon_stop($_), 0, "$_->{name} stops cleanly") for @d;
daemons_sanitizer_clean();
done_testing();
