#!/usr/bin/perl
# Smoke test of scenegen-api through nginx: the documented flow (POST,
# status, 304, healthz), each kind of error once, and Idempotency-Key.
use strict;
use warnings;
use Test::More;
use Scenegen::Test qw(stack_env http_req api_post api_status make_token
    new_uuid new_chapter sql json);

my ($user, $chapter, $token) = new_chapter();
my $desc = 'A young wizard discovering magic';

sub trim { my ($s) = @_; $s =~ s/\s+\z//; return $s }

sub is_error {
	my ($r, $status, $code, $name) = @_;
	is($r->{status}, $status, "$name: status $status");
	is(ref $r->{json} eq 'HASH' && $r->{json}{code}, $code,
	    "$name: code $code");
	ok(ref $r->{json} eq 'HASH' && length($r->{json}{detail} // ''),
	    "$name: has a detail");
	like($r->{headers}{'content-type'} // '', qr{^application/json},
	    "$name: JSON");
}

# healthz
my $r = http_req('GET', '/healthz');
is($r->{status}, 200, 'healthz 200');
is_deeply($r->{json}, { status => 'ok', database => 'ok', redis => 'ok' },
    'healthz body');

# the documented flow
$r = api_post(token => $token, chapter => $chapter, scene => 3,
    body => { scene_description => "  $desc  ", style => 'watercolor',
    aspect_ratio => '1:1' });
is($r->{status}, 202, 'POST 202');
my $b = $r->{json};
is_deeply([ sort keys %$b ], [ sort qw(task_id status message
    estimated_time_seconds record_id scene_number retry_count) ],
    'POST body has exactly the fields of SPEC.md');
is($b->{status}, 'queued', 'status queued');
is($b->{message}, 'Scene image generation has been queued and will be '
    . 'processed in the background', 'message');
is($b->{task_id}, $b->{record_id}, 'task_id is the record id');
is($b->{scene_number}, 3, 'scene_number');
is($b->{retry_count}, 0, 'retry_count');
like($b->{estimated_time_seconds}, qr/^[1-9][0-9]*$/, 'estimate integer');
is($r->{headers}{location},
    "/api/v1/chapters/$chapter/images/scenes/3/status", 'Location');
is($r->{headers}{'cache-control'}, 'no-store', 'no-store');
my $row = trim(sql("SELECT user_id, chapter_id, scene_number, prompt, style, "
    . "aspect_ratio, tier, image_type, metadata->>'service', "
    . "metadata->>'task_id', (metadata->>'scene_number')::int "
    . "FROM image_generations WHERE id = :'id'", id => $b->{record_id}));
is($row, join("\t", $user, $chapter, 3, $desc, 'watercolor', '1:1',
    'free', 'scene', 'modelslab_v7', $b->{record_id}, 3),
    'row holds the request (description trimmed)');

# status, ETag, 304
$r = api_status(token => $token, chapter => $chapter, scene => 3);
is($r->{status}, 200, 'status 200');
is_deeply([ sort keys %{ $r->{json} } ], [ sort qw(record_id chapter_id
    status image_url scene_number retry_count progress generation_time_seconds
    error_message created_at updated_at estimated_time_seconds events_url) ], 'status fields of SPEC.md');
is($r->{json}{chapter_id}, $chapter, 'status: chapter_id');
is($r->{json}{record_id}, $b->{record_id}, 'status of our record');
like($r->{json}{created_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
    'created_at RFC 3339 UTC');
my $etag = $r->{headers}{etag};
like($etag // '', qr/^"[0-9a-f]{32}"$/, 'strong ETag');
$r = api_status(token => $token, chapter => $chapter, scene => 3,
    headers => { 'If-None-Match' => $etag });
ok($r->{status} == 304 || $r->{status} == 200,
    '304 (or 200 if the daemon moved it on)');
is($r->{content} // '', '', '304 has no body') if $r->{status} == 304;
$r = http_req('HEAD', "/api/v1/chapters/$chapter/images/scenes/3/status",
    headers => { Authorization => "Bearer $token" });
is($r->{status}, 200, 'HEAD status 200');
is_error(api_status(token => $token, chapter => $chapter, scene => 4),
    404, 'not_found', 'status of a scene never requested');

# Idempotency-Key
my %idem = (token => $token, chapter => $chapter, scene => 5,
    body => { scene_description => $desc },
    headers => { 'Idempotency-Key' => 'smoke-' . new_uuid() });
my $first = api_post(%idem);
my $again = api_post(%idem);
is($first->{status}, 202, 'first with key 202');
is($again->{status}, 202, 'second with key 202');
is($again->{json}{record_id}, $first->{json}{record_id}, 'same record');
is(trim(sql("SELECT count(*) FROM image_generations WHERE chapter_id = "
    . ":'c' AND scene_number = 5", c => $chapter)), 1, 'one row only');
is_error(api_post(%idem, headers => { 'Idempotency-Key' => 'x' x 129 }),
    400, 'invalid_field', 'Idempotency-Key too long');

# authentication
$r = api_post(chapter => $chapter, body => { scene_description => $desc });
is_error($r, 401, 'unauthorized', 'no token');
is($r->{headers}{'www-authenticate'}, 'Bearer realm="scenegen"',
    'WWW-Authenticate without error when no token');
my %bad = (
	'bad signature' => make_token(sub => $user, secret => 'wrong'),
	'alg none' => make_token(sub => $user,
	    header => { alg => 'none', typ => 'JWT' }),
	'alg HS512' => make_token(sub => $user,
	    header => { alg => 'HS512', typ => 'JWT' }),
	'expired' => make_token(sub => $user,
	    claims => { exp => time - 120 }),
	'not yet valid' => make_token(sub => $user,
	    claims => { nbf => time + 600 }),
	'no exp' => make_token(sub => $user, claims => { exp => undef }),
	'wrong audience' => make_token(sub => $user,
	    claims => { aud => 'other' }),
	'anon role' => make_token(sub => $user, claims => { role => 'anon' }),
	'service_role' => make_token(sub => $user,
	    claims => { role => 'service_role' }),
	'sub not a UUID' => make_token(sub => 'user-1'),
	'garbage' => 'not-a-jwt',
	'padding' => make_token(sub => $user) . '=',
);
for my $name (sort keys %bad) {
	$r = api_post(token => $bad{$name}, chapter => $chapter,
	    body => { scene_description => $desc });
	is_error($r, 401, 'unauthorized', $name);
	like($r->{headers}{'www-authenticate'} // '',
	    qr/error="invalid_token"/, "$name: error=invalid_token");
}
$r = api_post(token => make_token(sub => $user,
    claims => { aud => [ 'x', 'authenticated' ] }), chapter => $chapter,
    body => { scene_description => $desc });
is($r->{status}, 202, 'aud array containing the audience passes');

# the front line
is_error(http_req('GET', '/api/v1/nothing/here'), 404, 'not_found',
    'unknown path');
$r = http_req('PUT', "/api/v1/chapters/$chapter/images/scenes/1",
    headers => { Authorization => "Bearer $token" });
is_error($r, 405, 'method_not_allowed', 'PUT');
is($r->{headers}{allow}, 'POST', 'Allow: POST');
is_error(api_post(token => $token, chapter => 'not-a-uuid',
    body => { scene_description => $desc }), 400, 'invalid_field',
    'chapter_id not a UUID');
for my $n (qw(0 10001 -1 1.5 abc 000001)) {
	is_error(api_post(token => $token, chapter => $chapter, scene => $n,
	    body => { scene_description => $desc }), 400, 'invalid_field',
	    "scene_number $n");
}
is_error(api_post(token => $token, chapter => new_uuid(),
    body => { scene_description => $desc }), 404, 'not_found',
    'chapter that does not exist');
my (undef, $other) = new_chapter();
is_error(api_post(token => $token, chapter => $other,
    body => { scene_description => $desc }), 404, 'not_found',
    "someone else's chapter");
is_error(api_status(token => $token, chapter => $other, scene => 1), 404,
    'not_found', "status of someone else's chapter");

# the body
is_error(api_post(token => $token, chapter => $chapter, body => $desc,
    headers => { 'Content-Type' => 'text/plain' }), 415,
    'unsupported_media_type', 'text/plain');
is_error(api_post(token => $token, chapter => $chapter, body => '{"a":'),
    400, 'invalid_json', 'truncated JSON');
is_error(api_post(token => $token, chapter => $chapter, body => '[]'),
    400, 'invalid_json', 'not an object');
is_error(api_post(token => $token, chapter => $chapter,
    body => "{\"scene_description\":\"\xff\"}"), 400, 'invalid_json',
    'invalid UTF-8');
my %fields = (
	'scene_description missing' => {},
	'scene_description blank' => { scene_description => " \t\n" },
	'scene_description too long' => { scene_description => 'x' x 2001 },
	'scene_description number' => { scene_description => 7 },
	'style empty' => { scene_description => $desc, style => '' },
	'style too long' => { scene_description => $desc, style => 's' x 65 },
	'aspect_ratio unknown' => { scene_description => $desc,
	    aspect_ratio => '5:4' },
	'script_id not a UUID' => { scene_description => $desc,
	    script_id => 'abc' },
);
for my $name (sort keys %fields) {
	(my $field = $name) =~ s/ .*//;
	$r = api_post(token => $token, chapter => $chapter,
	    body => $fields{$name});
	is_error($r, 400, 'invalid_field', $name);
	like($r->{json}{detail} // '', qr/\Q$field\E/, "$name: names $field");
}
# Characters, not bytes: U+00E9 is two bytes in UTF-8.
$r = api_post(token => $token, chapter => $chapter, scene => 6,
    body => '{"scene_description":"' . ("\xc3\xa9" x 2000)
    . '","unknown":[1]}');
is($r->{status}, 202, '2000 characters (4000 bytes), unknown field ignored');
is_error(api_post(token => $token, chapter => $chapter, scene => 6,
    body => '{"scene_description":"' . ("\xc3\xa9" x 2001) . '"}'), 400,
    'invalid_field', '2001 characters');

done_testing();
