#!/usr/bin/perl
# openapi/openapi.json: valid OpenAPI 3 by a real validator (Redocly CLI,
# installed with npm under build/tools once and reused), and true: the
# running stack's real answers in the documented flow (POST 202, status
# 200 and 304, /healthz, errors 400/401/404/405/415) have documented
# status codes and headers, and their bodies match the documented schemas
# (required properties, types, enums, bounds, patterns, formats).
use strict;
use warnings;
use FindBin;
use Test::More;
use lib "$FindBin::Bin/lib";
use Scenegen::Ops qw(have_tool ops_project_dir run_cmd daemon_running);
use Scenegen::Test qw(json http_req api_post api_status new_chapter
    make_token stack_env);

my $here = ops_project_dir();
my $file = "$here/openapi/openapi.json";
open my $fh, '<', $file or die "$file: $!";
my $doc = json()->decode(join '', <$fh>);
like($doc->{openapi}, qr/^3\.\d+\.\d+$/, "OpenAPI $doc->{openapi}");

# --- a real validator -----------------------------------------------------
my $REDOCLY_VERSION = '2.77.0';	# the last known to run on Node.js 20
my $tools = "$here/build/tools/redocly";
my $redocly = "$tools/node_modules/.bin/redocly";
SKIP: {
	if (!-x $redocly) {
		skip 'npm not installed: cannot install @redocly/cli', 2
		    unless have_tool('npm');
		system('mkdir', '-p', $tools);
		my ($rc, $out) = run_cmd('npm', 'install', '--no-audit',
		    '--no-fund', '--prefix', $tools,
		    "\@redocly/cli\@$REDOCLY_VERSION");
		skip "npm install \@redocly/cli failed: "
		    . (split /\n/, $out)[-1], 2 unless $rc == 0 && -x $redocly;
	}
	my ($rc, $out) = run_cmd($redocly, 'lint', '--format=stylish',
	    '--extends=recommended-strict', $file);
	is($rc, 0, 'redocly lint (recommended-strict) passes') or diag $out;
	# Drop Redocly's framed notices (e.g. about the Node.js version).
	utf8::decode($out);
	$out =~ s/^\s*[\x{2554}\x{2551}\x{255a}].*\n//mg;
	unlike($out, qr/\b(?:warning|error)s?\b/i, 'no warnings or errors')
	    or diag $out;
	like($out, qr/Your API description is valid/, 'the document is valid');
}

# --- a small JSON Schema (2020-12 subset) checker -------------------------
sub resolve {
	my ($s) = @_;
	while (ref $s eq 'HASH' && $s->{'$ref'}) {
		my $node = $doc;
		$node = $node->{$_} for grep { length && $_ ne '#' }
		    split m{/}, $s->{'$ref'};
		$s = $node;
	}
	return $s;
}

sub type_of {
	my ($v) = @_;
	return 'null' unless defined $v;
	return 'object' if ref $v eq 'HASH';
	return 'array' if ref $v eq 'ARRAY';
	return 'boolean' if JSON::PP::is_bool($v);
	# JSON::PP keeps numbers as numbers: a number has no string flags.
	my $b = B::svref_2object(\$v);
	my $flags = $b->FLAGS;
	if ($flags & (B::SVp_IOK() | B::SVp_NOK()) && !($flags & B::SVp_POK())) {
		return $v == int($v) ? 'integer' : 'number';
	}
	return 'string';
}

