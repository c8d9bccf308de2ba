#!/usr/bin/perl
# scenegenctl retry: a failed record is put back (pending, progress,
# attempts and retry_count 0, lease, due time, provider request and error
# cleared) and queued on the job stream, so that it is generated again
# (with a daemon running: it ends completed). A record that is not failed
# is left alone (exit 1, says why). --failed --since resets the failed
# records of that period only. Redis down: reset, not queued, exit 1.
use strict;
use warnings;
use FindBin;
use Test::More;
use lib "$FindBin::Bin/lib";
use Scenegen::Ops qw(ops_build_dir ctl sqlv redisv daemon_running scratch
    psql_on);
use Scenegen::Test qw(new_chapter new_uuid wait_until);

my $ctl = ops_build_dir() . '/scenegenctl';
plan skip_all => "$ctl not built" unless -x $ctl;

my ($user, $chapter) = new_chapter();

# A record as the daemon leaves it after its last retry.
sub failed_row {
	my ($scene, $age) = @_;
	my $id = new_uuid();
	sqlv("INSERT INTO image_generations (id, user_id, chapter_id, "
	    . "scene_number, status, progress, retry_count, attempts, "
	    . "lease_token, lease_expires_at, next_attempt_at, "
	    . "provider_request_id, error_message, prompt, style, aspect_ratio, "
	    . "created_at, updated_at) VALUES (:'id', :'u', :'c', :'n', "
	    . "'failed', 40, 3, 4, gen_random_uuid(), now(), now(), '777', "
	    . "'The provider timed out four times.', 'A harbour at dawn', "
	    . "'cinematic', '16:9', now() - :'age'::interval, "
	    . "now() - :'age'::interval)",
	    id => $id, u => $user, c => $chapter, n => $scene, age => $age);
	return $id;
}

sub in_stream {
	my ($id) = @_;
	my $out = redisv('XRANGE', '{scenegen}:jobs', '-', '+');
	return $out =~ /^\Q$id\E$/m;
}

my $daemon = daemon_running();
note $daemon ? 'scenegend runs: the retried record must complete'
    : 'no scenegend: the retried record must wait in the stream';

my $id = failed_row(1, '1 minute');
my ($rc, $out, $err) = ctl('retry', $id);
is($rc, 0, 'retry RECORD: exit 0') or diag $err;
like($out, qr/^scenegenctl: retrying \Q$id\E$/m, 'names the record');
like($out, qr/1 record\(s\) reset to pending, 1 queued/, 'counts it');
if ($daemon) {
	ok(wait_until(sub { sqlv("SELECT status FROM image_generations "
	    . "WHERE id = :'id'", id => $id) eq 'completed' }, 60),
	    'the daemon generates it again: completed');
	is(sqlv("SELECT retry_count FROM image_generations WHERE id = :'id'",
	    id => $id), 0, 'with retry_count back to 0');
} else {
	is(sqlv("SELECT concat_ws(' ', status, progress, attempts, retry_count,"
	    . " lease_token IS NULL, lease_expires_at IS NULL, next_attempt_at "
	    . "IS NULL, provider_request_id IS NULL, error_message IS NULL) "
	    . "FROM image_generations WHERE id = :'id'", id => $id),
	    'pending 0 0 0 t t t t t', 'row reset: pending, counters 0, cleared');
	ok(in_stream($id), 'and queued on {scenegen}:jobs');
}

# Not failed: left alone.
my $done = new_uuid();
sqlv("INSERT INTO image_generations (id, user_id, chapter_id, scene_number, "
    . "status, progress, image_url) VALUES (:'id', :'u', :'c', 2, "
    . "'completed', 100, 'https://x.example/a.png')",
    id => $done, u => $user, c => $chapter);
($rc, $out, $err) = ctl('retry', $done);
is($rc, 1, 'retry of a completed record: exit 1');
like($err, qr/record \Q$done\E is completed; only failed records are retried/,
    'says why');
is(sqlv("SELECT status || ' ' || image_url FROM image_generations "
    . "WHERE id = :'id'", id => $done), 'completed https://x.example/a.png',
    'the record is untouched');
ok(!in_stream($done), 'and not queued');
my $none = new_uuid();
($rc, $out, $err) = ctl('retry', $none);
is($rc, 1, 'retry of no record: exit 1');
like($err, qr/no record \Q$none\E/, 'says so');

# --failed [--since]: every failed record (of that period). On a scratch
# database and Redis database, so that the stack's other records and its
# daemon are not touched.
my $w = scratch('ctl_retry');
my %env = (DATABASE_URL => $w->{DATABASE_URL}, REDIS_URL => $w->{REDIS_URL});
my ($recent, $old, $fresh) = (new_uuid(), new_uuid(), new_uuid());
psql_on($w->{DATABASE_URL}, join '', map {
	my ($rid, $age, $status) = @$_;
	"INSERT INTO image_generations (id, user_id, status, retry_count, "
	. "attempts, error_message, updated_at) VALUES ('$rid', '$user', "
	. "'$status', 3, 4, 'gave up', now() - interval '$age');\n"
} [ $recent, '10 minutes', 'failed' ], [ $old, '3 hours', 'failed' ],
    [ $fresh, '1 minute', 'completed' ]);
($rc, $out, $err) = ctl(\%env, 'retry', '--failed', '--since', '1h');
is($rc, 0, 'retry --failed --since 1h: exit 0') or diag $err;
is($out, "scenegenctl: retrying $recent\nscenegenctl: 1 record(s) reset "
    . "to pending, 1 queued\n", 'only the one that failed 10 minutes ago');
is(psql_on($w->{DATABASE_URL}, "SELECT id, status, retry_count, attempts, "
    . "error_message IS NULL FROM image_generations ORDER BY status, id"),
    join("\n", "$fresh\tcompleted\t3\t4\tf", "$old\tfailed\t3\t4\tf",
    "$recent\tpending\t0\t0\tt"), 'it is reset; the others untouched');
is($w->{redis}->('XRANGE', '{scenegen}:jobs', '-', '+') =~ s/^\d+-\d+\nid\n//mgr,
    $recent, 'and queued, once');

($rc, $out, $err) = ctl(\%env, 'retry', '--failed', '--since', '1h');
is($rc, 0, 'again: exit 0');
is($out, "scenegenctl: no failed records in that time\n", 'nothing to do');

($rc, $out, $err) = ctl(\%env, 'retry', '--failed');
is($rc, 0, 'retry --failed: exit 0') or diag $err;
is($out, "scenegenctl: retrying $old\nscenegenctl: 1 record(s) reset "
    . "to pending, 1 queued\n", 'the old one too');
is(psql_on($w->{DATABASE_URL}, "SELECT count(*) FROM image_generations "
    . "WHERE status = 'failed'"), 0, 'none left failed');
is($w->{redis}->('XLEN', '{scenegen}:jobs'), 2, 'two jobs queued in all');

# Redis unreachable: the rows are reset (the sweeper queues them), exit 1.
psql_on($w->{DATABASE_URL}, "UPDATE image_generations SET status = 'failed' "
    . "WHERE id = '$old'");
($rc, $out, $err) = ctl({ %env, REDIS_URL => 'unix:///nonexistent/r.sock' },
    'retry', $old);
is($rc, 1, 'Redis unreachable: exit 1');
like($err, qr/1 record\(s\) pending but not queued; scenegend's sweeper queues them/,
    'says the sweeper will queue it');
is(psql_on($w->{DATABASE_URL}, "SELECT status FROM image_generations "
    . "WHERE id = '$old'"), 'pending', 'the row is pending');

done_testing();
