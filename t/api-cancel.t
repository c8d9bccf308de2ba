#!/usr/bin/perl
# POST /api/v1/records/{id}/cancel on the real stack with a daemon of
# this test:
# - a pending record: canceled at once; when the daemon meets its entry
#   the provider is never called, and its provider slot is given back;
# - a record whose provider request is open: canceled at once; the
#   daemon stops polling (the stand-in is asked no more), no image file,
#   no image fields;
# - a record whose image the daemon has just stored when the cancel
#   lands: the completion changes nothing and the file is removed;
# - canceled again: 200; completed or failed: 409 already_final naming
#   the status; another user's record or an unknown one: 404; no token:
#   401; a query parameter: 400;
# - the daemon keeps running and the other jobs complete.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep);
use Scenegen::Test qw(stack_env http_req api_post new_chapter new_uuid sql
    sql1 redis daemon_test_setup daemon_start daemon_stop daemon_alive
    daemon_wait_ready daemon_log daemon_wait_log standin_creates wait_until
    is_api_error daemons_sanitizer_clean);

my ($user, $chapter, $token) = daemon_test_setup();
my $images = stack_env()->{SCENEGEN_IMAGE_DIR};
my %auth = (Authorization => "Bearer $token");

sub cancel {
	my ($id, %o) = @_;
	return http_req('POST', "/api/v1/records/$id/cancel"
	    . ($o{query} // ''), headers => { %{ $o{headers} // \%auth } });
}

sub row {
	my ($id) = @_;
	my ($status, $url, $err, $pid) = split /\t/, sql1(q{SELECT status,
	    COALESCE(image_url, ''), COALESCE(error_message, ''),
	    COALESCE(provider_request_id, '') FROM image_generations
	    WHERE id = :'id'}, id => $id), -1;
	return { status => $status, image_url => $url, error => $err,
	    provider_id => $pid };
}

sub post {
	my ($scene, $desc) = @_;
	my $r = api_post(token => $token, chapter => $chapter, scene => $scene,
	    body => { scene_description => $desc });
	is($r->{status}, 202, "scene $scene posted") or diag $r->{content};
	return ($r->{json} // {})->{record_id} // new_uuid();
}

# --- pending: canceled before any daemon saw it -----------------------------
my $pending = post(1, 'pending then canceled [standin:eta=0.3]');
my $c = cancel($pending);
is($c->{status}, 200, 'cancel a pending record: 200') or diag $c->{content};
is($c->{json}{status}, 'canceled', '... its status document says canceled');
is($c->{json}{record_id}, $pending, '... of that record');
is($c->{json}{chapter_id}, $chapter, '... with its chapter');
ok(exists $c->{json}{estimated_time_seconds}
    && !defined $c->{json}{estimated_time_seconds},
    '... and no estimate (final)');
is(row($pending)->{status}, 'canceled', 'the row is canceled');
is(cancel($pending)->{status}, 200, 'canceled again: 200');
is(cancel($pending)->{json}{status}, 'canceled', '... still canceled');

my $d = daemon_start(name => 'cancel', SCENEGEN_LEASE_SECONDS => 6,
    MODELSLAB_MAX_QUEUED => 4);
ok(daemon_wait_ready($d), 'daemon ready') or diag daemon_log($d);
ok(daemon_wait_log($d, qr/job \Q$pending\E: canceled by its owner; nothing stored/,
    15), 'the daemon drops the canceled entry') or diag daemon_log($d);
is(standin_creates($pending)->{creates}, 0, 'the provider was never called');
is(redis('ZSCORE', '{scenegen}:slots', $pending), '',
    'its provider slot was given back');
is(row($pending)->{status}, 'canceled', 'the row stays canceled');

# --- the provider request is open -------------------------------------------
my $open = post(2, 'a long one [standin:eta=30]');
ok(wait_until(sub { row($open)->{provider_id} ne '' }, 15),
    'the provider has the request') or diag daemon_log($d);
ok(wait_until(sub { standin_creates($open)->{fetches} >= 1 }, 10),
    'the daemon polls it');
$c = cancel($open);
is($c->{status}, 200, 'cancel with the provider request open: 200')
    or diag $c->{content};
is($c->{json}{status}, 'canceled', '... canceled at once');
ok(daemon_wait_log($d, qr/job \Q$open\E: canceled by its owner/, 10),
    'the daemon stops the job') or diag daemon_log($d);
my $fetches = standin_creates($open)->{fetches};
sleep 4;    # two heartbeats, and past the longest poll wait (2 s)
is(standin_creates($open)->{fetches}, $fetches, 'the stand-in is asked no more');
is(standin_creates($open)->{creates}, 1, 'one create, none since');
my $r = row($open);
is($r->{status}, 'canceled', 'the row stays canceled');
is($r->{image_url}, '', 'no image_url');
ok(!-e "$images/$open.png", 'no image file');

# --- the image was stored just as the cancel came ---------------------------
# A statement trigger of this test holds the daemon's completion UPDATE
# for 3 s before it reads a row (no lock taken yet): the image is on disk
# by then, the cancel commits meanwhile, and the completion then finds
# the row canceled and changes nothing.
sql(<<'SQL');
CREATE FUNCTION t_cancel_hold_complete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF current_query() LIKE '%status = ''completed'', progress = 100%' THEN
		PERFORM pg_sleep(3);
	END IF;
	RETURN NULL;
END;
$$;
CREATE TRIGGER t_cancel_hold_complete BEFORE UPDATE ON image_generations
	FOR EACH STATEMENT EXECUTE FUNCTION t_cancel_hold_complete();
SQL
END {
	local $?;
	eval { sql('SET client_min_messages = warning; DROP TRIGGER IF '
	    . 'EXISTS t_cancel_hold_complete ON image_generations; DROP '
	    . 'FUNCTION IF EXISTS t_cancel_hold_complete()') };
}
my $stored = post(3, 'done at once [standin:eta=0.2]');
ok(wait_until(sub { -e "$images/$stored.png" }, 15),
    'the image is stored') or diag daemon_log($d);
$c = cancel($stored);
is($c->{status}, 200, 'cancel while the completion waits: 200')
    or diag $c->{content};
is($c->{json}{image_url}, undef, '... no image_url in the answer');
ok(daemon_wait_log($d,
    qr/job \Q$stored\E: canceled by its owner; its stored image removed/, 10),
    'the completion found the row canceled and removed the image')
    or diag daemon_log($d);
ok(!-e "$images/$stored.png", 'no image file');
$r = row($stored);
is($r->{status}, 'canceled', 'the row stays canceled');
is($r->{image_url}, '', 'no image_url in the row');
sql('DROP TRIGGER t_cancel_hold_complete ON image_generations; '
    . 'DROP FUNCTION t_cancel_hold_complete()');

# --- final records, other users, bad requests -------------------------------
my $done = post(4, 'to completion [standin:eta=0.2]');
ok(wait_until(sub { row($done)->{status} eq 'completed' }, 20),
    'a record completes') or diag daemon_log($d);
$c = cancel($done);
is_api_error($c, 409, 'already_final', 'cancel a completed record');
is(($c->{json} // {})->{detail},
    'The record is already completed; it cannot be canceled.',
    '409: the status in detail');
is(row($done)->{status}, 'completed', 'it stays completed');
ok(-e "$images/$done.png", 'with its image');

my $failed = new_uuid();
sql(q{INSERT INTO image_generations (id, user_id, chapter_id, scene_number,
    image_type, status, progress, error_message, prompt, metadata)
    VALUES (:'id', :'u', :'c', 5, 'scene', 'failed', 20, 'it broke', 'x',
    '{}')}, id => $failed, u => $user, c => $chapter);
$c = cancel($failed);
is_api_error($c, 409, 'already_final', 'cancel a failed record');
like(($c->{json} // {})->{detail} // '', qr/already failed/, '409: failed');
is(row($failed)->{error}, 'it broke', 'the failed row is untouched');

my (undef, undef, $other) = new_chapter();
is_api_error(cancel($open, headers => { Authorization => "Bearer $other" }),
    404, 'not_found', 'another user\'s record');
is_api_error(cancel(new_uuid()), 404, 'not_found', 'an unknown record');
is_api_error(cancel($done, headers => {}), 401, 'unauthorized',
    'no token');
is_api_error(cancel($done, query => '?force=1'), 400, 'invalid_field',
    'a query parameter');
is_api_error(http_req('POST', '/api/v1/records/nope/cancel', headers => \%auth),
    400, 'invalid_field', 'not a UUID');
$c = http_req('GET', "/api/v1/records/$done/cancel", headers => \%auth);
is_api_error($c, 405, 'method_not_allowed', 'GET on cancel');
is($c->{headers}{allow}, 'POST', '... Allow: POST');
my $g = http_req('GET', "/api/v1/records/$open", headers => \%auth);
is($g->{json}{status}, 'canceled', 'the record page shows canceled');
my $l = http_req('GET', "/api/v1/chapters/$chapter/images/scenes?status=canceled",
    headers => \%auth);
is_deeply([ map { $_->{scene_number} } @{ $l->{json}{scenes} // [] } ],
    [ 1, 2, 3 ], 'the listing filters canceled scenes');

# --- the daemon goes on -------------------------------------------------------
my @more = map { post(10 + $_, "after the cancels $_ [standin:eta=0.3]") } 1 .. 3;
ok(wait_until(sub { !grep { row($_)->{status} ne 'completed' } @more }, 30),
    'later records complete') or diag daemon_log($d);
ok(daemon_alive($d), 'the daemon is still running');
is(daemon_stop($d), 0, 'the daemon exits 0 on SIGTERM');
daemons_sanitizer_clean();
done_testing();
