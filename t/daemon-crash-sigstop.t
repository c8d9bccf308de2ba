#!/usr/bin/perl
# Leases under a paused worker: daemon A holds 10 jobs (provider ids
# recorded), is stopped with SIGSTOP past its lease; daemon B takes the
# jobs over and resumes them by provider id; A is let go (SIGCONT) and
# must not write to those rows (its writes carry its lease token): every
# row completed once by B, one create per record, nothing changed after
# A woke, and A's log says it abandoned the lost jobs.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep time);
use Scenegen::Test qw(daemons_sanitizer_clean stack_env new_chapter sql1 sql_rows wait_until
    daemon_takeover daemon_start daemon_stop daemon_signal daemon_alive
    daemon_wait_ready daemon_wait_log daemon_log standin_creates_all
    standin_creates insert_jobs wait_all_final id_list row_states);

my $env = stack_env();
plan skip_all => 'no stand-in in this stack' unless $env->{STANDIN_URL};

my $LEASE = 3;
daemon_takeover();
my ($user, $chapter) = new_chapter();

my $a = daemon_start(name => 'paused-A', SCENEGEN_LEASE_SECONDS => $LEASE);
ok(daemon_wait_ready($a), 'daemon A ready') or diag daemon_log($a);
my @ids = insert_jobs($user, $chapter, 10,
    prompt => 'paused %d: a ship in fog [standin:eta=5]');
my $in = id_list(@ids);
ok(wait_until(sub { sql1("SELECT count(*) FROM image_generations
    WHERE id IN ($in) AND status = 'in_progress' AND lease_token IS NOT NULL
    AND provider_request_id IS NOT NULL") == 10 }, 10),
    'A holds the 10 jobs, provider ids recorded');
my %a_lease = map { $_->[0] => $_->[1] } @{ sql_rows("SELECT id,
    lease_token FROM image_generations WHERE id IN ($in)") };
my %provider = map { $_->[0] => $_->[1] } @{ sql_rows("SELECT id,
    provider_request_id FROM image_generations WHERE id IN ($in)") };

ok(daemon_signal($a, 'STOP'), 'SIGSTOP to A');
my $t_stop = time;
my $b = daemon_start(name => 'taker-B', SCENEGEN_LEASE_SECONDS => $LEASE);
ok(daemon_wait_ready($b), 'daemon B ready') or diag daemon_log($b);
ok(wait_all_final(\@ids, 25), sprintf('all final %.1f s after A stopped',
    time - $t_stop)) or diag explain row_states(\@ids);
is_deeply(row_states(\@ids), { completed => 10 }, 'all 10 completed');

my $blog = daemon_log($b);
my @not_b = grep { $blog !~ /job \Q$_\E: completed/ } @ids;
is_deeply(\@not_b, [], 'B completed each of them');
my @not_resumed = grep { $blog !~
    /job \Q$_\E: resuming provider request \Q$provider{$_}\E\b/ } @ids;
is_deeply(\@not_resumed, [], "B resumed each by A's provider id");
my $c = standin_creates_all();
my @bad = grep { ($c->{$_} // 0) != 1 } @ids;
is_deeply(\@bad, [], 'one create per record')
    or diag explain { map { $_ => $c->{$_} } @bad };
is(sql1("SELECT count(*) FROM image_generations WHERE id IN ($in)
    AND attempts = 2 AND retry_count = 0 AND lease_token IS NULL"), 10,
    'two attempts each (A, then B), no retry, lease cleared');

my $q = "SELECT id, status, updated_at, completed_at, image_url, progress,
    attempts, coalesce(lease_token::text, ''), provider_request_id,
    generation_time_seconds FROM image_generations WHERE id IN ($in)
    ORDER BY id";
my $before = sql_rows($q);
my $stopped_for = time - $t_stop;
ok($stopped_for > $LEASE, sprintf('A was stopped %.1f s, past its %d s '
    . 'lease', $stopped_for, $LEASE));
ok(daemon_signal($a, 'CONT'), 'SIGCONT to A');
my %mine = map { $_ => 1 } @ids;
my $abandoned = sub {
	my %seen;
	my $log = daemon_log($a);
	$seen{$1}++ while $log =~ /job ([0-9a-f-]{36}): abandoned/g;
	return scalar grep { $seen{$_} } @ids;
};
ok(wait_until(sub { $abandoned->() == 10 }, 8),
    'A logged each of the 10 lost jobs as abandoned')
    or diag 'abandoned: ' . $abandoned->() . "\n" . daemon_log($a);
sleep 1.5;
ok(daemon_alive($a), 'A is still running after waking');
is_deeply(sql_rows($q), $before, 'no row changed after A woke up');
my $alog = daemon_log($a);
my @a_done = grep { $alog =~ /job \Q$_\E: (completed|failed|retry)/ } @ids;
is_deeply(\@a_done, [], 'A wrote no outcome for the lost jobs');
$c = standin_creates_all();
@bad = grep { ($c->{$_} // 0) != 1 } @ids;
is_deeply(\@bad, [], 'still one create per record after A woke');
unlike($alog, qr/refused state change|refused:/, 'A logged no refused '
    . 'transition or write');

is(daemon_stop($a), 0, 'A exits 0');
is(daemon_stop($b), 0, 'B exits 0');
daemons_sanitizer_clean();
done_testing();
