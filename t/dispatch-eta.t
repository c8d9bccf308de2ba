#!/usr/bin/perl
# An honest estimate (SPEC, Version 2: estimated_time_seconds): the time a
# job is told, in its 202 and in its status document while it waits, is
# within a factor of 2 of the time it really took to reach `completed`,
# for the head, middle and tail of one user's backlog and for a second
# user's single job posted behind it (which the fair order serves within
# one slot turn, and whose estimate says so).
#
# The estimate is the daemon's average generation time times the slot
# turns ahead of the job (scenegend(8), "Dispatch"): the daemon first
# learns that average from two warm-up jobs, as it would in production.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use Scenegen::Test qw(daemon_test_setup daemon_start daemon_wait_ready
    daemon_log daemon_stop api_post api_status new_chapter sql1
    wait_all_final row_states daemons_sanitizer_clean standin_req redis
    wait_until);

daemon_test_setup();
standin_req('/_standin/reset', '');
END { eval { standin_req('/_standin/reset', '') } }
redis('DEL', '{scenegen}:pass');

my $GEN = 2;    # seconds the stand-in holds each generation
my %told;       # record id => estimated_time_seconds of its 202
my %posted;     # record id => when the 202 came back (epoch seconds)

# Post scenes $from+1 .. $from+$n for a chapter; returns record ids.
sub post_many {
	my ($token, $chapter, $n, $label, $from) = @_;
	my @ids;
	for my $i (1 .. $n) {
		my $r = api_post(token => $token, chapter => $chapter,
		    scene => ($from // 0) + $i, body => {
		    scene_description => "$label $i [standin:eta=$GEN]" });
		die "POST: $r->{status} $r->{content}\n" unless $r->{status} == 202;
		my $id = $r->{json}{record_id};
		$posted{$id} = time;
		$told{$id} = $r->{json}{estimated_time_seconds};
		push @ids, $id;
	}
	return @ids;
}

# Seconds from $since (epoch) to the record's completed_at.
sub took {
	my ($id, $since) = @_;
	return sql1("SELECT extract(epoch FROM completed_at) - :'t' FROM"
	    . " image_generations WHERE id = :'id'", id => $id, t => $since);
}

# Assert a told estimate is within a factor of 2 of what it took.
sub within_two {
	my ($told, $real, $what) = @_;
	my $ok = defined $told && defined $real && $real > 0
	    && $told <= 2 * $real && $real <= 2 * $told;
	ok($ok, sprintf('%s: told %s s, took %.1f s (ratio %.2f)', $what,
	    $told // 'nothing', $real // -1,
	    ($told && $real) ? $told / $real : 0));
}

my $d = daemon_start(name => 'eta', MODELSLAB_MAX_QUEUED => 2,
    SCENEGEN_POLL_MIN_SECONDS => 0.1, SCENEGEN_POLL_MAX_SECONDS => 0.2);
ok(daemon_wait_ready($d), 'daemon ready, 2 provider slots')
    or diag daemon_log($d);
sleep 1.2;    # its first tick publishes the limit

# What an earlier daemon published is not this one's average.
redis('HDEL', '{scenegen}:stats', 'avg_generation_ms');
my ($uw, $cw, $tw) = new_chapter();
my @warm = post_many($tw, $cw, 2, 'warm-up');
ok(wait_all_final(\@warm, 60), 'warm-up jobs final') or diag daemon_log($d);
ok(wait_until(sub { (redis('HGET', '{scenegen}:stats',
    'avg_generation_ms') // '') =~ /^\d+$/ }, 10),
    'the daemon published its average generation time');

my ($ua, $ca, $ta) = new_chapter();
my ($ub, $cb, $tb) = new_chapter();
my @backlog = post_many($ta, $ca, 12, 'backlog');
my ($single) = post_many($tb, $cb, 1, 'single');

# The tail's status document while it still waits, a few turns in.
sleep 2 * $GEN + 0.5;
my $s = api_status(token => $ta, chapter => $ca, scene => 12);
my $asked = time;
is(($s->{json} // {})->{status}, 'pending', 'the tail still waits')
    or diag $s->{content};
my $told_later = ($s->{json} // {})->{estimated_time_seconds};

ok(wait_all_final([ @backlog, $single ], 120), 'all 13 final')
    or diag daemon_log($d);
is_deeply(row_states([ @backlog, $single ]), { completed => 13 },
    'all 13 completed');

for my $case ([ 'head', $backlog[0] ], [ 'middle', $backlog[5] ],
    [ 'tail', $backlog[-1] ], [ "the second user's single job", $single ]) {
	my ($what, $id) = @$case;
	within_two($told{$id}, took($id, $posted{$id}), "$what (202)");
}
within_two($told_later, took($backlog[-1], $asked),
    'tail (status document while it waited)');
cmp_ok($told{$single} // 1e9, '<', $told{ $backlog[-1] } // 0,
    "the single job is told less than the backlog's tail");

is(daemon_stop($d), 0, 'daemon stops cleanly');
daemons_sanitizer_clean();
done_testing();
