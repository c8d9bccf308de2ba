#!/usr/bin/perl
# webhook_url and webhook_events at POST, on the stack's API (which does
# not allow private addresses), and GET /api/v1/webhooks/secret:
# - a URL whose host is or resolves to a non-public address is a 400
#   invalid_field naming webhook_url, and no row: loopback (IPv4, IPv6,
#   the name localhost), private, link-local (the cloud metadata address),
#   an IPv4-mapped IPv6 loopback; so is http, a relative URL, one with
#   user information, one longer than 2048 bytes, a non-string;
# - webhook_events: a list of distinct known events, else a 400 naming it;
# - a public https URL is kept in the row with its events (the default:
#   completed, failed, canceled);
# - the secret is whsec_ and 32 bytes of base64, the same on every call,
#   different for another user, 401 without a token, 400 with a query.
use strict;
use warnings;
use Test::More;
use MIME::Base64 qw(decode_base64);
use Scenegen::Test qw(http_req api_post new_chapter sql1 is_api_error);

my ($user, $chapter, $token) = new_chapter();
my $n = 0;

sub post {
	my (%body) = @_;
	return api_post(token => $token, chapter => $chapter, scene => ++$n,
	    body => { scene_description => 'a lighthouse at dusk', %body });
}

sub rows { sql1(q{SELECT count(*) FROM image_generations
    WHERE chapter_id = :'c'}, c => $chapter) }

for my $url ('https://127.0.0.1/', 'https://10.0.0.1/', 'https://[::1]/',
    'https://169.254.169.254/latest/meta-data/', 'https://localhost/',
    'https://192.168.0.10:8443/hook', 'https://[::ffff:127.0.0.1]/',
    'https://100.64.0.1/', 'https://[fe80::1]/', 'https://0.0.0.0/',
    'http://127.0.0.1/', 'http://93.184.216.34/', '/relative',
    'https://user:pw@93.184.216.34/', 'ftp://93.184.216.34/',
    'https://93.184.216.34/' . ('a' x 2048)) {
	my $before = rows();
	my $r = post(webhook_url => $url);
	is_api_error($r, 400, 'invalid_field', 'webhook_url ' . substr($url,
	    0, 60));
	like($r->{json}{detail} // q{}, qr{\bwebhook_url\b}, "$url: the detail names the field")
	    or diag $r->{content};
	is(rows(), $before, "$url: no row");
}
my $r = post(webhook_url => 42);
is_api_error($r, 400, 'invalid_field', 'a number as webhook_url');

for my $ev ('completed', [ 'done' ], [ 'completed', 'completed' ], [ 1 ],
    { a => 1 }) {
	my $r = post(webhook_url => 'https://93.184.216.34/hook',
	    webhook_events => $ev);
	is_api_error($r, 400, 'invalid_field', 'webhook_events '
	    . JSON::PP->new->canonical->allow_nonref->encode($ev));
	like($r->{json}{detail} // q{}, qr{\bwebhook_events\b}, q{the detail names the field});
}

# Accepted: kept in the row. The URL is then taken out of the row, so
# that this test's daemon sends nothing to the Internet.
$r = post(webhook_url => 'https://93.184.216.34/hook');
is($r->{status}, 202, 'a public https URL is accepted') or diag $r->{content};
my $id = $r->{json}{record_id};
is(sql1(q{SELECT webhook_url || ' ' || array_to_string(webhook_events, ',')
    FROM image_generations WHERE id = :'id'}, id => $id),
    'https://93.184.216.34/hook completed,failed,canceled',
    'the URL and the default events are stored');
$r = post(webhook_url => 'https://93.184.216.34/hook',
    webhook_events => [ 'in_progress', 'completed' ]);
is($r->{status}, 202, 'with events') or diag $r->{content};
my $id2 = $r->{json}{record_id};
is(sql1(q{SELECT array_to_string(webhook_events, ',') FROM image_generations
    WHERE id = :'id'}, id => $id2), 'in_progress,completed',
    'the events are stored');
sql1(q{UPDATE image_generations SET webhook_url = NULL
    WHERE id IN (:'a', :'b')}, a => $id, b => $id2);
sql1(q{DELETE FROM webhook_deliveries WHERE record_id IN (:'a', :'b')},
    a => $id, b => $id2);
$r = post();
is($r->{status}, 202, 'no webhook at all still works');
is(sql1(q{SELECT coalesce(webhook_url, 'none') FROM image_generations
    WHERE id = :'id'}, id => $r->{json}{record_id}), 'none', 'no URL');

# The secret.
my %auth = (Authorization => "Bearer $token");
$r = http_req('GET', '/api/v1/webhooks/secret', headers => \%auth);
is($r->{status}, 200, 'GET /api/v1/webhooks/secret') or diag $r->{content};
my $secret = $r->{json}{secret} // '';
like($secret, qr{\Awhsec_[A-Za-z0-9+/]{43}=\z}, 'whsec_ and base64');
is(length decode_base64(substr($secret, 6)), 32, '32 bytes');
is(http_req('GET', '/api/v1/webhooks/secret', headers => \%auth)
    ->{json}{secret}, $secret, 'the same secret again');
my (undef, undef, $other) = new_chapter();
isnt(http_req('GET', '/api/v1/webhooks/secret',
    headers => { Authorization => "Bearer $other" })->{json}{secret},
    $secret, 'another user has another secret');
is_api_error(http_req('GET', '/api/v1/webhooks/secret'), 401, undef,
    'no token');
is_api_error(http_req('GET', '/api/v1/webhooks/secret?x=1',
    headers => \%auth), 400, 'invalid_field', 'a query parameter');
is(http_req('POST', '/api/v1/webhooks/secret', headers => \%auth)
    ->{status}, 405, 'POST is not allowed');

done_testing();
