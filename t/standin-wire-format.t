#!/usr/bin/perl
# The ModelsLab stand-in speaks the V7 wire format: create (processing and
# success shapes), fetch before and after ready, real PNG output, unknown
# ids, missing fields, keys, per-track_id counts, reset, the /api/v7/
# prefix, and 2,000 creates in progress at once.
use strict;
use warnings;

use Compress::Zlib qw(crc32 uncompress);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(sleep time);
use Scenegen::Standin qw(start_standin stop_standin);

my $json = JSON::PP->new->canonical;
my $http = HTTP::Tiny->new(timeout => 10);

my ($pid, $port) = start_standin('-e', '0.3');
my $base = "http://127.0.0.1:$port";

sub post {
	my ($path, $body, %hdr) = @_;
	my $r = $http->post("$base$path", {
	    headers => { 'content-type' => 'application/json', %hdr },
	    content => ref $body ? $json->encode($body) : $body });
	my $j = eval { decode_json($r->{content}) };
	return ($r, $j);
}

sub get_json {
	my ($path) = @_;
	my $r = $http->get("$base$path");
	return decode_json($r->{content});
}

sub create {
	my (%f) = @_;
	return post('/v7/images/text-to-image', { key => 'K',
	    model_id => 'gen4_image', prompt => 'a red fox', %f });
}

# --- create: the processing shape, every field -----------------------------
my ($r, $j) = create(track_id => 'wf-1');
is($r->{status}, 200, 'create answers 200');
like($r->{headers}{'content-type'}, qr{application/json}, 'as JSON');
is($j->{status}, 'processing', 'status processing');
is($j->{eta}, 0.3, 'eta is the configured 0.3 s');
like($r->{content}, qr/"eta":0\.3[,}]/, 'eta is a JSON number');
is($j->{message}, 'Try to fetch request after seconds estimated', 'message');
is($j->{tip}, 'Your image is processing in background, you can get this '
    . 'image using fetch API', 'tip');
like($r->{content}, qr/"id":\d+[,}]/, 'id is a JSON integer');
my $id = $j->{id};
is($j->{fetch_result}, "$base/v7/images/fetch/$id", 'fetch_result');
is_deeply($j->{output}, [], 'output empty');
is_deeply($j->{future_links}, ["$base/generations/$id.png"], 'future_links');
is_deeply($j->{meta}, {}, 'meta empty');

# --- fetch before ready, the image 404s ------------------------------------
($r, $j) = post("/v7/images/fetch/$id", { key => 'K' });
is($j->{status}, 'processing', 'fetch before ready: processing');
ok($j->{eta} > 0 && $j->{eta} <= 0.3, "remaining eta $j->{eta}");
is($j->{id}, $id, 'same id');
is($http->get("$base/generations/$id.png")->{status}, 404,
    'image 404 before ready');

# --- fetch after ready: the thin success shape -----------------------------
sleep 0.35;
($r, $j) = post("/v7/images/fetch/$id", { key => 'K' });
is_deeply($j, { status => 'success', id => $id,
    output => ["$base/generations/$id.png"],
    proxy_links => ["$base/cdn/generations/$id.png"] },
    'fetch after ready: exactly the success shape');

