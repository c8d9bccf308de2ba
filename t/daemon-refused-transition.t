#!/usr/bin/perl
# A refused state change is a bug, and it must not strand the job: the
# daemon logs it at priority crit, abandons the job (no write, no ack, no
# renewal), the lease lapses and the record is resumed and completes.
# SCENEGEN_DEBUG_REFUSE_STATE forces one refusal into a chosen state; each
# case is a state a different caller enters (the poll timer, the final
# write, the provider's answer).
use strict;
use warnings;
use Test::More;
use Scenegen::Test qw(daemon_test_setup daemon_start daemon_stop
    daemon_wait_ready daemon_log daemons_sanitizer_clean insert_jobs
    wait_all_final sql_rows id_list standin_creates);

my ($user, $chapter) = daemon_test_setup();

for my $state ('polling', 'finishing', 'recording') {
	my @ids = insert_jobs($user, $chapter, 1,
	    prompt => "refusal into $state %d [standin:eta=0.6]");
	my $id = $ids[0];
	my $d = daemon_start(name => "refuse-$state",
	    SCENEGEN_DEBUG_REFUSE_STATE => $state, MODELSLAB_MAX_QUEUED => 5);
	ok(daemon_wait_ready($d), "$state: daemon ready") or diag daemon_log($d);
	ok(wait_all_final(\@ids, 40), "$state: the record reached a final "
	    . 'state after the refusal');
	my $row = sql_rows("SELECT status, attempts, lease_token IS NULL,
	    image_url IS NOT NULL FROM image_generations
	    WHERE id = '$id'")->[0];
	is($row->[0], 'completed', "$state: the record completed");
	cmp_ok($row->[1], '>=', 2, "$state: it took a second claim "
	    . "(attempts $row->[1]): the first was abandoned");
	is($row->[2], 't', "$state: its lease is cleared");
	my $log = daemon_log($d);
	like($log, qr/^<2>.*job \Q$id\E: refused state change \S+ -> \Q$state\E/m,
	    "$state: the refusal is logged at priority crit, naming the change");
	like($log, qr/job \Q$id\E: completed/, "$state: then completed");
	my @claims = $log =~ /job \Q$id\E: claimed/g;
	cmp_ok(scalar(@claims), '>=', 2, "$state: claimed again after the "
	    . 'lease lapsed');
	is(standin_creates($id)->{creates}, 1, "$state: one create at the "
	    . 'provider: the second claim resumed the first request')
	    if $state ne 'recording';
	is(daemon_stop($d), 0, "$state: the daemon exits 0 on SIGTERM");
}

daemons_sanitizer_clean();
done_testing();
