#!/usr/bin/perl
# Every fault of the ModelsLab stand-in, once: HTTP codes and their
# bodies, errors under HTTP 200, times= then success, at=fetch, failed
# generations, spellings and string ids, hang, drop, malformed, truncated,
# short and oversized bodies, expiring URLs, the queued-requests limit,
# default faults (-f) and the delay (-d).
use strict;
use warnings;

use HTTP::Tiny;
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);
use Scenegen::Standin qw(start_standin stop_standin);

my $json = JSON::PP->new->canonical;
my $http = HTTP::Tiny->new(timeout => 10);

my ($pid, $port) = start_standin('-e', '0.3');
my $base = "http://127.0.0.1:$port";

sub body_for {
	my ($marker, %f) = @_;
	return $json->encode({ key => 'K', model_id => 'gen4_image',
	    prompt => "a fox [standin:$marker]", %f });
}

# A create through HTTP::Tiny: the response and its JSON (undef if none).
sub create {
	my ($marker, %f) = @_;
	my $r = $http->post("$base/v7/images/text-to-image",
	    { content => body_for($marker, %f) });
	my $j = eval { decode_json($r->{content}) };
	return ($r, $j);
}

sub fetch {
	my ($id) = @_;
	my $r = $http->post("$base/v7/images/fetch/$id",
	    { content => '{"key":"K"}' });
	my $j = eval { decode_json($r->{content}) };
	return ($r, $j);
}

sub stats {
	return decode_json($http->get("$base/_standin/stats")->{content});
}

# One request on a raw socket, read until EOF or $timeout seconds.
# Returns the bytes, whether EOF came, and the seconds it took.
sub raw_post {
	my ($path, $body, $timeout) = @_;
	my $t0 = time;
	my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
	    Timeout => 5) or die "connect: $!";
	print $s "POST $path HTTP/1.1\r\nHost: 127.0.0.1:$port\r\n"
	    . "Content-Type: application/json\r\n"
	    . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
	my $sel = IO::Select->new($s);
	my ($buf, $eof) = ('', 0);
	while (time - $t0 < $timeout) {
		last unless $sel->can_read($timeout - (time - $t0));
		my $n = sysread($s, $buf, 65536, length $buf);
		if (!$n) {
			$eof = 1;
			last;
		}
	}
	close $s;
	return ($buf, $eof, time - $t0);
}

