#!/usr/bin/perl
# Promise 6, SIGTERM: the daemon stops taking work, lets what is in flight
# finish for up to SCENEGEN_DRAIN_SECONDS, hands back the rest (lease
# cleared, provider request id kept, queued again) and exits 0 in time.
# A daemon started afterwards resumes the handed-back jobs by their
# provider ids: one create per record.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep time);
use Scenegen::Test qw(daemons_sanitizer_clean daemon_test_setup sql1 sql_rows
    wait_until daemon_start daemon_stop daemon_signal daemon_alive
    daemon_exit_status daemon_wait_ready daemon_log standin_creates_all
    insert_jobs wait_all_final id_list row_states job_in_redis);

my ($user, $chapter) = daemon_test_setup();

sub all_submitted {
	my ($ids, $timeout) = @_;
	my $in = id_list(@$ids);
	return wait_until(sub { sql1("SELECT count(*) FROM image_generations
	    WHERE id IN ($in) AND status = 'in_progress'
	    AND provider_request_id IS NOT NULL") == @$ids }, $timeout);
}

sub one_create_each {
	my ($ids, $name) = @_;
	my $c = standin_creates_all();
	my @bad = grep { ($c->{$_} // 0) != 1 } @$ids;
	is_deeply(\@bad, [], "$name: one create per record (resumed, not "
	    . 'resubmitted)') or diag explain { map { $_ => $c->{$_} } @bad };
}

# SIGTERM to $d; returns (wait status, seconds until it exited).
sub term {
	my ($d, $timeout) = @_;
	my $t0 = time;
	daemon_signal($d, 'TERM');
	my $st = daemon_exit_status($d, $timeout);
	return ($st, time - $t0);
}

subtest 'in-flight jobs shorter than the drain complete before exit' => sub {
	my $d = daemon_start(name => 'drain-short',
	    SCENEGEN_DRAIN_SECONDS => 8);
	ok(daemon_wait_ready($d), 'daemon ready') or diag daemon_log($d);
	my @ids = insert_jobs($user, $chapter, 6,
	    prompt => 'short drain %d [standin:eta=2]');
	ok(all_submitted(\@ids, 10), '6 jobs submitted and in flight');
	my ($st, $took) = term($d, 8 + 5);
	is($st, 0, sprintf('exit 0 after %.1f s', $took // -1));
	cmp_ok($took, '<', 8 + 3, 'within SCENEGEN_DRAIN_SECONDS + 3 s');
	is_deeply(row_states(\@ids), { completed => 6 },
	    'all 6 completed during the drain');
	one_create_each(\@ids, 'short drain');
	my $log = daemon_log($d);
	like($log, qr/stopping \(signal 15\): 6 jobs in flight/,
	    'logged the stop with the jobs in flight');
	like($log, qr/drained: no job left/, 'logged the end of the drain');
};

subtest 'jobs longer than the drain are handed back, then resumed' => sub {
	my $drain = 1;
	my $d = daemon_start(name => 'drain-long',
	    SCENEGEN_DRAIN_SECONDS => $drain);
	ok(daemon_wait_ready($d), 'daemon ready') or diag daemon_log($d);
	my @ids = insert_jobs($user, $chapter, 8,
	    prompt => 'long drain %d [standin:eta=6]');
	my $in = id_list(@ids);
	ok(all_submitted(\@ids, 10), '8 jobs submitted and in flight');
	# a backlog the daemon has not taken: it must stay untouched
	my @later = insert_jobs($user, $chapter, 3, no_xadd => 1,
	    prompt => 'after the stop %d [standin:eta=0.5]');
	my ($st, $took) = term($d, $drain + 10);
	is($st, 0, sprintf('exit 0 after %.1f s', $took // -1));
	cmp_ok($took, '<', $drain + 3, "within SCENEGEN_DRAIN_SECONDS ($drain)"
	    . ' + 3 s');
	my $rows = sql_rows("SELECT id, status, lease_token IS NULL,
	    coalesce(provider_request_id, ''), attempts
	    FROM image_generations WHERE id IN ($in)");
	my (@completed, @handed, @bad);
	for my $r (@$rows) {
		if ($r->[1] eq 'completed') { push @completed, $r->[0] }
		elsif ($r->[1] eq 'in_progress' && $r->[2] eq 't'
		    && $r->[3] ne '') { push @handed, $r->[0] }
		else { push @bad, $r }
	}
	is_deeply(\@bad, [], 'every in-flight row is completed or handed back '
	    . '(in_progress, lease cleared, provider id kept)')
	    or diag explain \@bad;
	is(scalar @handed, 8, '8 handed back (ETA 6 s > drain 1 s)');
	is(sql1("SELECT count(*) FROM image_generations WHERE id IN ($in)
	    AND status = 'in_progress' AND attempts <> 0"), 0,
	    'a hand-back does not count as an attempt');
	my @unqueued = grep { !job_in_redis($_) } @handed;
	is_deeply(\@unqueued, [], 'handed-back records are queued again');
	like(daemon_log($d), qr/handed back for another worker/,
	    'the log says so');
	is_deeply(row_states(\@later), { pending => 3 },
	    'rows not yet taken stay pending');

	my $t0 = time;
	my $n = daemon_start(name => 'drain-next');
	ok(daemon_wait_ready($n), 'next daemon ready');
	ok(wait_all_final([ @ids, @later ], 20), sprintf('all final %.1f s '
	    . 'after the next start', time - $t0));
	is_deeply(row_states([ @ids, @later ]), { completed => 11 },
	    'all 11 completed');
	one_create_each([ @ids, @later ], 'handed back');
	my $log = daemon_log($n);
	my @not_resumed = grep { $log !~ /job \Q$_\E: resuming provider/ }
	    @handed;
	is_deeply(\@not_resumed, [], 'each handed-back job resumed by its '
	    . 'provider id');
	is(daemon_stop($n), 0, 'next daemon exits 0');
};

subtest 'an idle daemon stops at once' => sub {
	my $d = daemon_start(name => 'drain-idle', SCENEGEN_DRAIN_SECONDS => 20);
	ok(daemon_wait_ready($d), 'daemon ready');
	my ($st, $took) = term($d, 10);
	is($st, 0, 'exit 0');
	cmp_ok($took, '<', 2, sprintf('within 2 s (%.2f s)', $took));
};

daemons_sanitizer_clean();
done_testing();
