#!/usr/bin/perl
# Fair dispatch (scenegend(8), "Dispatch"), shown on the order in which
# the daemon claimed the records (last_attempted_at, taken with
# clock_timestamp() at each claim), through the real API:
# - users of one tier: a user's single job, posted behind another user's
#   backlog of 60, starts within one slot turn, not after the backlog;
#   two users with backlogs alternate;
# - tiers: with premium:4, pro:2 and free:1 competing for one slot, the
#   three get slots in proportion 4:2:1 (each within 2 of its share of
#   21 claims), and a tier alone uses every slot;
# - within one user, jobs start in the order they were posted.
use strict;
use warnings;
use Test::More;
use Scenegen::Test qw(daemon_test_setup daemon_start daemon_wait_ready
    daemon_log daemon_stop api_post new_chapter make_token id_list sql sql1
    wait_all_final row_states daemons_sanitizer_clean standin_req redis
    final_sampler wait_until);

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
my @batch = post_many($ta, $ca, 60, 'batch');
my ($single) = post_many($tb, $cb, 1, 'single');
ok(wait_all_final([ @batch, $single ], 120), 'all 61 final')
    or diag daemon_log($d);
is_deeply(row_states([ @batch, $single ]), { completed => 61 },
    'all 61 completed');
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
    . "its claim; claim place " . ($pos + 1) . ' of 61)');
is_deeply([ grep { $_ ne $single } @order ], \@batch,
    'the batch started in the order it was posted');
# The estimate follows the fair order, not the queue's length: the single
# job behind 60 is told about a slot turn, the batch's last the batch.
my ($es, $el) = ($eta{$single}, $eta{ $batch[-1] });
ok(defined $es && defined $el && $es * 4 <= $el, "the single job's "
    . "estimate ($es s) is a small part of the batch's last ($el s)");
cmp_ok($eta{ $batch[0] }, '<=', $es, 'the first of the batch, taken at '
    . "once, is told no more than the single job ($eta{ $batch[0] } s)");

# --- two backlogs -------------------------------------------------------
# Two users of one tier, 16 each, the second posted just after the first:
# from the first claim of the second on, while both wait, slots go to
# them in turn.
my ($uc, $cc, $tc) = new_chapter();
my ($ud, $cd, $td) = new_chapter();
my @c = post_many($tc, $cc, 16, 'backlog c');
my @dd = post_many($td, $cd, 16, 'backlog d');
ok(wait_all_final([ @c, @dd ], 90), 'both backlogs final')
    or diag daemon_log($d);
is_deeply(row_states([ @c, @dd ]), { completed => 32 }, 'all 32 completed');
my %is_d = map { $_ => 1 } @dd;
my @both = claim_order(@c, @dd);
shift @both while @both && !$is_d{ $both[0] };
# Up to the last claim of c, both had work waiting.
my ($last_c) = grep { !$is_d{ $both[$_] } } reverse 0 .. $#both;
my @alt = @both[0 .. $last_c];
my $seq = join '', map { $is_d{$_} ? 'd' : 'c' } @alt;
note "claim order while both waited: $seq";
my $longest = 0;
$longest < length $1 and $longest = length $1 while $seq =~ /((.)\2*)/g;
cmp_ok($longest, '<=', 2, "no user took more than 2 slots in a row while "
    . "the other waited (longest run $longest in " . length($seq) . ')');
my $nc = () = $seq =~ /c/g;
my $nd = () = $seq =~ /d/g;
cmp_ok(abs($nc - $nd), '<=', 2, "they shared the slots ($nc and $nd)");
is_deeply([ claim_order(@c) ], \@c, 'the first backlog started in the '
    . 'order it was posted');
is_deeply([ claim_order(@dd) ], \@dd, 'and the second');

# --- tiers -----------------------------------------------------------------
daemon_stop($d);
$d = daemon_start(name => 'tiers', MODELSLAB_MAX_QUEUED => 1,
    SCENEGEN_TIER_WEIGHTS => 'premium:4,pro:2,free:1',
    SCENEGEN_POLL_MIN_SECONDS => 0.1, SCENEGEN_POLL_MAX_SECONDS => 0.2);
ok(daemon_wait_ready($d), 'daemon ready, 1 provider slot')
    or diag daemon_log($d);
sleep 1.2;
my %tier_jobs;    # tier => [ record ids ]
my %tier_of;      # record id => tier
# Posted free first, premium last: premium is the one that must catch up.
for ([ free => 10 ], [ pro => 14 ], [ premium => 20 ]) {
	my ($tier, $n) = @$_;
	my ($u, $ch) = new_chapter();
	my $t = make_token(sub => $u, claims => { tier => $tier });
	$tier_jobs{$tier} = [ post_many($t, $ch, $n, $tier) ];
	$tier_of{$_} = $tier for @{ $tier_jobs{$tier} };
}
my @all = map { @$_ } values %tier_jobs;
ok(wait_all_final(\@all, 120), 'all 44 final') or diag daemon_log($d);
is_deeply(row_states(\@all), { completed => 44 }, 'all 44 completed');
# From the first premium claim on, all three tiers wait: 21 claims are
# three rounds of 4 + 2 + 1.
my @o = claim_order(@all);
shift @o while @o && $tier_of{ $o[0] } ne 'premium';
my @window = @o[0 .. 20];
my %letter = (premium => 'P', pro => 'p', free => 'f');
note 'claim order: ' . join '', map { $letter{ $tier_of{$_} } } @o;
my %got;
$got{ $tier_of{$_} }++ for @window;
for ([ premium => 12 ], [ pro => 6 ], [ free => 3 ]) {
	my ($tier, $want) = @$_;
	my $n = $got{$tier} // 0;
	cmp_ok(abs($n - $want), '<=', 2, "$tier took $n of 21 slots while all "
	    . "three waited (weights 4:2:1: $want expected, within 2)");
}
for my $tier (qw(free pro premium)) {
	is_deeply([ grep { $tier_of{$_} eq $tier } claim_order(@all) ],
	    $tier_jobs{$tier}, "$tier started in the order it was posted");
}

# --- a lone tier uses every slot -----------------------------------------
daemon_stop($d);
$d = daemon_start(name => 'lone', MODELSLAB_MAX_QUEUED => 3,
    SCENEGEN_POLL_MIN_SECONDS => 0.1, SCENEGEN_POLL_MAX_SECONDS => 0.2);
ok(daemon_wait_ready($d), 'daemon ready, 3 provider slots')
    or diag daemon_log($d);
sleep 1.2;
standin_req('/_standin/reset', '');
my ($ul, $cl) = new_chapter();
my $tl = make_token(sub => $ul, claims => { tier => 'premium' });
my @lone;
for my $i (1 .. 9) {
	my $r = api_post(token => $tl, chapter => $cl, scene => $i,
	    body => { scene_description => "lone $i [standin:eta=1]" });
	push @lone, $r->{json}{record_id} if $r->{status} == 202;
}
is(scalar @lone, 9, '9 jobs of one premium user, no other tier waiting');
my $peak = 0;
my $sample = final_sampler(id_list(@lone), \$peak);
ok(wait_until(sub { $sample->() == 9 }, 60),
    'all 9 final') or diag daemon_log($d);
is_deeply(row_states(\@lone), { completed => 9 }, 'all 9 completed');
is(standin_req('/_standin/stats')->{processing_peak}, 3, 'the lone tier '
    . "held all 3 slots at once (sampled peak $peak): its weight is a "
    . 'share, not a cap');

is(daemon_stop($d), 0, 'daemon stops cleanly');
daemons_sanitizer_clean();
done_testing();
