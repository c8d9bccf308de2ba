#!/usr/bin/perl
# Horizontal scale on one queue: two, then three daemons in one consumer
# group share a batch. Each job is done once (one create per record, one
# attempt, all completed) and the work is shared (every daemon's log
# shows completed jobs). In the three-daemon batch every record is in the
# stream twice (a redelivery): the second delivery is dropped.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep time);
use Scenegen::Test qw(daemons_sanitizer_clean daemon_test_setup stack_env
    sql1 sql_rows daemon_start daemon_stop daemon_wait_ready daemon_log
    standin_creates_all insert_jobs wait_all_final id_list row_states wait_until);

my ($user, $chapter) = daemon_test_setup();
my $env = stack_env();

sub shared_batch {
	my ($ndaemons, $njobs, $dup) = @_;
	my @d = map { daemon_start(name => "multi$ndaemons-$_",
	    MODELSLAB_MAX_QUEUED => 20) } 1 .. $ndaemons;
	ok(daemon_wait_ready($_), "$_->{name} ready") for @d;
	my $t0 = time;
	my @ids = insert_jobs($user, $chapter, $njobs,
	    prompt => "multi $ndaemons/%d: a heron at dawn [standin:eta=0.5]");
	if ($dup) {
		# Every record delivered twice: the guarded claim lets one win.
		my $sock = $env->{REDIS_SOCKET};
		open my $fh, '|-', "redis-cli -s '$sock' >/dev/null" or die $!;
		print $fh qq{XADD {scenegen}:jobs * id $_\n} for @ids;
		close $fh or die "redis-cli failed\n";
	}
	ok(wait_all_final(\@ids, 40), sprintf('%d jobs final in %.1f s',
	    $njobs, time - $t0)) or diag explain row_states(\@ids);
	is_deeply(row_states(\@ids), { completed => $njobs },
	    "all $njobs completed");
	my $c = standin_creates_all();
	my %dist;
	$dist{$c->{$_} // 0}++ for @ids;
	is_deeply(\%dist, { 1 => $njobs }, 'exactly one create per record')
	    or diag explain \%dist;
	my $in = id_list(@ids);
	is(sql1("SELECT count(*) FROM image_generations WHERE id IN ($in)
	    AND (attempts <> 1 OR retry_count <> 0 OR lease_token IS NOT NULL)"),
	    0, 'one attempt each, no retry, no lease left')
	    or diag explain sql_rows("SELECT id, attempts, retry_count
		FROM image_generations WHERE id IN ($in) AND attempts <> 1");

	my %mine = map { $_ => 1 } @ids;
	my (%by, %who);
	for my $d (@d) {
		my $log = daemon_log($d);
		while ($log =~ /job ([0-9a-f-]{36}): completed/g) {
			next unless $mine{$1};
			$by{$d->{name}}++;
			$who{$1}{$d->{name}}++;
		}
	}
	my $share = join(', ', map { "$_->{name} " . ($by{$_->{name}} // 0) }
	    @d);
	note "completed per daemon: $share";
	for my $d (@d) {
		ok(($by{$d->{name}} // 0) >= $njobs / (4 * $ndaemons),
		    "$d->{name} did its share (" . ($by{$d->{name}} // 0)
		    . " of $njobs)");
	}
	my @twice = grep { keys %{ $who{$_} } != 1
	    || (values %{ $who{$_} })[0] != 1 } @ids;
	is_deeply(\@twice, [], 'each record completed by exactly one daemon, '
	    . 'once') or diag explain { map { $_ => $who{$_} } @twice[0 .. 4] };
	# A duplicate waits its turn for a provider slot like any entry
	# added outside dispatch, so the last ones may come after the rows
	# are final.
	my $dropped = 0;
	my $count_dropped = sub {
		$dropped = 0;
		for my $d (@d) {
			my $log = daemon_log($d);
			$dropped += $mine{$1} // 0
			    while $log =~ /job ([0-9a-f-]{36}): not claimable/g;
		}
		return $dropped >= $njobs;
	};
	wait_until($count_dropped, 30) if $dup;
	$count_dropped->();
	note "entries dropped as not claimable: $dropped";
	if ($dup) {
		is($dropped, $njobs, "each of the $njobs duplicate deliveries "
		    . 'dropped as not claimable');
	}
	is(daemon_stop($_), 0, "$_->{name} exits 0") for @d;
	return $share;
}

my @shares;
subtest 'two daemons, 200 jobs' => sub { push @shares, shared_batch(2, 200) };
subtest 'three daemons, 240 jobs, each delivered twice' => sub {
	push @shares, shared_batch(3, 240, 1) };
diag "completed per daemon: $_" for @shares;
daemons_sanitizer_clean();
done_testing();
