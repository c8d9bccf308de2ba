#!/usr/bin/perl
# Promises 1 and 2 under SIGKILL: a batch of 300 jobs (stand-in ETA 0.8 s),
# the daemon killed with SIGKILL at random moments three times and started
# again each time. Every row ends completed; the stand-in is asked at most
# 1 + 3 times per record; a record whose provider request id was in the
# row at a kill is resumed by that id (created exactly once); a row that
# was final at a kill never changes again; attempts count the crashes.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep time);
use Scenegen::Test qw(daemons_sanitizer_clean stack_env new_chapter sql sql1 sql_rows redis
    daemon_takeover daemon_start daemon_stop daemon_signal daemon_alive
    daemon_exit_status daemon_wait_ready daemon_log standin_creates_all
    insert_jobs wait_all_final id_list row_states);

my $env = stack_env();
plan skip_all => 'no stand-in in this stack' unless $env->{STANDIN_URL};

my $N = $ENV{CRASH_JOBS} // 300;
my $KILLS = 3;
my $seed = $ENV{CRASH_SEED} // int(rand(1e6));
srand($seed);
note "seed $seed (CRASH_SEED=$seed to repeat the kill moments)";

daemon_takeover();
my ($user, $chapter) = new_chapter();
my @ids = insert_jobs($user, $chapter, $N,
    prompt => 'crash %d: a lighthouse in a storm [standin:eta=0.8]');
my $in = id_list(@ids);
my %settings = (MODELSLAB_MAX_QUEUED => 60, SCENEGEN_LEASE_SECONDS => 3);