# Errors of value $v against schema $s at $path, as a list of sentences.
sub check {
	my ($v, $s, $path) = @_;
	$s = resolve($s);
	my @err;
	if (my $one = $s->{oneOf}) {
		my $n = grep { !check($v, $_, $path) } @$one;
		return $n == 1 ? () : ("$path matches $n of oneOf");
	}
	my $t = type_of($v);
	if (defined(my $want = $s->{type})) {
		my @w = ref $want ? @$want : ($want);
		my $ok = grep { $_ eq $t || ($_ eq 'number' && $t eq 'integer') }
		    @w;
		return ("$path is $t, not " . join('|', @w)) unless $ok;
	}
	push @err, "$path is not one of the enum"
	    if $s->{enum} && !grep { defined $v && $_ eq $v } @{ $s->{enum} };
	push @err, "$path is not $s->{const}"
	    if defined $s->{const} && (!defined $v || $v ne $s->{const});
	if ($t eq 'string') {
		push @err, "$path shorter than $s->{minLength}"
		    if defined $s->{minLength} && length $v < $s->{minLength};
		push @err, "$path longer than $s->{maxLength}"
		    if defined $s->{maxLength} && length $v > $s->{maxLength};
		push @err, "$path does not match $s->{pattern}"
		    if defined $s->{pattern} && $v !~ /$s->{pattern}/;
		push @err, "$path is not an RFC 3339 date-time"
		    if ($s->{format} // '') eq 'date-time' && $v !~
		    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)$/;
	}
	if ($t eq 'integer' || $t eq 'number') {
		push @err, "$path below $s->{minimum}"
		    if defined $s->{minimum} && $v < $s->{minimum};
		push @err, "$path above $s->{maximum}"
		    if defined $s->{maximum} && $v > $s->{maximum};
	}
	if ($t eq 'object') {
		for my $r (@{ $s->{required} // [] }) {
			push @err, "$path lacks $r" unless exists $v->{$r};
		}
		my $props = $s->{properties} // {};
		for my $k (sort keys %$v) {
			if ($props->{$k}) {
				push @err, check($v->{$k}, $props->{$k}, "$path.$k");
			} elsif (defined $s->{additionalProperties} &&
			    !$s->{additionalProperties}) {
				push @err, "$path has undocumented $k";
			}
		}
	}
	return @err;
}

# The documented response of an operation for a status code.
sub response_of {
	my ($path, $method, $status) = @_;
	my $op = $doc->{paths}{$path}{$method} or return;
	return resolve($op->{responses}{$status});
}

# Check one live answer against the document.
sub conforms {
	my ($name, $r, $path, $method) = @_;
	my $resp = response_of($path, $method, $r->{status});
	ok($resp, "$name: status $r->{status} is documented for "
	    . uc($method) . " $path") or return;
	for my $h (sort keys %{ $resp->{headers} // {} }) {
		next if $h eq 'Cache-Control' && !defined $r->{headers}{lc $h};
		ok(defined $r->{headers}{lc $h}, "$name: header $h present");
	}
	my $media = $resp->{content}{'application/json'};
	if (!$media) {
		is($r->{content} // '', '', "$name: no body, as documented");
		return;
	}
	like($r->{headers}{'content-type'} // '', qr{^application/json},
	    "$name: JSON body");
	my @err = check($r->{json}, $media->{schema}, 'body');
	is_deeply(\@err, [], "$name: body matches the schema")
	    or diag $r->{content};
}

require B;
# The checker itself catches what it must.
my $acc = { '$ref' => '#/components/schemas/Accepted' };
my $good = json()->decode('{"task_id":"t","status":"queued","message":"m",'
    . '"estimated_time_seconds":60,"record_id":'
    . '"0b8f0c1e-7a52-4c55-9a7e-0d1c2f3a4b5c","scene_number":1,"retry_count":0}');
is_deeply([ check($good, $acc, 'body') ], [], 'checker: a good 202 body passes');
my %bad = (%$good, estimated_time_seconds => '60');
ok(scalar check(\%bad, $acc, 'body'), 'checker: a number sent as a string fails');
%bad = %$good;
delete $bad{record_id};
ok(scalar check(\%bad, $acc, 'body'), 'checker: a missing property fails');
%bad = (%$good, status => 'done');
ok(scalar check(\%bad, $acc, 'body'), 'checker: a wrong constant fails');

my $P = '/api/v1/chapters/{chapter_id}/images/scenes/{scene_number}';
my $S = "$P/status";
my ($user, $chapter, $token) = new_chapter();

my $r = http_req('GET', '/healthz');
conforms('healthz', $r, '/healthz', 'get');

$r = api_post(token => $token, chapter => $chapter, scene => 3,
    body => { scene_description => 'A bridge over a frozen river',
    style => 'watercolor', aspect_ratio => '4:3' });
conforms('POST', $r, $P, 'post');
my $record = ($r->{json} // {})->{record_id} // '';
is($r->{headers}{location}, "/api/v1/chapters/$chapter/images/scenes/3/status",
    'Location is the status URL');

$r = api_status(token => $token, chapter => $chapter, scene => 3);
conforms('status', $r, $S, 'get');
# A 304 needs a record that does not change between two polls: the daemon
# may be working on this one, so poll until two answers agree.
my $r304;
for (1 .. 150) {
	my $etag = $r->{headers}{etag} // '"x"';
	$r304 = api_status(token => $token, chapter => $chapter, scene => 3,
	    headers => { 'If-None-Match' => $etag });
	last if $r304->{status} == 304;
	$r = $r304;
	select undef, undef, undef, 0.2;
}
conforms('status If-None-Match', $r304, $S, 'get');
is($r304->{status}, 304, 'unchanged record: 304');
# With a daemon, the finished record too (image_url set).
if (daemon_running()) {
	for (1 .. 150) {
		$r = api_status(token => $token, chapter => $chapter, scene => 3);
		last if ($r->{json} // {})->{status} =~ /^(?:completed|failed)$/;
		select undef, undef, undef, 0.2;
	}
	conforms("status ($r->{json}{status})", $r, $S, 'get');
}

# The record by its id, and the chapter's listing.
my $L = '/api/v1/chapters/{chapter_id}/images/scenes';
my $R = '/api/v1/records/{record_id}';
my %auth = (Authorization => "Bearer $token");
$r = http_req('GET', "/api/v1/records/$record", headers => \%auth);
conforms('record', $r, $R, 'get');
is($r->{status}, 200, 'record: 200');
$r = http_req('GET', "/api/v1/records/$record", headers => { %auth,
    'If-None-Match' => $r->{headers}{etag} // '"x"' });
conforms("record If-None-Match ($r->{status})", $r, $R, 'get');
$r = http_req('GET', '/api/v1/records/' . Scenegen::Test::new_uuid(),
    headers => \%auth);
conforms('record of nothing', $r, $R, 'get');
is($r->{status}, 404, 'unknown record: 404');
$r = http_req('GET', "/api/v1/records/$record?x=1", headers => \%auth);
conforms('record with a query', $r, $R, 'get');
is($r->{status}, 400, 'record with a query: 400');
for (4, 5) {
	api_post(token => $token, chapter => $chapter, scene => $_,
	    body => { scene_description => "scene $_" });
}
$r = http_req('GET', "/api/v1/chapters/$chapter/images/scenes?limit=2",
    headers => \%auth);
conforms('listing', $r, $L, 'get');
is(scalar @{ ($r->{json} // {})->{scenes} // [] }, 2, 'listing: a page of 2');
ok(defined(($r->{json} // {})->{next_cursor}), 'listing: a next_cursor');
$r = http_req('GET', "/api/v1/chapters/$chapter/images/scenes?limit=2&cursor="
    . ($r->{json}{next_cursor} // ''), headers => \%auth);
conforms('listing, last page', $r, $L, 'get');
$r = http_req('GET', "/api/v1/chapters/$chapter/images/scenes?status=done",
    headers => \%auth);
conforms('listing with a bad status', $r, $L, 'get');
is($r->{status}, 400, 'bad status: 400');
$r = http_req('GET', '/api/v1/chapters/' . Scenegen::Test::new_uuid()
    . '/images/scenes', headers => \%auth);
conforms('listing of an unknown chapter', $r, $L, 'get');
is($r->{status}, 404, 'unknown chapter: 404');
$r = http_req('GET', "/api/v1/chapters/$chapter/images/scenes");
conforms('listing without a token', $r, $L, 'get');

# Cancel: a fresh record (200, or 409 if a daemon finished it first),
# again (200 or 409), an unknown one (404).
my $C = '/api/v1/records/{record_id}/cancel';
$r = api_post(token => $token, chapter => $chapter, scene => 6,
    body => { scene_description => 'to cancel [standin:eta=5]' });
my $cid = ($r->{json} // {})->{record_id} // '';
$r = http_req('POST', "/api/v1/records/$cid/cancel", headers => \%auth);
conforms("cancel ($r->{status})", $r, $C, 'post');
like($r->{status}, qr/^(?:200|409)$/, 'cancel: 200 or 409');
$r = http_req('POST', "/api/v1/records/$cid/cancel", headers => \%auth);
conforms("cancel again ($r->{status})", $r, $C, 'post');
$r = http_req('POST', '/api/v1/records/' . Scenegen::Test::new_uuid()
    . '/cancel', headers => \%auth);
conforms('cancel of nothing', $r, $C, 'post');
is($r->{status}, 404, 'cancel of nothing: 404');

# Errors: one per documented kind.
$r = api_post(chapter => $chapter, body => { scene_description => 'x' });
conforms('POST without token', $r, $P, 'post');
is($r->{status}, 401, 'no token: 401');
like($r->{headers}{'www-authenticate'} // '', qr/^Bearer\b/,
    'WWW-Authenticate: Bearer');

$r = api_post(token => $token, chapter => $chapter,
    body => { scene_description => 'x', aspect_ratio => '5:4' });
conforms('POST bad field', $r, $P, 'post');
is(($r->{json} // {})->{code}, 'invalid_field', '400 invalid_field');

$r = api_post(token => $token, chapter => $chapter, body => '{"scene_');
conforms('POST bad JSON', $r, $P, 'post');
is(($r->{json} // {})->{code}, 'invalid_json', '400 invalid_json');

$r = api_post(token => $token, chapter => $chapter,
    headers => { 'Content-Type' => 'text/plain' }, body => 'hello');
conforms('POST text/plain', $r, $P, 'post');
is($r->{status}, 415, 'text/plain: 415');

$r = api_post(token => $token, chapter => Scenegen::Test::new_uuid(),
    body => { scene_description => 'x' });
conforms('POST unknown chapter', $r, $P, 'post');
is($r->{status}, 404, 'unknown chapter: 404');

$r = api_status(token => $token, chapter => $chapter, scene => 9999);
conforms('status of nothing', $r, $S, 'get');
is($r->{status}, 404, 'no record: 404');

$r = http_req('PUT', "/api/v1/chapters/$chapter/images/scenes/1",
    headers => { Authorization => "Bearer $token" });
conforms('PUT', $r, $P, 'post');
is($r->{status}, 405, 'PUT: 405');

done_testing();
