#!/usr/bin/perl
# Live status: the first document a subscriber gets is never older than
# the row. The API fills an empty channel with the row read FOR SHARE and
# publishes it before the lock ends, so a write that is under way when a
# subscriber comes (here an open transaction that moves the record to
# in_progress, 40 %) is waited for and shown, not the state before it:
# read without the lock, the API would publish the old pending document,
# and the writer's own publish could land before it.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use Scenegen::Test qw(stack_env http_req api_post sql sql1 daemon_test_setup
    sse_open sse_event);

plan skip_all => 'no live status in this stack'
    unless stack_env()->{SCENEGEN_EVENTS_SOCKET};
my ($user, $chapter, $token) = daemon_test_setup();
my %auth = (Authorization => "Bearer $token");

my $r = api_post(token => $token, chapter => $chapter, scene => 1,
    body => { scene_description => 'a write under way' });
is($r->{status}, 202, 'posted') or diag $r->{content};
my $id = $r->{json}{record_id};
my $doc = http_req('GET', "/api/v1/records/$id", headers => \%auth)->{json};
is($doc->{status}, 'pending', 'pending: no daemon runs');

# The writer: one transaction that changes the row and holds it 1.5 s.
my $hold = 1.5;
my $writer = fork // die "fork: $!";
if (!$writer) {
	sql(qq{BEGIN;
	    UPDATE image_generations SET status = 'in_progress',
	      progress = 40, last_attempted_at = now() WHERE id = :'id';
	    SELECT pg_sleep($hold);
	    COMMIT;}, id => $id);
	exit 0;
}
# Wait until the writer holds the row.
my $held = 0;
for (1 .. 100) {
	$held = sql1(q{SELECT count(*) FROM pg_locks l
	    JOIN pg_stat_activity a ON a.pid = l.pid
	    WHERE l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock'
	    AND a.query LIKE '%pg_sleep%'});
	last if $held > 0;
	sleep 0.02;
}
ok($held > 0, 'the writer holds the row in an open transaction');

my $t0 = time;
my $s = sse_open($doc->{events_url});
is($s->{status}, 200, 'stream opened while the write is under way');
my $first = sse_event($s, 5);
my $waited = time - $t0;
ok($first, 'a first event') or diag explain $s;
is($first && $first->{json}{status}, 'in_progress',
    'first event: the written state, not the one before it');
is($first && $first->{json}{progress}, 40, 'first event: its progress');
diag sprintf('the first event came %.2f s after the subscribe, the '
    . 'writer held the row %.1f s', $waited, $hold);
waitpid $writer, 0;
is($?, 0, 'the writer committed');

# The channel is filled once: a second subscriber gets the same state.
my $s2 = sse_open($doc->{events_url});
my $e2 = sse_event($s2, 5);
is($e2 && $e2->{json}{progress}, 40, 'a second subscriber: the same');
is(sql1(q{SELECT status || ' ' || progress FROM image_generations
    WHERE id = :'id'}, id => $id), 'in_progress 40', 'the row as written');
# No transaction of the API is left open.
is(sql1(q{SELECT count(*) FROM pg_stat_activity
    WHERE state LIKE 'idle in transaction%'}), 0,
    'no connection left idle in a transaction');

done_testing;
