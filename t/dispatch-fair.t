#!/usr/bin/perl
# Fair dispatch (scenegend(8), "Dispatch"), shown on the order in which
# the daemon claimed the records (last_attempted_at, taken with
# clock_timestamp() at each claim), through the real API:
# - users of one tier: a user's single job, posted behind another user's
#   batch of 30, starts within one slot turn, not after the batch;
# - tiers: with premium:4 and free:1 competing for one slot, premium gets
#   four of every five slots;
# - within one user, jobs start in the order they were posted.
use strict;
use warnings;
use Test::More;
use Scenegen::Test qw(daemon_test_setup daemon_start daemon_wait_ready
    daemon_log daemon_stop api_post new_chapter make_token id_list sql sql1
    wait_all_final row_states daemons_sanitizer_clean standin_req redis);

daemon_test_setup();
standin_req('/_standin/reset', '');
END { eval { standin_req('/_standin/reset', '') } }
# A clean dispatch state: nothing of another test waits in a list.
redis('DEL', '{scenegen}:pass');

my %eta;    # record id => estimated_time_seconds of its 202

# Post $n scenes for a user (token with that tier); returns record ids.
sub post_many {
	my ($token, $chapter, $n, $label, $from) = @_;
	my @ids;
	for my $i (1 .. $n) {
		my $r = api_post(token => $token, chapter => $chapter,
		    scene => ($from // 0) + $i,
		    body => { scene_description => "$label $i [standin:eta=0.4]" });
		die "POST: $r->{status} $r->{content}\n" unless $r->{status} == 202;
		push @ids, $r->{json}{record_id};
		$eta{ $r->{json}{record_id} } = $r->{json}{estimated_time_seconds};
	}
	return @ids;
}

# The records in claim order.
sub claim_order {
	my (@ids) = @_;
	return map { (split /\t/)[0] } split /\n/, sql('SELECT id FROM'
	    . ' image_generations WHERE id IN (' . id_list(@ids) . ')'
	    . ' ORDER BY last_attempted_at, id');
}

# --- users of one tier ---------------------------------------------------
my $d = daemon_start(name => 'fair', MODELSLAB_MAX_QUEUED => 2,
    SCENEGEN_POLL_MIN_SECONDS => 0.1, SCENEGEN_POLL_MAX_SECONDS => 0.2);
ok(daemon_wait_ready($d), 'daemon ready, 2 provider slots')
    or diag daemon_log($d);
sleep 1.2;    # its first tick publishes the limit

my ($ua, $ca, $ta) = new_chapter();
my ($ub, $cb, $tb) = new_chapter();
my @batch = post_many($ta, $ca, 30, 'batch');
my ($single) = post_many($tb, $cb, 1, 'single');
ok(wait_all_final([ @batch, $single ], 90), 'all 31 final')
    or diag daemon_log($d);
is_deeply(row_states([ @batch, $single ]), { completed => 31 },
    'all 31 completed');
my @order = claim_order(@batch, $single);
my ($pos) = grep { $order[$_] eq $single } 0 .. $#order;
my $created = sql1("SELECT created_at FROM image_generations WHERE id ="
    . " '$single'");
my $started_before = sql1('SELECT count(*) FROM image_generations WHERE id'
    . ' IN (' . id_list(@batch) . ") AND created_at < '$created'");
my $ahead = sql1('SELECT count(*) FROM image_generations WHERE id IN ('
    . id_list(@batch) . ") AND last_attempted_at > '$created' AND"
    . " last_attempted_at < (SELECT last_attempted_at FROM"
    . " image_generations WHERE id = '$single')");
cmp_ok($ahead, '<=', 2, "the single job started after at most one slot "
    . "turn of the batch ($ahead of the batch started between its POST and "
    . "its claim; claim place " . ($pos + 1) . ' of 31)');
is_deeply([ grep { $_ ne $single } @order ], \@batch,
    'the batch started in the order it was posted');
# The estimate follows the fair order, not the queue's length: the single
# job behind 30 is told about a slot turn, the batch's last the batch.
my ($es, $el) = ($eta{$single}, $eta{ $batch[-1] });
ok(defined $es && defined $el && $es * 4 <= $el, "the single job's "
    . "estimate ($es s) is a small part of the batch's last ($el s)");
cmp_ok($eta{ $batch[0] }, '<=', $es, 'the first of the batch, taken at '
    . "once, is told no more than the single job ($eta{ $batch[0] } s)");

# --- tiers -----------------------------------------------------------------
daemon_stop($d);
$d = daemon_start(name => 'tiers', MODELSLAB_MAX_QUEUED => 1,
    SCENEGEN_TIER_WEIGHTS => 'premium:4,pro:2,free:1',
    SCENEGEN_POLL_MIN_SECONDS => 0.1, SCENEGEN_POLL_MAX_SECONDS => 0.2);
ok(daemon_wait_ready($d), 'daemon ready, 1 provider slot')
    or diag daemon_log($d);
sleep 1.2;
my ($uf, $cf) = new_chapter();
my ($up, $cp) = new_chapter();
my $tf = make_token(sub => $uf, claims => { tier => 'free' });
my $tp = make_token(sub => $up, claims => { tier => 'premium' });
my @free = post_many($tf, $cf, 12, 'free');
my @prem = post_many($tp, $cp, 12, 'premium');
ok(wait_all_final([ @free, @prem ], 90), 'all 24 final')
    or diag daemon_log($d);
my %is_prem = map { $_ => 1 } @prem;
# From the first premium claim on, while both tiers wait.
my @o = claim_order(@free, @prem);
shift @o while @o && !$is_prem{ $o[0] };
my @window = @o[0 .. 9];
my $p = grep { $is_prem{$_} } @window;
note 'claim order: ' . join '', map { $is_prem{$_} ? 'P' : 'f' } @o;
cmp_ok($p, '>=', 7, "premium took $p of 10 slots while both waited "
    . '(weights 4:1: 8 expected)');
cmp_ok($p, '<=', 9, 'and free was not starved');

is(daemon_stop($d), 0, 'daemon stops cleanly');
daemons_sanitizer_clean();
done_testing();