sub split_response {
	my ($bytes) = @_;
	my ($head, $body) = split(/\r\n\r\n/, $bytes, 2);
	my ($clen) = ($head // '') =~ /^Content-Length:\s*(\d+)/mi;
	return ($head // '', $body // '', $clen);
}

# --- HTTP error codes with their bodies -------------------------------------
my %http = (
	http400 => [400, 'Bad Request'],
	http401 => [401, 'Invalid Api Key'],
	http402 => [402, 'Insufficient credits. Please recharge your wallet.'],
	http403 => [403, 'This feature is not available on your plan'],
	http500 => [500, 'Internal Server Error'],
	http502 => [502, 'Bad Gateway'],
	http503 => [503, 'Service Unavailable, try again later'],
);
for my $f (sort keys %http) {
	my ($r, $j) = create("fault=$f", track_id => "code-$f");
	is($r->{status}, $http{$f}[0], "$f: HTTP $http{$f}[0]");
	is($j && $j->{status}, 'error', "$f: status error");
	is($j && $j->{message}, $http{$f}[1], "$f: message");
}
{
	my ($r, $j) = create('fault=http504');
	is($r->{status}, 504, 'http504: HTTP 504');
	is($r->{content}, '<html>504 Gateway Time-out</html>',
	    'http504: the gateway HTML body');
	ok(!defined $j, 'http504: not JSON');
	my $c = decode_json($http->get(
	    "$base/_standin/creates?track_id=code-http503")->{content});
	is($c->{creates}, 1, 'a create answered by a fault counts');
}

# --- 429 with retry_after and Retry-After -----------------------------------
{
	my ($r, $j) = create('fault=http429;retry_after=7');
	is($r->{status}, 429, 'http429: HTTP 429');
	is($r->{headers}{'retry-after'}, 7, 'http429: Retry-After: 7');
	is($j->{retry_after}, 7, 'http429: retry_after 7 in the body');
	like($j->{message}, qr/^Rate limit exceeded\. Maximum \d+ queued/,
	    'http429: message');
	($r, $j) = create('fault=http429');
	is($j->{retry_after}, 2, 'http429: retry_after defaults to 2');
}

# --- errors under HTTP 200 --------------------------------------------------
{
	my ($r, $j) = create('fault=ratelimit200');
	is($r->{status}, 200, 'ratelimit200: HTTP 200');
	is($j->{status}, 'error', 'ratelimit200: status error');
	is($j->{messege}, 'Rate limit exceeded', 'ratelimit200: messege');
	like($j->{tips}, qr/wait for 30 seconds/, 'ratelimit200: tips');
	($r, $j) = create('fault=error200');
	is("$r->{status} $j->{status}", '200 error', 'error200: 200, error');
	is($j->{message}, 'Something went wrong, please try again',
	    'error200: message');
	($r, $j) = create('fault=error200_fatal');
	is("$r->{status} $j->{status}", '200 error',
	    'error200_fatal: 200, error');
	is($j->{message}, 'Invalid Api Key', 'error200_fatal: Invalid Api Key');
}

# --- times=N: fails twice, then succeeds ------------------------------------
{
	my @codes;
	for (1 .. 3) {
		my ($r) = create('fault=http503;times=2', track_id => 'twice');
		push @codes, $r->{status};
	}
	is("@codes", '503 503 200', 'times=2: 503, 503, then 200');
	my $c = decode_json($http->get("$base/_standin/creates?track_id=twice")
	    ->{content});
	is($c->{creates}, 3, 'times=2: three creates counted');
}

# --- at=fetch: the fault hits the fetch, then it goes on --------------------
{
	my ($r, $j) = create('fault=http500;at=fetch;times=1',
	    track_id => 'atfetch');
	is($r->{status}, 200, 'at=fetch: the create succeeds');
	my $id = $j->{id};
	($r, $j) = fetch($id);
	is($r->{status}, 500, 'at=fetch: first fetch 500');
	($r, $j) = fetch($id);
	is($r->{status}, 200, 'at=fetch: second fetch 200');
	like($j->{status}, qr/^(processing|success)$/, 'at=fetch: then normal');
	my $c = decode_json($http->get(
	    "$base/_standin/creates?track_id=atfetch")->{content});
	is("$c->{creates}/$c->{fetches}", '1/2',
	    'at=fetch: 1 create, 2 fetches');
}

# --- failed: processing, then fetch says failed -----------------------------
{
	my ($r, $j) = create('fault=failed;mode=success');
	is($j->{status}, 'processing', 'failed: create answers processing');
	my $id = $j->{id};
	sleep 0.35;
	($r, $j) = fetch($id);
	is_deeply($j, { status => 'failed', id => $id,
	    message => 'Failed, Try Again', output => [] },
	    'failed: fetch answers the failed shape');
	is($http->get("$base/generations/$id.png")->{status}, 404,
	    'failed: no image');
}

# --- messege spelling, string ids -------------------------------------------
{
	my ($r, $j) = create('fault=messege');
	ok(exists $j->{messege} && !exists $j->{message},
	    'messege: processing answer spells messege');
	($r, $j) = create('fault=string_id');
	like($r->{content}, qr/"id":"\d+"/, 'string_id: create id is a string');
	my $id = $j->{id};
	($r, $j) = fetch($id);
	like($r->{content}, qr/"id":"$id"/, 'string_id: fetch id is a string');
	($r, $j) = create('fault=messege,string_id;mode=success');
	like($r->{content}, qr/"id":"\d+"/, 'two faults combine: string id');
}

# --- expire, and -x through the config --------------------------------------
{
	my ($r, $j) = create('fault=expire;mode=success');
	is($j->{status}, 'success', 'expire: create succeeds');
	is($http->get("$base/generations/$j->{id}.png")->{status}, 404,
	    'expire: the output URL 404s right away');
	$http->post("$base/_standin/config", { content => '{"expire":0.3}' });
	($r, $j) = create('mode=success');
	is($http->get("$base/generations/$j->{id}.png")->{status}, 200,
	    'expire 0.3: image served at first');
	sleep 0.4;
	is($http->get("$base/generations/$j->{id}.png")->{status}, 404,
	    'expire 0.3: 404 afterwards');
	$http->post("$base/_standin/reset", { content => '' });
}

# --- hang: the client gives up after 1 s ------------------------------------
{
	my $t0 = time;
	my $r = HTTP::Tiny->new(timeout => 1)->post(
	    "$base/v7/images/text-to-image",
	    { content => body_for('fault=hang') });
	my $took = time - $t0;
	is($r->{status}, 599, 'hang: no answer, the client times out');
	ok($took >= 0.9 && $took < 3,
	    sprintf('hang: gave up after %.2f s', $took));
	my $until = time + 3;
	sleep 0.05 while stats()->{held_now} > 0 && time < $until;
	is(stats()->{held_now}, 0, 'hang: released once the client left');

	my ($bytes, $eof, $secs) = raw_post('/v7/images/text-to-image',
	    body_for('fault=hang;hang_s=0.5'), 5);
	is($bytes, '', 'hang_s=0.5: no byte of answer');
	ok($eof && $secs >= 0.45 && $secs < 3,
	    sprintf('hang_s=0.5: closed after %.2f s', $secs));
}

# --- drop: closed with no answer --------------------------------------------
{
	my ($bytes, $eof) = raw_post('/v7/images/text-to-image',
	    body_for('fault=drop'), 5);
	ok($eof, 'drop: connection closed');
	is($bytes, '', 'drop: without any answer');
	my $r = $http->post("$base/v7/images/text-to-image",
	    { content => body_for('fault=drop') });
	is($r->{status}, 599, 'drop: an HTTP client sees a transport error');
}

# --- malformed, truncated, short --------------------------------------------
{
	my ($r, $j) = create('fault=malformed');
	is($r->{status}, 200, 'malformed: HTTP 200');
	is($r->{content}, '{"status": success, id: ]', 'malformed: the body');
	ok(!defined $j, 'malformed: not valid JSON');

	($r, $j) = create('fault=truncated');
	is($r->{status}, 200, 'truncated: HTTP 200');
	is(length $r->{content}, $r->{headers}{'content-length'},
	    'truncated: Content-Length matches the cut body');
	like($r->{content}, qr/^\{"status":"processing"/,
	    'truncated: starts as a valid answer');
	ok(!defined $j, 'truncated: not valid JSON');

	my ($bytes, $eof) = raw_post('/v7/images/text-to-image',
	    body_for('fault=short'), 5);
	my ($head, $body, $clen) = split_response($bytes);
	like($head, qr{^HTTP/1\.1 200}, 'short: HTTP 200');
	ok($eof, 'short: connection closed');
	ok(defined $clen && length($body) < $clen,
	    sprintf('short: %d bytes of %d announced', length $body,
	    $clen // -1));
}

# --- oversized --------------------------------------------------------------
{
	my ($r, $j) = create('fault=oversized;size=300000');
	is(length $r->{content}, 300000, 'oversized size=300000: exact size');
	is($j && $j->{status}, 'processing', 'oversized: valid-looking JSON');
	$r = $http->post("$base/v7/images/text-to-image",
	    { content => body_for('fault=oversized') });
	is(length $r->{content}, 20 * 1024 * 1024, 'oversized: 20 MB default');
}

# --- fetch-side transport faults --------------------------------------------
{
	my ($r, $j) = create('fault=truncated;at=fetch');
	is($r->{status}, 200, 'truncated at=fetch: create fine');
	ok(defined $j, 'truncated at=fetch: create is valid JSON');
	my ($r2, $j2) = fetch($j->{id});
	ok(!defined $j2 && $r2->{status} == 200,
	    'truncated at=fetch: the fetch is cut');
}

# --- queue limit: 429 with retry_after --------------------------------------
{
	$http->post("$base/_standin/reset", { content => '' });
	$http->post("$base/_standin/config",
	    { content => '{"queue_limit":2}' });
	my @codes;
	my $last;
	for (1 .. 3) {
		my ($r, $j) = create('eta=30', track_id => 'queue');
		push @codes, $r->{status};
		$last = [$r, $j];
	}
	is("@codes", '200 200 429', 'queue_limit 2: the third create gets 429');
	my ($r, $j) = @$last;
	is($j->{message},
	    'Rate limit exceeded. Maximum 2 queued requests allowed.',
	    'queue limit: message');
	ok($j->{retry_after} >= 29 && $j->{retry_after} <= 30,
	    "queue limit: retry_after $j->{retry_after} (oldest finishes)");
	is($r->{headers}{'retry-after'}, $j->{retry_after},
	    'queue limit: Retry-After header');
	$http->post("$base/_standin/reset", { content => '' });
}
{
	my ($qpid, $qport) = start_standin('-q', '1', '-e', '0.4');
	my $u = "http://127.0.0.1:$qport/v7/images/text-to-image";
	my $b = body_for('');
	my @c = map { $http->post($u, { content => $b })->{status} } 1 .. 2;
	is("@c", '200 429', '-q 1: second create refused');
	my $r = $http->post($u, { content => $b });
	is(decode_json($r->{content})->{retry_after}, 1,
	    '-q: retry_after at least 1');
	sleep 0.45;
	is($http->post($u, { content => $b })->{status}, 200,
	    '-q: accepted again once the first is done');
	stop_standin($qpid);
}

# --- -f default faults and -d delay -----------------------------------------
{
	my ($fpid, $fport) = start_standin('-f', 'fault=http503;times=1',
	    '-d', '300', '-m', 'success');
	my $u = "http://127.0.0.1:$fport/v7/images/text-to-image";
	my $t0 = time;
	my $r = $http->post($u, { content => body_for('', track_id => 'f1') });
	my $took = time - $t0;
	is($r->{status}, 503, '-f: the default fault applies');
	ok($took >= 0.29, sprintf('-d 300: answered after %.2f s', $took));
	$r = $http->post($u, { content => body_for('', track_id => 'f1') });
	is($r->{status}, 200, '-f times=1: the second create succeeds');
	is(decode_json($r->{content})->{status}, 'success', '-m success');
	$r = $http->post($u, { content => body_for('fault=error200',
	    track_id => 'f2') });
	is(decode_json($r->{content})->{message},
	    'Something went wrong, please try again',
	    'a prompt marker overrides -f');
	is(stop_standin($fpid), 0, 'clean exit with -f/-d');
}

ok(kill(0, $pid), 'the stand-in survived every fault');
is(stop_standin($pid), 0, 'stand-in exits 0 on SIGTERM');
done_testing();
