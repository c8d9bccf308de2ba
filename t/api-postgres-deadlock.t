#!/usr/bin/perl
# A deadlock (SQLSTATE 40P01, class 40: the server rolled the statement
# back so that it can be run again) is transient for the API as for the
# daemon: POST answers 503 `unavailable` with Retry-After, not 500.
#
# The deadlock is made for real: a session inserts the row of an
# Idempotency-Key and keeps its transaction open; the API's POST with
# that key waits for it; the session then asks for a lock on `chapters`
# that the API's statement holds. The server's deadlock check runs in the
# API's backend (deadlock_timeout is raised for the stack during the test
# and made longer still in the session, so only the API's check fires).
# Both settings are restored whatever happens to the test.
use strict;
use warnings;
use Test::More;
use POSIX ();
use File::Temp qw(tempfile);
use Scenegen::Pg qw(pg_system_set);
use Scenegen::Test qw(api_post new_chapter new_uuid wait_until wait_healthy
    count_rows sql1 sql_on pg_admin_url json);

my $admin = pg_admin_url('postgres');
my ($session, $session_pid, $post_pid);
END {
	local $?;
	kill 'KILL', $_ for grep { defined } $session_pid, $post_pid;
}

my ($user, $chapter, $token) = new_chapter();
ok(wait_healthy(10), 'healthy before the test');
ok(pg_system_set('deadlock_timeout', '5s'),
    'deadlock_timeout is 5 s for the stack');

my $key = 'deadlock-' . new_uuid();
my $app = 'scenegen-test-' . $$;
my $db = pg_admin_url('scenegen');

# The session: hold the key's row in an open transaction.
{
	local $ENV{PGAPPNAME} = $app;
	$session_pid = open($session, '|-', 'psql', '-X', '-q', '-d', $db)
	    // die "psql: $!";
	$session->autoflush(1);
	print $session "SET deadlock_timeout = '10min';\n"
	    . "SET lock_timeout = '60s';\n"
	    . "BEGIN;\n"
	    . "INSERT INTO image_generations (id, user_id, chapter_id,"
	    . " scene_number, image_type, status, progress, retry_count,"
	    . " prompt, style, aspect_ratio, tier, idempotency_key)"
	    . " VALUES ('" . new_uuid() . "', '$user', '$chapter', 1, 'scene',"
	    . " 'pending', 0, 0, 'held', 'cinematic', '16:9', 'free',"
	    . " '$key');\n";
}
# pg_stat_activity as a superuser: the session is not the stack's user.
sub waiting {
	my ($where) = @_;
	return sql_on($admin, 'SELECT count(*) FROM pg_stat_activity WHERE '
	    . $where, a => $app);
}
ok(wait_until(sub { waiting("application_name = :'a'"
    . " AND state = 'idle in transaction'") == 1 }, 15),
    'the session holds the key in a transaction');

# The POST, from a child: it waits on the session's row.
my ($fh, $out) = tempfile('deadlock-post.XXXXXX', TMPDIR => 1, UNLINK => 1);
close $fh;
$post_pid = fork // die "fork: $!";
if (!$post_pid) {
	my $r = api_post(token => $token, chapter => $chapter, scene => 1,
	    headers => { 'Idempotency-Key' => $key },
	    body => { scene_description => 'A bridge in the fog' });
	open my $w, '>', $out or POSIX::_exit(1);
	print $w json()->encode({ status => $r->{status},
	    retry_after => $r->{headers}{'retry-after'},
	    content => $r->{content} });
	close $w;
	POSIX::_exit(0);
}
ok(wait_until(sub { waiting("application_name = 'scenegen-api'"
    . " AND wait_event_type = 'Lock'") >= 1 }, 15),
    'the API waits on the session');

# Close the cycle: the session asks for what the API's statement holds.
print $session "LOCK TABLE chapters IN ACCESS EXCLUSIVE MODE;\n"
    . "ROLLBACK;\n";
close $session;
$session = $session_pid = undef;
waitpid $post_pid, 0;
$post_pid = undef;

open my $in, '<', $out or die "$out: $!";
my $r = json()->decode(do { local $/; <$in> } || '{}');
close $in;
$r->{json} = eval { json()->decode($r->{content} // '') } // {};
is($r->{status}, 503, 'POST that lost a deadlock: 503, not 500')
    or diag $r->{content};
is($r->{json}{code}, 'unavailable', 'the code is unavailable');
like($r->{retry_after} // '', qr/\A[1-9][0-9]*\z/, 'with Retry-After');
is(count_rows(chapter => $chapter), 0, 'no row was made');

ok(pg_system_set('deadlock_timeout', undef),
    'deadlock_timeout restored');
my $again = api_post(token => $token, chapter => $chapter, scene => 1,
    headers => { 'Idempotency-Key' => $key },
    body => { scene_description => 'A bridge in the fog' });
is($again->{status}, 202, 'the same POST again: 202');

done_testing();
