#!/usr/bin/perl
# One provider limit for all daemons (scenegend(8), "Dispatch"): three
# daemons, each with MODELSLAB_MAX_QUEUED=3, and a stand-in that answers
# 429 past 3 generations at once (the account's limit). Before dispatch
# each daemon held 3, 9 in all. Now the stand-in never sees more than 3
# at once, none is refused, and when one daemon is SIGKILLed holding
# slots, its slots lapse with its leases and the others finish every job.
use strict;
use warnings;
use Test::More;
use Scenegen::Test qw(daemon_test_setup daemon_start daemon_wait_ready
    daemon_log daemon_stop daemon_signal daemon_exit_status id_list
    wait_until wait_all_final row_states daemons_sanitizer_clean
    standin_req redis post_user_batches busiest_daemon final_sampler);

daemon_test_setup();
standin_req('/_standin/reset', '');
END { eval { standin_req('/_standin/reset', '') } }
is(standin_req('/_standin/config', { queue_limit => 3 })->{queue_limit}, 3,
    'the stand-in takes 3 generations at once, 429 past that');

my @d = map { daemon_start(name => "account-$_", MODELSLAB_MAX_QUEUED => 3,
    SCENEGEN_LEASE_SECONDS => 3, SCENEGEN_POLL_MIN_SECONDS => 0.2,
    SCENEGEN_POLL_MAX_SECONDS => 0.5) } 1 .. 3;
ok(daemon_wait_ready($_), "$_->{name} ready") or diag daemon_log($_) for @d;
sleep 1.2;    # the first tick publishes the limit

my @ids = post_user_batches(users => 3, per_user => 10, label => 'account',
    eta => 1);
is(scalar @ids, 30, '30 jobs posted by 3 users');

my $in = id_list(@ids);
my $max_now = 0;
my $sample = final_sampler($in, \$max_now);
ok(wait_until(sub { $sample->() >= 8 }, 60), 'a third of them done')
    or diag join '', map { daemon_log($_) } @d;

# Kill the daemon holding the most jobs in flight (the row names it).
my ($victim, $most);
ok(wait_until(sub {
	($victim, $most) = busiest_daemon($in, @d);
	return $most > 0;
}, 30), "$victim->{name} holds $most jobs in flight");
my $slots_before = redis('ZCARD', '{scenegen}:slots');
daemon_signal($victim, 'KILL');
ok(defined daemon_exit_status($victim, 5), "$victim->{name} SIGKILLed "
    . "($slots_before slots held in all)");

ok(wait_until(sub { $sample->() == 30 }, 90), 'the other two finished '
    . 'every job') or diag explain row_states(\@ids);
is_deeply(row_states(\@ids), { completed => 30 }, 'all 30 completed');
my $s = standin_req('/_standin/stats');
cmp_ok($s->{processing_peak}, '<=', 3,
    "the stand-in's peak: $s->{processing_peak} generations at once (the "
    . 'account allows 3; three daemons of 3 each)');
cmp_ok($max_now, '<=', 3, "sampled at most $max_now at once");
ok($s->{processing_peak} >= 2, 'the slots were used');
my $refused = grep { daemon_log($_) =~ /\b429\b/ } @d;
is($refused, 0, 'no daemon was answered 429');
cmp_ok(redis('ZCARD', '{scenegen}:slots'), '<=', 0,
    'no slot left held once all are done');

is(daemon_stop($_), 0, "$_->{name} stops cleanly")
    for grep { $_ != $victim } @d;
daemons_sanitizer_clean();
done_testing();