# --- the PNG is a real one -------------------------------------------------
sub check_png {
	my ($bytes, $what) = @_;
	is(substr($bytes, 0, 8), "\x89PNG\r\n\x1a\n", "$what: PNG signature");
	my ($pos, $crc_ok, $raw) = (8, 1, '');
	my (@types, $w, $h);
	while ($pos + 12 <= length $bytes) {
		my ($len, $type) = unpack('N a4', substr($bytes, $pos, 8));
		my $data = substr($bytes, $pos + 8, $len);
		my $crc = unpack('N', substr($bytes, $pos + 8 + $len, 4));
		$crc_ok = 0 if crc32($type . $data) != $crc;
		($w, $h) = unpack('N N', $data) if $type eq 'IHDR';
		$raw .= $data if $type eq 'IDAT';
		push @types, $type;
		$pos += 12 + $len;
	}
	is_deeply(\@types, [qw(IHDR IDAT IEND)], "$what: IHDR, IDAT, IEND");
	is($pos, length $bytes, "$what: nothing after IEND");
	ok($crc_ok, "$what: every chunk CRC is right");
	is("$w x $h", '64 x 64', "$what: 64x64");
	my $pixels = uncompress($raw);
	is(length($pixels // ''), 64 * (1 + 64 * 3),
	    "$what: IDAT inflates to 64 RGB scanlines");
}
$r = $http->get("$base/generations/$id.png");
is($r->{status}, 200, 'image 200 once ready');
is($r->{headers}{'content-type'}, 'image/png', 'image/png');
check_png($r->{content}, 'output');
my $cdn = $http->get("$base/cdn/generations/$id.png");
is($cdn->{content}, $r->{content}, 'proxy_links copy is the same image');

# --- success mode: the immediate shape --------------------------------------
($r, $j) = create(prompt => 'a cat [standin:mode=success]',
    track_id => 'wf-succ');
is($j->{status}, 'success', 'mode=success marker: status success');
my $sid = $j->{id};
is_deeply([sort keys %$j], [sort qw(status generationTime id output
    proxy_links nsfw_content_detected webhook_status meta tip)],
    'success create: every field, nothing else');
like($r->{content}, qr/"generationTime":[0-9.]+,/, 'generationTime number');
is_deeply($j->{output}, ["$base/generations/$sid.png"], 'output url');
is_deeply($j->{proxy_links}, ["$base/cdn/generations/$sid.png"], 'proxy url');
ok(!$j->{nsfw_content_detected} &&
    $r->{content} =~ /"nsfw_content_detected":false/, 'nsfw false');
is($j->{webhook_status}, '', 'webhook_status empty');
is($j->{meta}{model_id}, 'gen4_image', 'meta.model_id');
is($j->{meta}{prompt}, 'a cat [standin:mode=success]', 'meta.prompt');
like($j->{meta}{seed}, qr/^\d+$/, 'meta.seed');
is($j->{tip}, '', 'tip empty');
is($http->get("$base/generations/$sid.png")->{status}, 200,
    'success-mode image ready at once');

($r, $j) = post('/_standin/config', { mode => 'success' });
is($j->{mode}, 'success', 'config: mode success at run time');
($r, $j) = create();
is($j->{status}, 'success', 'plain create now answers success');

# --- unknown id, missing fields --------------------------------------------
($r, $j) = post('/v7/images/fetch/99', { key => 'K' });
is($r->{status}, 200, 'unknown id: HTTP 200');
is($r->{content},
    '{"status":"failed","id":"","message":"Request not found","output":""}',
    'unknown id: exact body');
($r, $j) = post('/v7/images/fetch/abc', { key => 'K' });
is($j->{message}, 'Request not found', 'non-numeric id: not found');

($r, $j) = post('/v7/images/text-to-image',
    { key => 'K', model_id => 'gen4_image' });
is($r->{status}, 400, 'missing prompt: 400');
is_deeply($j, { status => 'error',
    message => { prompt => ['The prompt field is required.'] } },
    'missing prompt: field error body');
($r, $j) = post('/v7/images/text-to-image', { key => 'K', prompt => 'x' });
is($r->{status}, 400, 'missing model_id: 400');
ok(ref $j->{message}{model_id} eq 'ARRAY' && !exists $j->{message}{prompt},
    'missing model_id: names model_id only');
($r, $j) = post('/v7/images/text-to-image', 'not json at all');
is($r->{status}, 401, 'no JSON, so no key: 401');
($r, $j) = post('/v7/images/text-to-image',
    { model_id => 'gen4_image', prompt => 'x' });
is($r->{status}, 401, 'no key at all: 401 even without -k');
is($j->{message}, 'Invalid Api Key', 'no key: Invalid Api Key');

# --- counts per track_id, last request --------------------------------------
post('/_standin/reset', '');
for my $n (1 .. 3) {
	create(track_id => 'wf-count', prompt => "take $n", seed => $n);
}
my $last = { key => 'K', model_id => 'gen4_image', prompt => 'take 4',
    track_id => 'wf-count', webhook => undef, aspect_ratio => '16:9' };
post('/v7/images/text-to-image', $last, key => 'K-header');
create(track_id => 42);
$j = get_json('/_standin/creates?track_id=wf-count');
is($j->{creates}, 4, 'four creates counted for wf-count');
is_deeply($j->{last_request}, $last, 'last_request is the body as sent');
is($j->{last_key_header}, 'K-header', 'last key: header');
$j = get_json('/_standin/creates?track_id=42');
is($j->{creates}, 1, 'numeric track_id counted as "42"');
$j = get_json('/_standin/creates?track_id=nobody');
is($j->{creates}, 0, 'unknown track_id: 0 creates');
is_deeply(get_json('/_standin/creates'), { 'wf-count' => 4, 42 => 1 },
    'all tracks listed');
$j = get_json('/_standin/stats');
is($j->{creates_total}, 5, 'stats: creates_total');

# --- reset -----------------------------------------------------------------
($r, $j) = post('/_standin/reset', '');
is($r->{status}, 200, 'reset answers 200');
is_deeply(get_json('/_standin/creates'), {}, 'reset: no tracks left');
$j = get_json('/_standin/stats');
is("$j->{creates_total}/$j->{fetches_total}/$j->{processing_peak}", '0/0/0',
    'reset: counters zero');
($r, $j) = post("/v7/images/fetch/$id", { key => 'K' });
is($j->{message}, 'Request not found', 'reset: old generations gone');
is(get_json('/_standin/config')->{mode}, 'processing',
    'reset: start-up mode back');

# --- /api/v7/ prefix --------------------------------------------------------
($r, $j) = post('/api/v7/images/text-to-image',
    { key => 'K', model_id => 'gen4_image', prompt => 'x' });
is($j->{status}, 'processing', '/api/v7/ create works');
ok($j->{id} > $id, 'ids never reused across a reset');
is($j->{fetch_result}, "$base/api/v7/images/fetch/$j->{id}",
    'fetch_result keeps the /api prefix');
my $pid2 = $j->{id};
($r, $j) = post("/api/v7/images/fetch/$pid2", { key => 'K' });
is($j->{status}, 'processing', '/api/v7/ fetch works');
is($http->get("$base/v7/images/text-to-image")->{status}, 405,
    'GET on create: 405');
is($http->get("$base/nothing/here")->{status}, 404, 'unknown path: 404');

# --- with -k: only that key, in the body or the header ----------------------
{
	my ($kpid, $kport) = start_standin('-k', 'sekrit');
	my $kb = "http://127.0.0.1:$kport/v7/images/text-to-image";
	my %body = (model_id => 'gen4_image', prompt => 'x');
	my $kr = $http->post($kb, { content => $json->encode(
	    { %body, key => 'wrong' }) });
	is($kr->{status}, 401, '-k: wrong key 401');
	my $kj = decode_json($kr->{content});
	is($kj->{status}, 'error', '-k: status error');
	is($kj->{message}, 'Invalid Api Key', '-k: Invalid Api Key');
	ok(length $kj->{tip}, '-k: with a tip');
	$kr = $http->post($kb, { content => $json->encode(
	    { %body, key => 'sekrit' }) });
	is($kr->{status}, 200, '-k: right key in the body');
	$kr = $http->post($kb, { headers => { key => 'sekrit' },
	    content => $json->encode(\%body) });
	is($kr->{status}, 200, '-k: right key in the key: header');
	$kr = $http->post("http://127.0.0.1:$kport/v7/images/fetch/1",
	    { content => '{"key":"wrong"}' });
	is($kr->{status}, 401, '-k: fetch with a wrong key 401');
	is(stop_standin($kpid), 0, 'SIGTERM: clean exit status 0');
}

# --- 2,000 creates in progress at once --------------------------------------
# Four children hold 500 connections each (under a 1,024 descriptor limit),
# each with a create of a 30 s ETA; the parent reads the stats meanwhile.
{
	post('/_standin/reset', '');
	my $t0 = time;
	my ($kids, $per) = (4, 500);
	my (@pids, @from);
	pipe(my $go_r, my $go_w) or die;
	for my $k (1 .. $kids) {
		pipe(my $rd, my $wr) or die;
		my $cpid = fork // die "fork: $!";
		if ($cpid == 0) {
			close $rd;
			close $go_w;
			my @socks;
			my $body = '{"key":"K","model_id":"gen4_image",'
			    . '"prompt":"load [standin:eta=30]"}';
			for my $i (1 .. $per) {
				my $s = IO::Socket::INET->new(
				    PeerAddr => "127.0.0.1:$port",
				    Timeout => 10) or last;
				print $s "POST /v7/images/text-to-image"
				    . " HTTP/1.1\r\nHost: 127.0.0.1:$port\r\n"
				    . "Content-Type: application/json\r\n"
				    . "Content-Length: " . length($body)
				    . "\r\n\r\n$body";
				push @socks, $s;
			}
			my $ok = 0;
			for my $s (@socks) {
				my $buf = '';
				while ($buf !~ /\r\n\r\n.*\}\s*$/s) {
					my $n = sysread($s, $buf, 4096,
					    length $buf);
					last if !$n;
				}
				$ok++ if $buf =~ m{^HTTP/1\.1 200} &&
				    $buf =~ /"status":"processing"/;
			}
			syswrite($wr, "$ok\n");
			sysread($go_r, my $x, 1);	# hold until told
			POSIX::_exit(0);
		}
		close $wr;
		push @pids, $cpid;
		push @from, $rd;
	}
	close $go_r;
	my $answered = 0;
	for my $rd (@from) {
		my $line = <$rd> // 0;
		$answered += $line;
	}
	is($answered, $kids * $per, "$answered creates answered processing");
	my $st = get_json('/_standin/stats');
	cmp_ok($st->{processing_now}, '>=', $kids * $per,
	    "processing_now $st->{processing_now}");
	cmp_ok($st->{processing_peak}, '>=', $kids * $per,
	    "processing_peak $st->{processing_peak}");
	cmp_ok($st->{connections_now}, '>=', $kids * $per,
	    "connections_now $st->{connections_now} while held open");
	close $go_w;
	waitpid($_, 0) for @pids;
	my $until = time + 5;
	do {
		sleep 0.1;
		$st = get_json('/_standin/stats');
	} while ($st->{connections_now} > 5 && time < $until);
	cmp_ok($st->{connections_now}, '<=', 5,
	    'connections_now falls once the clients leave');
	cmp_ok(time - $t0, '<', 15, 'the load part stays fast');
}

is(stop_standin($pid), 0, 'stand-in exits 0 on SIGTERM');
done_testing();