# id => [status, provider_request_id, completed_at, updated_at, image_url,
# attempts]
sub snapshot {
	my %s;
	for my $r (@{ sql_rows("SELECT id, status,
	    coalesce(provider_request_id, ''), coalesce(completed_at::text, ''),
	    updated_at::text, coalesce(image_url, ''), attempts
	    FROM image_generations WHERE id IN ($in)") }) {
		my $id = shift @$r;
		$s{$id} = $r;
	}
	return \%s;
}

my (@daemons, @snaps, @snap_creates, @kill_figures);
my $t0 = time;
for my $k (1 .. $KILLS) {
	my $d = daemon_start(name => "crash-$k", %settings);
	push @daemons, $d;
	ok(daemon_wait_ready($d), "daemon $k ready") or diag daemon_log($d);
	my $wait = 0.8 + rand(2.2);
	sleep $wait;
	ok(daemon_alive($d), "daemon $k still running before its kill");
	daemon_signal($d, 'KILL');
	my $st = daemon_exit_status($d, 5);
	ok(defined $st && ($st & 127) == 9, "daemon $k died of SIGKILL");
	# A statement sent just before the kill may still commit: let it.
	sleep 0.3;
	my $s = snapshot();
	push @snaps, $s;
	push @snap_creates, standin_creates_all();
	my %n;
	$n{$_->[0]}++ for values %$s;
	my $with_id = grep { $_->[0] eq 'in_progress' && $_->[1] ne '' }
	    values %$s;
	push @kill_figures, sprintf('kill %d after %.1f s: %s; in flight '
	    . 'with a provider id: %d', $k, $wait,
	    join(', ', map { "$_ $n{$_}" } sort keys %n), $with_id);
	note $kill_figures[-1];
}
my $last = daemon_start(name => 'crash-final', %settings);
push @daemons, $last;
ok(daemon_wait_ready($last), 'final daemon ready');
my $done = wait_all_final(\@ids, 45);
my $took = time - $t0;
ok($done, sprintf('all %d rows final %.1f s after the first start', $N,
    $took)) or diag explain row_states(\@ids);

# --- promise 1: every row reached an end, here all completed -------------
my $states = row_states(\@ids);
is_deeply($states, { completed => $N }, "all $N completed")
    or diag explain sql_rows("SELECT id, status, attempts, retry_count,
	error_message FROM image_generations WHERE id IN ($in)
	AND status <> 'completed' LIMIT 20");

# --- promise 2: creates per record ----------------------------------------
my $creates = standin_creates_all();
my %dist;
$dist{$creates->{$_} // 0}++ for @ids;
my $dist = join(', ', map { "$_ create(s): $dist{$_}" } sort keys %dist);
note "creates per record: $dist";
my @over = grep { ($creates->{$_} // 0) > 4 } @ids;
is_deeply(\@over, [], 'no record created more than 1 + 3 times');
my @none = grep { !($creates->{$_} // 0) } @ids;
is_deeply(\@none, [], 'every record was created at least once');

# Records whose provider id was in the row at a kill: resumed by it, never
# created again. (A create whose answer was lost in a kill, before the id
# was stored, may be made again: that is the 1 + 3 budget above.)
my (%had_id, %id_kill, %id_attempt);
for my $k (0 .. $#snaps) {
	my $s = $snaps[$k];
	for my $id (keys %$s) {
		next if $s->{$id}[1] eq '' || exists $had_id{$id};
		$had_id{$id} = $s->{$id}[1];
		$id_kill{$id} = $k;
		$id_attempt{$id} = $s->{$id}[5];
	}
}
my $final = snapshot();
my @created_again = grep { ($creates->{$_} // 0) !=
    ($snap_creates[$id_kill{$_}]{$_} // -1) } sort keys %had_id;
is_deeply(\@created_again, [], scalar(keys %had_id) . ' records had their '
    . 'provider id stored before a kill: none created again afterwards')
    or diag explain { map { $_ => { creates_end => $creates->{$_},
	creates_at_kill => $snap_creates[$id_kill{$_}]{$_},
	kill => $id_kill{$_} + 1, stored_id => $had_id{$_},
	final => $final->{$_} } } @created_again };
my @first = grep { $id_attempt{$_} == 1 } sort keys %had_id;
my @resubmitted = grep { ($creates->{$_} // 0) != 1 } @first;
is_deeply(\@resubmitted, [], scalar(@first) . ' records whose first attempt '
    . 'stored a provider id: created exactly once')
    or diag explain { map { $_ => { creates => $creates->{$_},
	stored_id => $had_id{$_}, final => $final->{$_} } } @resubmitted };
my @other_id = grep { $final->{$_}[1] ne $had_id{$_} } sort keys %had_id;
is_deeply(\@other_id, [], 'and completed with that same provider id');
my $resumed_in_flight = grep {
	my $id = $_;
	grep { $_->{$id} && $_->{$id}[0] eq 'in_progress'
	    && $_->{$id}[1] ne '' } @snaps
} keys %had_id;
ok($resumed_in_flight > 0, "$resumed_in_flight records were in flight "
    . 'with a provider id at a kill (the resume path was exercised)');
my $resume_logs = 0;
$resume_logs += () = daemon_log($_) =~ /resuming provider request/g
    for @daemons;
ok($resume_logs >= $resumed_in_flight, "the daemons logged $resume_logs "
    . 'resumes');

# --- one outcome: a final row never changes --------------------------------
my @changed;
for my $i (0 .. $#snaps) {
	for my $id (keys %{ $snaps[$i] }) {
		my $s = $snaps[$i]{$id};
		next unless $s->[0] eq 'completed' || $s->[0] eq 'failed';
		my $f = $final->{$id};
		push @changed, { id => $id, kill => $i + 1, then => $s,
		    now => $f } if join("\t", @$s[0 .. 4]) ne
		    join("\t", @$f[0 .. 4]);
	}
}
is_deeply(\@changed, [], 'rows final at a kill never changed afterwards '
    . '(status, completed_at, updated_at, image_url)');
my %completed_log;
for my $d (@daemons) {
	my $log = daemon_log($d);
	$completed_log{$1}++ while $log =~ /job ([0-9a-f-]{36}): completed/g;
}
my @twice = grep { ($completed_log{$_} // 0) > 1 } @ids;
is_deeply(\@twice, [], 'no record logged completed twice');

# --- attempts and retries ----------------------------------------------------
is(sql1("SELECT count(*) FROM image_generations WHERE id IN ($in)
    AND (retry_count <> 0 OR attempts < 1 OR attempts > 1 + $KILLS
    OR lease_token IS NOT NULL OR progress <> 100
    OR error_message IS NOT NULL OR next_attempt_at IS NOT NULL
    OR completed_at IS NULL OR image_url IS NULL)"), 0,
    "completed rows: no retry, 1..1+$KILLS attempts, lease cleared, "
    . 'progress 100, no error')
    or diag explain sql_rows("SELECT id, attempts, retry_count,
	lease_token, progress, error_message FROM image_generations
	WHERE id IN ($in) AND (retry_count <> 0 OR attempts < 1
	OR attempts > 1 + $KILLS OR lease_token IS NOT NULL
	OR progress <> 100 OR error_message IS NOT NULL) LIMIT 10");
# A claim counts as an attempt even when it ends in a crash: a record in
# progress at a kill (claimed by the killed daemon, or by one before it,
# with attempts a) was claimed again afterwards: attempts > a at the end.
my @uncounted;
for my $id (@ids) {
	my ($max) = sort { $b <=> $a } map { $_->{$id}[5] }
	    grep { $_->{$id}[0] eq 'in_progress' } @snaps;
	push @uncounted, "$id: in progress at a kill with attempts $max, "
	    . "ends with $final->{$id}[5]"
	    if defined $max && $final->{$id}[5] <= $max;
}
is_deeply(\@uncounted, [], 'each interrupted claim counted as an attempt');
my %att;
$att{$final->{$_}[5]}++ for @ids;
note 'attempts: ' . join(', ', map { "$_: $att{$_}" } sort keys %att);

my @missing = grep { !-s "$env->{SCENEGEN_IMAGE_DIR}/$_.png" } @ids;
is_deeply(\@missing, [], 'every image stored');

# The stream keeps no entry of this batch (acked and deleted).
my $left = wait_until_stream_clean();
sub wait_until_stream_clean {
	my %mine = map { $_ => 1 } @ids;
	my $n;
	for (1 .. 40) {
		my @out = split /\n/, redis('XRANGE', '{scenegen}:jobs', '-', '+');
		$n = grep { $mine{$_} } @out;
		return 0 if !$n;
		sleep 0.1;
	}
	return $n;
}
is($left, 0, 'no entry of the batch left in the stream');

is(daemon_stop($last), 0, 'final daemon exits 0 on SIGTERM');
diag "$N jobs, $KILLS kills (seed $seed), ${\ sprintf('%.1f', $took)} s; "
    . "creates: $dist; attempts: "
    . join(', ', map { "$_: $att{$_}" } sort keys %att);
diag $_ for @kill_figures;
daemons_sanitizer_clean();
done_testing();
