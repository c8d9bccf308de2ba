#!/usr/bin/perl
# GET /api/v1/records/{id}/events through nginx and nchan, on the real
# stack (no daemon of this test: the records stay as written):
# - events_url in the status, record, listing and cancel documents;
# - by events_url alone (no token): 200 text/event-stream, the first
#   event at once, the current document, for a pending, an in-progress
#   and a final record (the final one answered and ended by the API);
# - a final record again with Last-Event-ID its event's id: 204 (which
#   stops an EventSource from reconnecting);
# - by Bearer: the same; another user's record: 404; unknown: 404;
# - a tampered, expired or other record's signature: 401; no Accept:
#   406; no token and no signature: 401.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64url);
use Scenegen::Test qw(stack_env http_req api_post new_chapter new_uuid sql
    sql1 make_token is_api_error daemon_takeover sse_open sse_event);

plan skip_all => 'no live status in this stack'
    unless stack_env()->{SCENEGEN_EVENTS_SOCKET};
daemon_takeover();	# nothing may move the records under us
my ($user, $chapter, $token) = new_chapter();
my %auth = (Authorization => "Bearer $token");

sub post {
	my ($scene) = @_;
	my $r = api_post(token => $token, chapter => $chapter, scene => $scene,
	    body => { scene_description => "events $scene" });
	is($r->{status}, 202, "scene $scene posted") or diag $r->{content};
	return $r->{json}{record_id};
}

my $pending = post(1);
my $running = post(2);
my $done = post(3);
sql(q{UPDATE image_generations SET status = 'in_progress', progress = 40
    WHERE id = :'id'}, id => $running);
sql(q{UPDATE image_generations SET status = 'completed', progress = 100,
    image_url = 'http://x/i.png' WHERE id = :'id'}, id => $done);

# --- events_url in every document ------------------------------------------
my $rec = http_req('GET', "/api/v1/records/$pending", headers => \%auth);
is($rec->{status}, 200, 'record document') or diag $rec->{content};
my $url = $rec->{json}{events_url} // '';
like($url, qr{^/api/v1/records/\Q$pending\E/events\?expires=(\d+)&signature=[A-Za-z0-9_-]{43}$},
    'record document: events_url signed');
my ($exp) = $url =~ /expires=(\d+)/;
ok(defined $exp && $exp >= time + 3600 && $exp % 3600 == 0,
    'events_url valid at least one hour, a whole hour');
my $st = http_req('GET', "/api/v1/chapters/$chapter/images/scenes/1/status",
    headers => \%auth);
is($st->{json}{events_url}, $url, 'status document: the same events_url');
my $list = http_req('GET', "/api/v1/chapters/$chapter/images/scenes",
    headers => \%auth);
is(scalar(grep { ($_->{events_url} // '') =~ m{^/api/v1/records/\Q$_->{record_id}\E/events\?} }
    @{ $list->{json}{scenes} // [] }), 3, 'listing: every entry has its events_url');

# --- the first event at once, by signature alone ----------------------------
for my $case ([$pending, 'pending'], [$running, 'in_progress'],
    [$done, 'completed']) {
	my ($id, $status) = @$case;
	my $doc = http_req('GET', "/api/v1/records/$id", headers => \%auth)->{json};
	my $t0 = time;
	my $s = sse_open($doc->{events_url});
	is($s->{status}, 200, "$status: signed events_url, no token: 200");
	like($s->{headers}{'content-type'} // '', qr{^text/event-stream},
	    "$status: text/event-stream");
	my $e = sse_event($s, 3);
	ok($e, "$status: a first event") or next;
	ok(time - $t0 < 1, sprintf("$status: within 1 s (%.3f s)", time - $t0));
	is($e->{event}, 'status', "$status: event: status");
	ok(defined $e->{id} && length $e->{id}, "$status: with an id");
	is($e->{json}{record_id}, $id, "$status: the record's document");
	is($e->{json}{status}, $status, "$status: its current status");
	is_deeply($e->{json}, $doc, "$status: the same document as the API's");
	if ($status eq 'completed') {
		is(sse_event($s, 2), undef, 'final: the stream ends');
		# An EventSource reconnects with the id it has: 204 stops it.
		my $again = sse_open($doc->{events_url},
		    'Last-Event-ID' => $e->{id});
		is($again->{status}, 204,
		    'final, Last-Event-ID its event\'s id: 204');
		$again = sse_open($doc->{events_url},
		    'Last-Event-ID' => '2000-01-01T00:00:00Z');
		is($again->{status}, 200, '... an older id: 200, the event again');
		close $again->{sock};
	}
	close $s->{sock};
}

# --- by Bearer ---------------------------------------------------------------
my $s = sse_open("/api/v1/records/$running/events", %auth);
is($s->{status}, 200, 'Bearer: 200');
my $e = sse_event($s, 3);
is($e && $e->{json}{progress}, 40, 'Bearer: the current progress first');
close $s->{sock};

my (undef, undef, $other) = new_chapter();
$s = sse_open("/api/v1/records/$running/events",
    Authorization => "Bearer $other");
is($s->{status}, 404, "Bearer of another user: 404");
is($s->{json}{code}, 'not_found', '... JSON not_found');
$s = sse_open('/api/v1/records/' . new_uuid() . '/events', %auth);
is($s->{status}, 404, 'unknown record: 404');

# --- signatures that do not pass --------------------------------------------
my $pend_url = http_req('GET', "/api/v1/records/$pending",
    headers => \%auth)->{json}{events_url};
(my $tampered = $pend_url) =~ s/signature=(.)/'signature=' . ($1 eq 'A' ? 'B' : 'A')/e;
$s = sse_open($tampered);
is($s->{status}, 401, 'tampered signature: 401');
is($s->{json}{code}, 'unauthorized', '... JSON unauthorized');
(my $later = $pend_url) =~ s/expires=(\d+)/'expires=' . ($1 + 3600)/e;
is(sse_open($later)->{status}, 401, 'expires changed: 401');
(my $elsewhere = $pend_url) =~ s/\Q$pending\E/$running/;
is(sse_open($elsewhere)->{status}, 401, "another record's signature: 401");
# An expired one, signed with the real key (as lib/events_url.c does).
my $secret = stack_env()->{SUPABASE_JWT_SECRET};
my $key = hmac_sha256('scenegen events_url v1', $secret);
my $past = int(time) - 10;
my $sig = encode_base64url(hmac_sha256("$pending.$past", $key));
$s = sse_open("/api/v1/records/$pending/events?expires=$past&signature=$sig");
is($s->{status}, 401, 'expired signature: 401');
my $future = int(time) + 600;
$sig = encode_base64url(hmac_sha256("$pending.$future", $key));
$s = sse_open("/api/v1/records/$pending/events?expires=$future&signature=$sig");
is($s->{status}, 200, 'the same key, not expired: 200 (the scheme as documented)');
close $s->{sock} if $s->{sock};
is(sse_open("/api/v1/records/$pending/events")->{status}, 401,
    'no token and no signature: 401');

# --- Accept ------------------------------------------------------------------
$s = sse_open($pend_url, Accept => 'application/json');
is($s->{status}, 406, 'Accept without text/event-stream: 406');
is($s->{json}{code}, 'not_acceptable', '... JSON not_acceptable');
is(sse_open($pend_url, Accept => '')->{status}, 406, 'no Accept: 406');

done_testing;
