#!/usr/bin/perl
# A job that crashed its workers too often (attempts already 1 + 3 in the
# row) is a poison job: the next claim ends it failed with an error
# message saying so, without calling the provider; and a claim that comes
# before a retry is due puts the record back in the delayed set instead
# of working on it.
use strict;
use warnings;
use Test::More;
use Scenegen::Test qw(stack_env new_chapter sql sql1 redis daemon_takeover
    daemon_start daemon_stop daemon_wait_ready daemon_log standin_creates
    insert_jobs wait_until daemons_sanitizer_clean);

my $env = stack_env();
plan skip_all => 'no stand-in in this stack' unless $env->{STANDIN_URL};

daemon_takeover();
my ($user, $chapter) = new_chapter();
my $d = daemon_start(name => 'poison');
ok(daemon_wait_ready($d), 'daemon ready') or diag daemon_log($d);

subtest 'poison job: failed at once, provider not called' => sub {
	my ($id) = insert_jobs($user, $chapter, 1, no_xadd => 1,
	    prompt => 'poison %d [standin:eta=0.2]');
	sql(q{UPDATE image_generations SET attempts = 4 WHERE id = :'id'},
	    id => $id);
	redis('XADD', '{scenegen}:jobs', '*', 'id', $id);
	ok(wait_until(sub { sql1(q{SELECT status FROM image_generations
	    WHERE id = :'id'}, id => $id) eq 'failed' }, 10), 'failed');
	like(sql1(q{SELECT error_message FROM image_generations
	    WHERE id = :'id'}, id => $id),
	    qr/gave up after 4 attempts: each one was interrupted/,
	    'the error message says why');
	is(standin_creates($id)->{creates}, 0, 'the provider was not called');
	is(sql1(q{SELECT lease_token IS NULL FROM image_generations
	    WHERE id = :'id'}, id => $id), 't', 'lease cleared');
};

subtest 'an early entry goes back to the delayed set' => sub {
	my ($id) = insert_jobs($user, $chapter, 1, no_xadd => 1,
	    prompt => 'early %d [standin:eta=0.2]');
	# A retry due in 3 s, whose entry reaches the stream now.
	sql(q{UPDATE image_generations SET status = 'in_progress',
	    retry_count = 1, attempts = 1,
	    next_attempt_at = now() + interval '3 seconds'
	    WHERE id = :'id'}, id => $id);
	my $due = sql1(q{SELECT extract(epoch FROM next_attempt_at)
	    FROM image_generations WHERE id = :'id'}, id => $id);
	redis('XADD', '{scenegen}:jobs', '*', 'id', $id);
	ok(wait_until(sub { redis('ZSCORE', '{scenegen}:delayed', $id) ne '' },
	    5), 'parked in the delayed set');
	is(sql1(q{SELECT attempts FROM image_generations WHERE id = :'id'},
	    id => $id), 1, 'not claimed early (no attempt counted)');
	ok(wait_until(sub { sql1(q{SELECT status FROM image_generations
	    WHERE id = :'id'}, id => $id) eq 'completed' }, 15), 'completed');
	my $at = sql1(q{SELECT extract(epoch FROM last_attempted_at)
	    FROM image_generations WHERE id = :'id'}, id => $id);
	cmp_ok($at, '>=', $due, 'claimed only once due');
	is(standin_creates($id)->{creates}, 1, 'created once');
};

is(daemon_stop($d), 0, 'daemon exits 0 on SIGTERM');
daemons_sanitizer_clean();
done_testing();
