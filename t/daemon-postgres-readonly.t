#!/usr/bin/perl
# PostgreSQL refusing writes for a while (SQLSTATE 25006, what a standby
# answers during a failover; here `default_transaction_read_only` through
# ALTER SYSTEM): scenegend treats it as transient. Jobs in flight when the
# window opens retry their writes and keep their claim (one attempt each,
# none abandoned and claimed again); jobs queued during the window wait,
# as a failed claim does, and run once it closes. All end `completed`,
# none `failed`. The setting is restored whatever happens to the test.
use strict;
use warnings;
use Test::More;
use Scenegen::Pg qw(pg_read_only);
use Scenegen::Test qw(daemon_test_setup daemon_start daemon_wait_ready
    daemon_log daemon_stop insert_jobs id_list sql sql1
    stack_env wait_until wait_all_final row_states daemons_sanitizer_clean);

my ($user, $chapter) = daemon_test_setup();

# A lease long enough that the window never outlasts it: what is tested
# is the write's retry, not the lease's loss.
my $d = daemon_start(name => 'readonly', SCENEGEN_LEASE_SECONDS => 15);
ok(daemon_wait_ready($d), 'daemon ready') or diag daemon_log($d);

# In flight: claimed, the provider's id recorded, polling the stand-in.
my @first = insert_jobs($user, $chapter, 3,
    prompt => 'in flight %d [standin:eta=2]');
my $in = id_list(@first);
ok(wait_until(sub { sql1("SELECT count(*) FROM image_generations WHERE id"
    . " IN ($in) AND status = 'in_progress' AND provider_request_id IS NOT"
    . " NULL") == @first }, 30), 'the first jobs are in flight')
    or diag daemon_log($d);

ok(pg_read_only(1), 'PostgreSQL refuses writes');

# Each in-flight job meets the refusal when it writes (its result).
sub refused {
	my ($id) = @_;
	return daemon_log($d) =~ /\Q$id\E[^\n]*read-only transaction/;
}
ok(wait_until(sub { !grep { !refused($_) } @first }, 30),
    'every job in flight had a write refused as read-only')
    or diag daemon_log($d);

# Queued during the window: the claim is refused too.
my $sql = sql("SET default_transaction_read_only = off;\n"
    . "INSERT INTO image_generations (id, user_id, chapter_id, scene_number,"
    . " image_type, status, progress, retry_count, prompt, style,"
    . " aspect_ratio, tier, metadata) SELECT gen_random_uuid(), :'u', :'c',"
    . " 100 + g, 'scene', 'pending', 0, 0, 'queued in the window ' || g,"
    . " 'cinematic', '16:9', 'free', jsonb_build_object('scene_number',"
    . " 100 + g, 'chapter_id', :'c'::uuid, 'service', 'modelslab_v7')"
    . " FROM generate_series(1, 2) g RETURNING id", u => $user,
    c => $chapter);
my @second = grep { length } split /\n/, $sql;
is(scalar @second, 2, 'two more rows inserted during the window');
my $sock = stack_env()->{REDIS_SOCKET};
system("redis-cli -s '$sock' XADD '{scenegen}:jobs' '*' id $_ >/dev/null")
    == 0 or die "redis-cli XADD failed\n" for @second;
ok(wait_until(sub { !grep { !refused($_) } @second }, 30),
    'the claims of jobs queued during the window were refused as read-only')
    or diag daemon_log($d);
my $failed = sql1('SELECT count(*) FROM image_generations WHERE id IN ('
    . id_list(@first, @second) . ") AND status = 'failed'");
is($failed, 0, 'no job failed during the window');

ok(pg_read_only(0), 'PostgreSQL takes writes again');

my @all = (@first, @second);
ok(wait_all_final(\@all, 90), 'every job reached a final state')
    or diag explain row_states(\@all);
is_deeply(row_states(\@all), { completed => scalar @all },
    'every job completed, none failed');
# One claim each: nothing was abandoned and claimed again for the window.
my $attempts = sql("SELECT id, attempts FROM image_generations WHERE id IN"
    . " ($in) ORDER BY id");
my @again = grep { (split /\t/)[1] != 1 } split /\n/, $attempts;
is(scalar @again, 0, 'the jobs in flight kept their one attempt')
    or diag $attempts;

is(daemon_stop($d), 0, 'daemon stops cleanly');
daemons_sanitizer_clean();
done_testing();
