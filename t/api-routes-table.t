#!/usr/bin/perl
# The route table as seen over HTTP: for every page, each method it does
# not allow answers 405 with exactly its Allow set (before any token is
# looked at), each method it allows reaches the access rule of its row
# (401 without a token, except /healthz, which needs none), unknown
# paths answer a JSON 404 whatever the method, and the sentences that
# quote a limit quote the one enforced. The dashboard's rows (/admin/)
# answer 405 the same way, and without a session 303 or 401.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use Scenegen::Test qw(http_req raw_http new_chapter new_uuid scene_path
    stack_env is_api_error);

my ($user, $chapter, $token) = new_chapter();
my $scene = scene_path($chapter, 1);
my $record = '/api/v1/records/' . new_uuid();

# The table this test expects: path, Allow, whether a token is needed.
my @routes = (
	[ 'scene_create', $scene, 'POST', 1 ],
	[ 'scene_status', "$scene/status", 'GET, HEAD', 1 ],
	[ 'healthz', '/healthz', 'GET, HEAD', 0 ],
	[ 'record_status', $record, 'GET, HEAD', 1 ],
	[ 'scene_list', "/api/v1/chapters/$chapter/images/scenes", 'GET, HEAD',
	  1 ],
	[ 'record_cancel', "$record/cancel", 'POST', 1 ],
	[ 'webhook_secret', '/api/v1/webhooks/secret', 'GET, HEAD', 1 ],
);
my @methods = qw(GET HEAD POST PUT PATCH DELETE OPTIONS);
my $json_body = '{"scene_description": "A"}';

# One header of an answer as a string (HTTP::Tiny gives a list when repeated).
sub header {
	my ($r, $name) = @_;
	my $v = $r->{headers}{$name};
	return ref $v ? join(' | ', @$v) : $v // '';
}

