#!/usr/bin/perl
# Promise 1 when Redis forgets: PostgreSQL is the truth, the sweeper puts
# back in the stream what Redis lost.
#  1. jobs accepted through the API while no daemon runs; FLUSHALL; a
#     daemon starts: the sweeper queues every row again, all complete.
#  2. a daemon holding 2 jobs at a time (MODELSLAB_MAX_QUEUED=2) with
#     more waiting in the stream; FLUSHALL (stream, consumer group,
#     pending entries and delayed set gone) while it works: all complete.
#  3. a pending row with no stream entry at all (the enqueue failed):
#     completed after a sweep.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep time);
use Scenegen::Test qw(daemons_sanitizer_clean stack_env new_chapter api_post sql1 sql_rows redis
    daemon_takeover daemon_start daemon_stop daemon_wait_ready daemon_log
    standin_creates_all insert_jobs wait_all_final id_list row_states
    stream_has_job wait_until);

my $env = stack_env();
plan skip_all => 'no stand-in in this stack' unless $env->{STANDIN_URL};

daemon_takeover();
my ($user, $chapter, $token) = new_chapter();

sub creates_ok {
	my ($ids, $name) = @_;
	my $c = standin_creates_all();
	my @bad = grep { ($c->{$_} // 0) != 1 } @$ids;
	is_deeply(\@bad, [], "$name: one create per record")
	    or diag explain { map { $_ => $c->{$_} } @bad };
}

subtest 'accepted while no daemon ran, then FLUSHALL' => sub {
	my @ids;
	for my $scene (1 .. 30) {
		my $r = api_post(token => $token, chapter => $chapter,
		    scene => $scene, body => { scene_description =>
		    "Flushed $scene: a fox under the northern lights "
		    . '[standin:eta=0.5]' });
		push @ids, $r->{json}{record_id} if $r->{status} == 202;
	}
	is(scalar @ids, 30, '30 accepted (202)');
	is(stream_has_job($ids[0]), 1, 'the first is in the stream');
	is(redis('FLUSHALL'), 'OK', 'FLUSHALL');
	is(redis('EXISTS', '{scenegen}:jobs'), '0', 'the stream is gone');
	is_deeply(row_states(\@ids), { pending => 30 }, 'rows still pending');
	my $t0 = time;
	my $d = daemon_start(name => 'flush-1');
	ok(daemon_wait_ready($d), 'daemon ready') or diag daemon_log($d);
	ok(wait_all_final(\@ids, 30), sprintf('all final after %.1f s',
	    time - $t0));
	is_deeply(row_states(\@ids), { completed => 30 }, 'all 30 completed');
	creates_ok(\@ids, 'flushed before start');
	like(daemon_log($d), qr/sweeper: \d+ unattended records queued again/,
	    'the sweeper logged the records it queued again');
	is(daemon_stop($d), 0, 'daemon exits 0');
};

subtest 'FLUSHALL while a daemon works through a backlog' => sub {
	my @ids = insert_jobs($user, $chapter, 20,
	    prompt => 'backlog %d [standin:eta=1]');
	my $d = daemon_start(name => 'flush-2', MODELSLAB_MAX_QUEUED => 2);
	ok(daemon_wait_ready($d), 'daemon ready') or diag daemon_log($d);
	my $in = id_list(@ids);
	ok(wait_until(sub { sql1("SELECT count(*) FROM image_generations
	    WHERE id IN ($in) AND status = 'in_progress'
	    AND provider_request_id IS NOT NULL") >= 1 }, 10),
	    'jobs in flight');
	my $before = row_states(\@ids);
	note 'before FLUSHALL: ' . join(', ', map { "$_ $before->{$_}" }
	    sort keys %$before);
	ok(($before->{pending} // 0) >= 10, 'a backlog waits in the stream');
	is(redis('FLUSHALL'), 'OK', 'FLUSHALL');
	my $t0 = time;
	ok(wait_all_final(\@ids, 40), sprintf('all final %.1f s after the '
	    . 'flush', time - $t0)) or diag explain row_states(\@ids);
	is_deeply(row_states(\@ids), { completed => 20 }, 'all 20 completed');
	creates_ok(\@ids, 'flushed while working');
	is(sql1("SELECT count(*) FROM image_generations WHERE id IN ($in)
	    AND (lease_token IS NOT NULL OR retry_count <> 0)"), 0,
	    'no lease left, no retry');
	my $log = daemon_log($d);
	like($log, qr/consumer group \S+ is gone|sweeper: \d+ unattended/,
	    'the daemon noticed');
	is(daemon_stop($d), 0, 'daemon exits 0');
};

subtest 'a pending row whose enqueue failed' => sub {
	my $d = daemon_start(name => 'flush-3');
	ok(daemon_wait_ready($d), 'daemon ready') or diag daemon_log($d);
	my ($id) = insert_jobs($user, $chapter, 1, no_xadd => 1,
	    prompt => 'never enqueued %d [standin:eta=0.3]');
	is(stream_has_job($id), 0, 'not in the stream');
	my $t0 = time;
	ok(wait_all_final([$id], 20), sprintf('final after %.1f s',
	    time - $t0));
	is(sql1("SELECT status FROM image_generations WHERE id = :'id'",
	    id => $id), 'completed', 'completed');
	creates_ok([$id], 'never enqueued');
	like(daemon_log($d), qr/sweeper: 1 unattended records? queued again/,
	    'the sweeper queued it');
	is(daemon_stop($d), 0, 'daemon exits 0');
};

daemons_sanitizer_clean();
done_testing();
