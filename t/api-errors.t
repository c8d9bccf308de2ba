#!/usr/bin/perl
# Every 4xx of SPEC.md's error list on POST (and status): the status, a JSON
# body {"detail", "code"}, the headers the status needs (WWW-Authenticate,
# Allow), the field named for invalid_field, and no row created. The edges
# that must be accepted (2000 characters, 64-character style, 16 KiB body,
# unknown fields, each aspect ratio) answer 202 with one row each.
use strict;
use warnings;
use Test::More;
use JSON::PP;
use Scenegen::Test qw(api_post api_status http_req raw_http new_chapter
    new_uuid scene_path is_api_error count_rows sql1 stack_env);

my ($user, $chapter, $token) = new_chapter();
my $rows = 0;    # rows this user should have: one per 202
my $utf8 = JSON::PP->new->utf8->canonical;

sub no_row {
	my ($name) = @_;
	is(count_rows(user => $user, chapter => $chapter), $rows,
	    "$name: no row created");
}

# An error answer from the API: status, JSON body, code, the field named.
sub api_error {
	my ($name, $r, $status, $code, $field) = @_;
	is_api_error($r, $status, $code, $name);
	if (defined $field) {
		my $j = ref $r->{json} eq 'HASH' ? $r->{json} : {};
		my $re = ref $field ? $field : qr/\Q$field\E/;
		ok(($j->{detail} // '') =~ $re || ($j->{field} // '') =~ $re,
		    "$name: the answer names $field")
		    or diag "detail: " . ($j->{detail} // 'undef');
	}
	no_row($name);
}

sub accepted {
	my ($name, $r) = @_;
	is($r->{status}, 202, "$name: 202") or diag "$r->{status} $r->{content}";
	$rows++ if $r->{status} == 202;
	is(count_rows(user => $user, chapter => $chapter), $rows,
	    "$name: one row more");
	return $r;
}

sub post_raw {
	my ($body, %o) = @_;
	return api_post(token => $token, chapter => $chapter, body => $body, %o);
}

sub post_obj {
	my ($obj, %o) = @_;
	return post_raw($utf8->encode($obj), %o);
}

# --- 400 invalid_json --------------------------------------------------------
my %invalid_json = (
	'not JSON' => 'scene_description=A wizard',
	'trailing garbage' => '{"scene_description": "A wizard"} garbage',
	'two objects' => '{"scene_description": "A"}{"scene_description": "B"}',
	'truncated object' => '{"scene_description": "A wizard"',
	'an array' => '[{"scene_description": "A wizard"}]',
	'a string' => '"A wizard"',
	'null' => 'null',
	'a number' => '42',
	'empty body' => '',
	'only spaces' => "   \n",
	'single quotes' => "{'scene_description': 'A wizard'}",
	'a comment' => '{"scene_description": "A" /* c */}',
	'trailing comma' => '{"scene_description": "A wizard",}',
);
for my $name (sort keys %invalid_json) {
	api_error("invalid_json, $name", post_raw($invalid_json{$name}), 400,
	    'invalid_json');
}

# --- 400 invalid_field -------------------------------------------------------
my @bad_fields = (
	['no scene_description', {}, 'scene_description'],
	['only style', { style => 'anime' }, 'scene_description'],
	['empty scene_description', { scene_description => '' }, 'scene_description'],
	['whitespace-only scene_description',
	    { scene_description => " \t\n\r  " }, 'scene_description'],
	['2001-character scene_description',
	    { scene_description => 'a' x 2001 }, 'scene_description'],
	['2001 multi-byte characters',
	    { scene_description => "\x{9b54}" x 2001 }, 'scene_description'],
	['scene_description a number', { scene_description => 123 }, 'scene_description'],
	['scene_description null', { scene_description => undef }, 'scene_description'],
	['scene_description true', { scene_description => JSON::PP::true },
	    'scene_description'],
	['scene_description an array', { scene_description => ['A wizard'] },
	    'scene_description'],
	['scene_description an object', { scene_description => { text => 'A' } },
	    'scene_description'],
	['style a number', { scene_description => 'A', style => 5 }, 'style'],
	['style an array', { scene_description => 'A', style => ['anime'] }, 'style'],
	['style empty', { scene_description => 'A', style => '' }, 'style'],
	['style 65 characters', { scene_description => 'A', style => 's' x 65 }, 'style'],
	['aspect_ratio unknown 16:10', { scene_description => 'A',
	    aspect_ratio => '16:10' }, 'aspect_ratio'],
	['aspect_ratio 16/9', { scene_description => 'A', aspect_ratio => '16/9' },
	    'aspect_ratio'],
	['aspect_ratio empty', { scene_description => 'A', aspect_ratio => '' },
	    'aspect_ratio'],
	['aspect_ratio a number', { scene_description => 'A', aspect_ratio => 169 },
	    'aspect_ratio'],
	['script_id "script-uuid"', { scene_description => 'A',
	    script_id => 'script-uuid' }, 'script_id'],
	['script_id empty', { scene_description => 'A', script_id => '' }, 'script_id'],
	['script_id short', { scene_description => 'A',
	    script_id => '12345678-1234-1234-1234-12345678901' }, 'script_id'],
	['script_id not hex', { scene_description => 'A',
	    script_id => 'zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz' }, 'script_id'],
	['script_id a number', { scene_description => 'A', script_id => 123 },
	    'script_id'],
	['script_id an object', { scene_description => 'A',
	    script_id => { id => new_uuid() } }, 'script_id'],
);
for my $c (@bad_fields) {
	my ($name, $obj, $field) = @$c;
	api_error("invalid_field, $name", post_obj($obj), 400, 'invalid_field', $field);
}

# Text that is not valid Unicode: 400 (invalid_json or invalid_field).
for my $c (['raw invalid UTF-8 bytes', qq({"scene_description": "A \xff\xfe wizard"})],
    ['a lone surrogate escape', '{"scene_description": "A \ud800 wizard"}']) {
	my $r = post_raw($c->[1]);
	is_api_error($r, 400, undef, "invalid text, $c->[0]");
	like(($r->{json} // {})->{code} // '', qr/\A(?:invalid_json|invalid_field)\z/,
	    "invalid text, $c->[0]: code invalid_json or invalid_field");
	no_row("invalid text, $c->[0]");
}

# Path parameters.
for my $bad ('not-a-uuid', '1234', 'zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz',
    '12345678-1234-1234-1234-1234567890123', "x'OR'1'='1") {
	my $r = api_post(token => $token, chapter => $bad,
	    body => { scene_description => 'A' });
	api_error("chapter_id '$bad'", $r, 400, 'invalid_field', 'chapter_id');
}
# A percent-escaped segment may be refused as "no such path" (the API routes
# the raw URI): any JSON 4xx, no row.
{
	my $r = api_post(token => $token, chapter => "x'%20OR%20'1'='1",
	    body => { scene_description => 'A' });
	ok($r->{status} == 400 || $r->{status} == 404,
	    "chapter_id with escapes: 400 or 404 (got $r->{status})");
	is_api_error($r, $r->{status}, undef, 'chapter_id with escapes');
	no_row('chapter_id with escapes');
}
for my $bad ('0', '10001', 'abc', '-1', '+1', '1.5', '1e3', '99999999999999999999') {
	my $r = api_post(token => $token, chapter => $chapter, scene => $bad,
	    body => { scene_description => 'A' });
	api_error("scene_number '$bad'", $r, 400, 'invalid_field', 'scene_number');
}
api_error("status with scene_number 'abc'",
    api_status(token => $token, chapter => $chapter, scene => 'abc'), 400,
    'invalid_field', 'scene_number');
api_error("status with chapter_id 'not-a-uuid'",
    api_status(token => $token, chapter => 'not-a-uuid', scene => 1), 400,
    'invalid_field', 'chapter_id');

# Idempotency-Key: 1..128 printable ASCII.
my $key_re = qr/idempotency[-_ ]key/i;
for my $c (['129 characters', 'k' x 129], ['empty', ''],
    ['with a tab', "ab\tcd"], ['non-ASCII', "cl\xc3\xa9-1"],
    ['with a DEL', "ab\x7fcd"]) {
	# written by hand: HTTP::Tiny refuses some of these header values
	my $body = '{"scene_description": "A"}';
	my $r = raw_http('POST ' . scene_path($chapter, 1) . " HTTP/1.0\r\n"
	    . "Host: 127.0.0.1\r\nAuthorization: Bearer $token\r\n"
	    . "Content-Type: application/json\r\nIdempotency-Key: $c->[1]\r\n"
	    . 'Content-Length: ' . length($body) . "\r\n\r\n$body");
	api_error("Idempotency-Key $c->[0]", $r, 400, 'invalid_field', $key_re);
}

# --- 401 -------------------------------------------------------------------
sub unauthorized {
	my ($name, $r) = @_;
	api_error($name, $r, 401, 'unauthorized');
	like($r->{headers}{'www-authenticate'} // '', qr/\ABearer\b/,
	    "$name: WWW-Authenticate: Bearer");
}
unauthorized('no Authorization', api_post(chapter => $chapter,
    body => { scene_description => 'A' }));
unauthorized('Basic scheme', api_post(chapter => $chapter,
    body => { scene_description => 'A' },
    headers => { Authorization => 'Basic dXNlcjpwYXNz' }));
unauthorized('the token without Bearer', api_post(chapter => $chapter,
    body => { scene_description => 'A' }, headers => { Authorization => $token }));
unauthorized('empty Bearer token', api_post(chapter => $chapter,
    body => { scene_description => 'A' }, headers => { Authorization => 'Bearer ' }));
unauthorized('status without a token', api_status(chapter => $chapter));

# --- 404 -------------------------------------------------------------------
api_error('unknown chapter', api_post(token => $token, chapter => new_uuid(),
    body => { scene_description => 'A' }), 404, 'not_found');
api_error('status of an unknown chapter', api_status(token => $token,
    chapter => new_uuid()), 404, 'not_found');

# --- 405 -------------------------------------------------------------------
my $post_path = scene_path($chapter, 1);
my %auth = (Authorization => "Bearer $token", 'Content-Type' => 'application/json');
for my $m (qw(PUT DELETE PATCH GET)) {
	my $r = http_req($m, $post_path, headers => \%auth,
	    body => $m =~ /^(PUT|PATCH)$/ ? '{"scene_description": "A"}' : undef);
	api_error("$m on the POST path", $r, 405);
	like($r->{headers}{allow} // '', qr/\bPOST\b/, "$m on the POST path: Allow: POST");
	unlike($r->{headers}{allow} // '', qr/\b$m\b/, "$m on the POST path: Allow without $m");
}
for my $m (qw(POST PUT DELETE)) {
	my $r = http_req($m, "$post_path/status", headers => \%auth,
	    body => $m eq 'DELETE' ? undef : '{"scene_description": "A"}');
	api_error("$m on the status path", $r, 405);
	like($r->{headers}{allow} // '', qr/\bGET\b/, "$m on the status path: Allow: GET");
	unlike($r->{headers}{allow} // '', qr/\b$m\b/,
	    "$m on the status path: Allow without $m");
}

# --- 413 (nginx) -----------------------------------------------------------
{
	my $r = post_raw('{"scene_description": "' . ('a' x (17 * 1024)) . '"}');
	is_api_error($r, 413, undef, '17 KiB body (nginx)');
	no_row('17 KiB body');
}

# --- 415 -------------------------------------------------------------------
api_error('Content-Type text/plain', post_raw('{"scene_description": "A"}',
    headers => { 'Content-Type' => 'text/plain' }), 415);
api_error('Content-Type application/x-www-form-urlencoded',
    post_raw('{"scene_description": "A"}',
    headers => { 'Content-Type' => 'application/x-www-form-urlencoded' }), 415);
{
	my $body = '{"scene_description": "A wizard"}';
	my $r = raw_http("POST $post_path HTTP/1.0\r\nHost: 127.0.0.1\r\n"
	    . "Authorization: Bearer $token\r\nContent-Length: " . length($body)
	    . "\r\n\r\n$body");
	api_error('no Content-Type', $r, 415);
}

# --- paths outside the API under /api/ ---------------------------------------
for my $c (['GET', '/api/'], ['GET', '/api/v1/chapters'],
    ['GET', "/api/v1/chapters/$chapter/images"],
    ['GET', "/api/v1/chapters/$chapter/images/scenes/"],
    ['POST', "/api/v1/chapters/$chapter/images/scenes/1/extra"],
    ['GET', "/api/v1/chapters/$chapter/images/scenes/1/status/"],
    ['POST', "/api/v2/chapters/$chapter/images/scenes/1"]) {
	my $r = http_req($c->[0], $c->[1], headers => \%auth,
	    body => $c->[0] eq 'POST' ? '{"scene_description": "A"}' : undef);
	is_api_error($r, 404, 'not_found', "$c->[0] $c->[1]");
	no_row("$c->[0] $c->[1]");
}

# --- what must be accepted ---------------------------------------------------
accepted('unknown fields ignored', post_obj({ scene_description => 'A wizard',
    colour => 'blue', nested => { a => [1, 2, { b => undef }] }, n => 1.5 }));
my $r = accepted('2000 multi-byte characters (6000 bytes)',
    post_obj({ scene_description => "\x{9b54}" x 2000 }));
is(sql1("SELECT char_length(prompt) FROM image_generations WHERE id = :'id'",
    id => ($r->{json} // {})->{record_id} // new_uuid()), 2000,
    'the 2000-character description stored whole');
accepted('2000 ASCII characters', post_obj({ scene_description => 'b' x 2000 }));
accepted('2000 characters with spaces around (trimmed)',
    post_obj({ scene_description => "  \n" . ('c' x 2000) . "\t " }));
accepted('style of 64 characters', post_obj({ scene_description => 'A',
    style => 's' x 64 }));
accepted('style of 64 multi-byte characters', post_obj({ scene_description => 'A',
    style => "\x{e9}" x 64 }));
accepted('script_id null', post_obj({ scene_description => 'A', script_id => undef }));
accepted('scene_number 1', api_post(token => $token, chapter => $chapter,
    scene => 1, body => { scene_description => 'A' }));
accepted('scene_number 10000', api_post(token => $token, chapter => $chapter,
    scene => 10000, body => { scene_description => 'A' }));
accepted('Content-Type application/json; charset=utf-8',
    post_raw('{"scene_description": "A"}',
    headers => { 'Content-Type' => 'application/json; charset=utf-8' }));
accepted('Idempotency-Key of 128 printable characters',
    post_obj({ scene_description => 'A' },
    headers => { 'Idempotency-Key' => join('', map { chr(33 + $_ % 94) } 0 .. 127) }));
for my $ar (qw(1:1 16:9 9:16 4:3 3:4 3:2 2:3 21:9)) {
	my $r = accepted("aspect_ratio $ar", post_obj({ scene_description => 'A',
	    aspect_ratio => $ar }));
	is(sql1("SELECT aspect_ratio FROM image_generations WHERE id = :'id'",
	    id => ($r->{json} // {})->{record_id} // new_uuid()), $ar,
	    "aspect_ratio $ar stored");
}
{
	# A body of exactly 16 KiB is not over the limit.
	my $head = '{"scene_description": "A wizard", "padding": "';
	my $tail = '"}';
	my $body = $head . ('p' x (16384 - length($head) - length($tail))) . $tail;
	is(length $body, 16384, 'the body is 16384 bytes');
	accepted('a 16 KiB body', post_raw($body));
}

# A NUL character is valid JSON and valid UTF-8 but cannot be stored in a
# PostgreSQL text: a 4xx or a 202, never a server error.
{
	my $r = post_raw('{"scene_description": "A \u0000 wizard"}');
	ok($r->{status} == 202 || ($r->{status} >= 400 && $r->{status} < 500),
	    "NUL in scene_description: 202 or 4xx (got $r->{status})")
	    or diag $r->{content};
	ok(ref $r->{json} eq 'HASH', 'NUL in scene_description: a JSON answer');
	$rows++ if $r->{status} == 202;
	no_row('NUL in scene_description (one row per 202)');
}

done_testing();