for my $route (@routes) {
	my ($page, $path, $allow, $needs_token) = @$route;
	my %allowed = map { $_ => 1 } split /, /, $allow;
	for my $m (@methods) {
		my %h = ('Content-Type' => 'application/json');
		my $body = $m =~ /^(POST|PUT|PATCH)$/ ? $json_body : undef;
		my $r = http_req($m, $path, headers => \%h, body => $body);
		my $name = "$page: $m $path without a token";
		if ($allowed{$m}) {
			if ($needs_token) {
				is($r->{status}, 401, "$name: 401");
				like(header($r, 'www-authenticate'), qr/\ABearer\b/,
				    "$name: WWW-Authenticate: Bearer");
				is_api_error($r, 401, 'unauthorized', $name)
				    if $m ne 'HEAD';
			} else {
				is($r->{status}, 200, "$name: 200, no token needed")
				    or diag "$r->{status} $r->{content}";
				is(header($r, 'www-authenticate'), '',
				    "$name: no WWW-Authenticate");
			}
			next;
		}
		is($r->{status}, 405, "$name: 405") or diag "$r->{status} $r->{content}";
		is(header($r, 'allow'), $allow, "$name: Allow: $allow");
		if ($m eq 'HEAD') {
			is($r->{content} // '', '', "$name: no body");
		} else {
			is_api_error($r, 405, 'method_not_allowed', $name);
			is(($r->{json} // {})->{detail},
			    'This method is not allowed on this resource.',
			    "$name: the 405 sentence");
		}
		# With a valid token the answer is the same 405.
		$r = http_req($m, $path, body => $body,
		    headers => { %h, Authorization => "Bearer $token" });
		is($r->{status}, 405, "$page: $m $path with a token: 405");
		is(header($r, 'allow'), $allow,
		    "$page: $m $path with a token: Allow: $allow");
	}
}

# /healthz looks at no token at all: a broken one changes nothing.
{
	my $r = http_req('GET', '/healthz',
	    headers => { Authorization => 'Bearer not.a.token' });
	is($r->{status}, 200, 'healthz with a broken token: 200');
	$r = http_req('HEAD', '/healthz');
	is($r->{status}, 200, 'HEAD /healthz: 200');
	is($r->{content} // '', '', 'HEAD /healthz: no body');
	$r = http_req('GET', '/healthz?verbose=1');
	is($r->{status}, 200, 'healthz with a query string: 200');
}

# The pages with a token are served with one (the table's handler runs).
{
	my %h = (Authorization => "Bearer $token");
	my $r = http_req('GET', "$scene/status", headers => \%h);
	is_api_error($r, 404, 'not_found', 'status of a scene never asked for');
	is(($r->{json} // {})->{detail},
	    'No image has been requested for this scene.',
	    'status of a scene never asked for: the handler\'s sentence');
	$r = http_req('HEAD', "$scene/status", headers => \%h);
	is($r->{status}, 404, 'HEAD status with a token: 404 from the handler');
	is($r->{content} // '', '', 'HEAD status with a token: no body');
}

# The dashboard's pages (admin_auth.c): a method a page does not take is
# a 405 with its Allow; one it takes, without a session, a 303 to the
# login form (GET) or a 401 (POST), even with a user's bearer token.
my @admin = (
	[ '/admin/login', 'GET, HEAD, POST', 200 ],
	[ '/admin/logout', 'POST', 401 ],
	[ '/admin/', 'GET, HEAD', 303 ],
	[ '/admin/records', 'GET, HEAD', 303 ],
	[ '/admin/records/' . new_uuid(), 'GET, HEAD', 303 ],
	[ '/admin/records/' . new_uuid() . '/act', 'POST', 401 ],
	[ '/admin/bulk', 'GET, POST', 303 ],
	[ '/admin/audit', 'GET, HEAD', 303 ],
);
my $no_redirect = HTTP::Tiny->new(timeout => 30, max_redirect => 0);
my $e = stack_env();
for my $page (@admin) {
	my ($path, $allow, $want) = @$page;
	my %allowed = map { $_ => 1 } split /, /, $allow;
	for my $m (@methods) {
		my $r = $no_redirect->request($m, $e->{BASE_URL} . $path,
		    { headers => { Authorization => "Bearer $token",
		    'Content-Type' => 'application/x-www-form-urlencoded' },
		    $m =~ /^(POST|PUT|PATCH)$/ ? (content => 'a=b') : () });
		if (!$allowed{$m}) {
			is($r->{status}, 405, "$m $path: 405");
			is(header($r, 'allow'), $allow, "$m $path: Allow: $allow");
			next;
		}
		my $w = $m eq 'POST' && $want != 200 ? 401 :
		    $m eq 'POST' ? 400 : $want;
		is($r->{status}, $w, "$m $path without a session: $w");
	}
}

# Unknown paths: a JSON 404 whatever the method, with or without a token.
my @unknown = ('/', '/nope', '/healthz/', '/HEALTHZ', '/healthz/x', '/api',
    '/api/v1', "/api/v1/chapters/$chapter", "/api/v1/chapters/$chapter/images",
    "/api/v1/chapters/$chapter/images/scenes/",
    "/api/v1/chapters/$chapter/images/SCENES",
    "$scene/status/x", "$scene/STATUS", "$scene/statu",
    '/api/v1/records', '/api/v1/records/', "$record/", "$record/x",
    "$record/cancel/", "$record/CANCEL",
    '/api/v1/webhooks', '/api/v1/webhooks/', '/api/v1/webhooks/secret/',
    '/api/v1/webhooks/SECRET', '/admin/nope', '/admin/records/',
    "/admin/records/$chapter/x", '/admin/login/');
for my $path (@unknown) {
	for my $m (qw(GET POST DELETE)) {
		my $r = http_req($m, $path, body => $m eq 'POST' ? $json_body : undef,
		    headers => { 'Content-Type' => 'application/json',
		    Authorization => "Bearer $token" });
		is_api_error($r, 404, 'not_found', "$m $path");
		is(($r->{json} // {})->{detail}, 'No such endpoint.',
		    "$m $path: the 404 sentence");
		is(header($r, 'allow'), '', "$m $path: no Allow");
	}
}

# The front line's order: a bad path parameter is judged only once the
# method is right (405 first), and before the token (400 before 401).
{
	my $bad = scene_path('not-a-uuid', 1);
	my $r = http_req('PUT', $bad, body => $json_body,
	    headers => { 'Content-Type' => 'application/json' });
	is($r->{status}, 405, 'PUT on a path with a bad chapter_id: 405');
	is(header($r, 'allow'), 'POST', 'PUT on a bad chapter_id: Allow: POST');
	$r = http_req('POST', $bad, body => $json_body,
	    headers => { 'Content-Type' => 'application/json' });
	is_api_error($r, 400, 'invalid_field',
	    'POST with a bad chapter_id and no token');
}

# The 400 sentences of the path parameters, exactly.
my %h = ('Content-Type' => 'application/json', Authorization => "Bearer $token");
for my $c (
    [ 'POST', scene_path('not-a-uuid', 1),
      'Invalid field chapter_id: must be a UUID.' ],
    [ 'GET', scene_path('not-a-uuid', 1) . '/status',
      'Invalid field chapter_id: must be a UUID.' ],
    [ 'POST', scene_path($chapter, 0),
      'Invalid field scene_number: must be an integer from 1 to 10000.' ],
    [ 'POST', scene_path($chapter, 10001),
      'Invalid field scene_number: must be an integer from 1 to 10000.' ],
    [ 'POST', scene_path($chapter, '000001'),
      'Invalid field scene_number: must be an integer from 1 to 10000.' ],
    [ 'GET', scene_path($chapter, 'x') . '/status',
      'Invalid field scene_number: must be an integer from 1 to 10000.' ],
    [ 'POST', scene_path('not-a-uuid', 'x'),
      'Invalid field chapter_id: must be a UUID.' ]) {
	my ($m, $path, $detail) = @$c;
	my $r = http_req($m, $path, headers => \%h,
	    body => $m eq 'POST' ? $json_body : undef);
	is_api_error($r, 400, 'invalid_field', "$m $path");
	is(($r->{json} // {})->{detail}, $detail, "$m $path: the sentence");
}
# Leading zeros up to the width of the largest scene number are accepted:
# past the route (a 404 for an unknown chapter, not a 400).
{
	my $r = http_req('POST', scene_path(new_uuid(), '00001'), headers => \%h,
	    body => $json_body);
	is_api_error($r, 404, 'not_found', 'scene_number 00001 is scene 1');
}

# The sentences of the body limits quote the limits enforced.
for my $c (
    [ 'scene_description of 2001 characters',
      '{"scene_description": "' . ('a' x 2001) . '"}',
      'Invalid field scene_description: must be 1 to 2000 characters after '
      . 'trimming.' ],
    [ 'style of 65 characters',
      '{"scene_description": "A", "style": "' . ('s' x 65) . '"}',
      'Invalid field style: must be 1 to 64 characters without control '
      . 'characters.' ]) {
	my ($name, $body, $detail) = @$c;
	my $r = http_req('POST', $scene, headers => \%h, body => $body);
	is_api_error($r, 400, 'invalid_field', $name);
	is(($r->{json} // {})->{detail}, $detail, "$name: the sentence");
}
{
	my $r = http_req('POST', $scene, body => $json_body,
	    headers => { %h, 'Idempotency-Key' => 'k' x 129 });
	is_api_error($r, 400, 'invalid_field', 'Idempotency-Key of 129');
	is(($r->{json} // {})->{detail}, 'Invalid field Idempotency-Key: must be '
	    . '1 to 128 printable ASCII characters.',
	    'Idempotency-Key of 129: the sentence');
}

done_testing();
