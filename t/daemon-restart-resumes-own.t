#!/usr/bin/perl
# A daemon restarted on the same machine resumes the jobs of its killed
# predecessor at once, not after their leases (60 s here) run out: each
# claim writes its holder (boot id, PID namespace, PID) in the row, and a
# daemon starting finds the holders of this machine whose process is
# gone. Shown on the rows: the jobs complete before the dead daemon's
# leases would have lapsed, each created once at the provider (resumed by
# its id). A holder that still runs (SIGSTOPped) keeps its jobs.
use strict;
use warnings;
use Test::More;
use Scenegen::Test qw(daemon_test_setup daemon_start daemon_wait_ready
    daemon_log daemon_stop daemon_signal daemon_exit_status daemon_wait_log
    insert_jobs id_list sql sql1 wait_until wait_all_final row_states
    daemons_sanitizer_clean standin_creates_all);

my ($user, $chapter) = daemon_test_setup();
my %long = (SCENEGEN_LEASE_SECONDS => 60);

my $a = daemon_start(name => 'resume-a', %long);
ok(daemon_wait_ready($a), 'daemon A ready') or diag daemon_log($a);
my @ids = insert_jobs($user, $chapter, 3,
    prompt => 'resume %d [standin:eta=3]');
my $in = id_list(@ids);
ok(wait_until(sub { sql1("SELECT count(*) FROM image_generations WHERE id"
    . " IN ($in) AND status = 'in_progress' AND provider_request_id IS NOT"
    . ' NULL') == @ids }, 30), 'A has the jobs in flight, ids recorded')
    or diag daemon_log($a);
my @holders = split /\n/, sql("SELECT DISTINCT lease_holder FROM"
    . " image_generations WHERE id IN ($in)");
is(scalar @holders, 1, 'one holder for the three jobs');
like($holders[0] // '', qr{^[0-9a-f-]{32,36}/pid:\[\d+\]/$a->{pid}\z},
    'the holder names the boot, the PID namespace and A\'s PID');
my $lapse = sql1("SELECT extract(epoch FROM min(lease_expires_at)) FROM"
    . " image_generations WHERE id IN ($in)");

daemon_signal($a, 'KILL');
ok(defined daemon_exit_status($a, 5), 'A killed');
my $b = daemon_start(name => 'resume-b', %long);
ok(daemon_wait_ready($b), 'daemon B ready') or diag daemon_log($b);
ok(daemon_wait_log($b, qr/3 jobs of a daemon that is gone resumed at once/),
    'B found the three jobs of the gone A') or diag daemon_log($b);
ok(wait_all_final(\@ids, 45), 'every job reached a final state')
    or diag daemon_log($b);
is_deeply(row_states(\@ids), { completed => 3 }, 'every job completed');
my $late = sql1("SELECT count(*) FROM image_generations WHERE id IN ($in)"
    . " AND completed_at >= to_timestamp($lapse)");
is($late, 0, 'all completed before A\'s leases would have run out');
my $creates = standin_creates_all();
is(scalar(grep { ($creates->{$_} // 0) != 1 } @ids), 0,
    'each resumed by its provider id: created once');
like(daemon_log($b), qr/resuming provider request/, 'B resumed by id');

# A holder that runs (stopped, not dead) is left alone.
my @more = insert_jobs($user, $chapter, 2,
    prompt => 'kept %d [standin:eta=2]');
my $more_in = id_list(@more);
ok(wait_until(sub { sql1("SELECT count(*) FROM image_generations WHERE id"
    . " IN ($more_in) AND status = 'in_progress' AND provider_request_id IS"
    . ' NOT NULL') == @more }, 30), 'B has two more jobs in flight')
    or diag daemon_log($b);
my $tokens = sql("SELECT id, lease_token FROM image_generations WHERE id IN"
    . " ($more_in) ORDER BY id");
daemon_signal($b, 'STOP');
my $c = daemon_start(name => 'resume-c', %long);
ok(daemon_wait_ready($c), 'daemon C ready') or diag daemon_log($c);
ok(daemon_wait_log($c, qr/2 jobs held by process $b->{pid}, which runs: left to it/),
    'C saw that B still runs') or diag daemon_log($c);
is(sql("SELECT id, lease_token FROM image_generations WHERE id IN"
    . " ($more_in) ORDER BY id"), $tokens, 'B still holds its two jobs');
daemon_signal($b, 'CONT');
ok(wait_all_final(\@more, 45), 'B finished them') or diag daemon_log($b);
is_deeply(row_states(\@more), { completed => 2 }, 'both completed');
is(sql1("SELECT count(*) FROM image_generations WHERE id IN ($more_in)"
    . ' AND attempts = 1'), 2, 'each in one attempt');

is(daemon_stop($_), 0, "daemon $_->{name} stops cleanly") for $b, $c;
daemons_sanitizer_clean();
done_testing();
