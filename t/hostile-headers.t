#!/usr/bin/perl
# Hostile request headers, over raw sockets to nginx: Authorization
# variants (scheme case, spacing, two headers, 8 KB tokens, NUL, CR and LF
# bytes, signed claims hiding a "\u0000"), Content-Type variants,
# Idempotency-Key with control or non-ASCII bytes or 129 characters,
# If-None-Match junk, and a Proxy header (httpoxy: it must never reach the
# program as HTTP_PROXY). Each answer is the SPEC's: 202/200/304 where the
# request is genuinely valid, else a 4xx JSON error; never a 5xx or a hang;
# no row unless 202.
use strict;
use warnings;
use Test::More;
use JSON::PP;
use MIME::Base64 qw(encode_base64url);
use Time::HiRes qw(time);
use Scenegen::Test qw(stack_env new_chapter count_rows make_token
    project_dir api_pids);
use Scenegen::Raw qw($TIMEOUT esc exchange hostile_ok
    json_error_ok no_leaks_ok);

my $env = stack_env();
my $json = JSON::PP->new;
my $t0 = time;

# --- the requests ------------------------------------------------------------

my ($user, $chapter, $token) = new_chapter();
my $P = "/api/v1/chapters/$chapter/images/scenes/1";
my $B = '{"scene_description": "A lighthouse in a storm"}';
my $rows = 0;

# A POST with exactly these header lines (each "Name: value", no CRLF).
sub post_with {
	my (@h) = @_;
	return exchange("POST $P HTTP/1.1\r\nHost: localhost\r\n"
	    . "Connection: close\r\n" . join('', map { "$_\r\n" } @h)
	    . 'Content-Length: ' . length($B) . "\r\n\r\n$B");
}

sub auth_post {
	my (@auth) = @_;
	return post_with((map { "Authorization: $_" } @auth),
	    'Content-Type: application/json');
}

# The verdict, and rows: $expect is a status, or 'reject' (any 4xx), or
# 'either' (202 or a 4xx).
sub case_ok {
	my ($name, $r, $expect, %o) = @_;
	if ($expect eq 'reject') {
		hostile_ok($name, $r);
	} elsif ($expect eq 'either') {
		hostile_ok($name, $r, allow => [202]);
	} else {
		hostile_ok($name, $r, want => $expect);
	}
	my $a = $r->{answers}[0] // {};
	my $st = $a->{status} // 0;
	if (defined $o{code} && $st >= 400) {
		my $j = eval { $json->decode($a->{body}) } // {};
		is(ref $j eq 'HASH' ? $j->{code} : undef, $o{code},
		    "$name: code $o{code}");
	}
	if ($st == 401) {
		like($a->{headers}{'www-authenticate'} // '', qr/^Bearer\b/,
		    "$name: WWW-Authenticate: Bearer");
	}
	# A replayed Idempotency-Key answers 202 without a new row.
	my $added = $st == 202 && !$o{replay} ? 1 : 0;
	$rows += $added;
	is(count_rows(user => $user), $rows,
	    "$name: " . ($added ? 'one row created' : 'no row created'));
	return $a;
}

sub record_id {
	my ($a) = @_;
	my $j = eval { $json->decode($a->{body} // '') } // {};
	return ref $j eq 'HASH' ? $j->{record_id} : undef;
}

my ($api_parent, $api_workers) = api_pids();

# --- Authorization ---------------------------------------------------------------

# RFC 9110 11.1: the scheme is case-insensitive; RFC 6750 2.1: one or more
# spaces before the token; nginx drops white space around a field value.
case_ok('lower-case bearer', auth_post("bearer $token"), 202);
case_ok('upper-case BEARER', auth_post("BEARER $token"), 202);
case_ok('several spaces after Bearer', auth_post("Bearer     $token"), 202);
case_ok('spaces around the value', auth_post("   Bearer $token    "), 202);
case_ok('a tab after Bearer', auth_post("Bearer\t$token"), 'either');

my $bad = make_token(sub => $user, secret => 'not-the-secret');
case_ok('Bearer and nothing', auth_post('Bearer'), 401);
case_ok('Bearer and spaces', auth_post('Bearer    '), 401);
case_ok('Bearer glued to the token', auth_post("Bearer$token"), 401);
case_ok('two tokens', auth_post("Bearer $token $token"), 401);
case_ok('a comma list of two', auth_post("Bearer $token, Bearer $token"), 401);
case_ok('a trailing comma', auth_post("Bearer $token,"), 401);
case_ok('padding after the signature', auth_post("Bearer $token=="), 401);
case_ok('a fourth segment', auth_post("Bearer $token.e30"), 401);
case_ok('Basic credentials', auth_post('Basic dXNlcjpwYXNz'), 401);
case_ok('the token without a scheme', auth_post($token), 401);
case_ok('a token signed with another secret', auth_post("Bearer $bad"), 401);
case_ok('two Authorization headers, valid then invalid',
    auth_post("Bearer $token", "Bearer $bad"), 'reject');
case_ok('two Authorization headers, invalid then valid',
    auth_post("Bearer $bad", "Bearer $token"), 'reject');
case_ok('two Authorization headers, both valid',
    auth_post("Bearer $token", "Bearer $token"), 'reject');
case_ok('Authorization and X-Authorization',
    post_with("X-Authorization: Bearer $token", 'Content-Type: application/json'),
    401);
case_ok('Authori_zation (an underscore)',
    post_with("Authori_zation: Bearer $token", 'Content-Type: application/json'),
    401);
case_ok('an 8 KB token', auth_post('Bearer ' . ('a' x 8192)), 'reject');
case_ok('an 8 KB token of dots', auth_post('Bearer ' . ('.' x 8192)), 'reject');
case_ok('a valid token padded to 7 KB', auth_post("Bearer $token"
    . (' ' x 7000) . 'x'), 401);
case_ok('a 6 KB token of three segments', auth_post('Bearer '
    . join('.', ('A' x 2000) x 3)), 401);
case_ok('a NUL after the token', auth_post("Bearer $token\x00"), 'reject');
case_ok('a NUL inside the token', auth_post('Bearer ' . substr($token, 0, 30)
    . "\x00" . substr($token, 30)), 'reject');
case_ok('a LF inside the token', auth_post('Bearer ' . substr($token, 0, 30)
    . "\n" . substr($token, 30)), 'reject');
case_ok('a CR inside the token', auth_post('Bearer ' . substr($token, 0, 30)
    . "\r" . substr($token, 30)), 'reject');
case_ok('a CRLF and a new header inside the token',
    auth_post('Bearer ' . substr($token, 0, 30) . "\r\nX-Injected: 1\r\n"
    . substr($token, 30)), 'reject');
for my $b ("\x01", "\x1b", "\x7f", "\xff", "\xc3\xa9") {
	case_ok('the byte(s) ' . esc($b) . ' after the token',
	    auth_post("Bearer $token$b"), 401);
}

# The header segment is parsed before the signature is checked: hostile
# JSON there must be a plain 401.
sub with_header {
	my ($hdr) = @_;
	my (undef, $rest) = split /\./, $token, 2;
	return encode_base64url($hdr) . ".$rest";
}
case_ok('a 4500-deep JOSE header', auth_post('Bearer '
    . with_header('[' x 4500)), 401);
case_ok('a 2000-deep array in the JOSE header', auth_post('Bearer '
    . with_header('{"alg":"HS256","x":' . '[' x 2000 . ']' x 2000 . '}')),
    401);
case_ok('a JOSE header with a raw NUL', auth_post('Bearer '
    . with_header(qq({"alg":"HS256"}\x00))), 401);
case_ok('a JOSE header of invalid UTF-8', auth_post('Bearer '
    . with_header(qq({"alg":"HS256","x":"\xc0\xaf"}))), 401);
case_ok('a JOSE header with alg "none"', auth_post('Bearer '
    . with_header('{"alg":"none","typ":"JWT"}')), 401);
case_ok('a JOSE header with alg "HS256\u0000x"', auth_post('Bearer '
    . with_header('{"alg":"HS256\u0000x","typ":"JWT"}')), 401);

# Signed with the real secret but hiding a NUL escape: the part before the
# NUL is a valid value, the whole is not (SPEC: sub not a UUID, wrong aud
# or role, malformed: 401). A C string cut at the NUL must not pass.
my %nul_claims = (
	'sub "<uuid>\u0000x"' => [sub => "$user\x{0}x"],
	'aud "authenticated\u0000x"' => [claims => { aud => "authenticated\x{0}x" }],
	'role "authenticated\u0000admin"' => [claims => {
	    role => "authenticated\x{0}admin" }],
	'tier "pro\u0000"' => [claims => { tier => "pro\x{0}" }],
	'alg "HS256\u0000none" (signed)' => [header => {
	    alg => "HS256\x{0}none", typ => 'JWT' }],
);
for my $name (sort keys %nul_claims) {
	my $t = make_token(sub => $user, @{ $nul_claims{$name} });
	case_ok("a signed token with $name", auth_post("Bearer $t"), 401);
}
case_ok('a signed token with a lone surrogate in sub', auth_post('Bearer '
    . signed_raw(qq({"sub":"$user\\ud800","aud":"authenticated",)
    . qq("role":"authenticated","exp":) . (time + 3600) . '}')), 401);
case_ok('a signed token with a 5000-deep claim', auth_post('Bearer '
    . signed_raw(qq({"sub":"$user","aud":"authenticated",)
    . qq("role":"authenticated","exp":) . (time + 3600) . ',"x":'
    . '[' x 5000 . ']' x 5000 . '}')), 'reject');

# A token over a raw claims text, signed with the stack's secret.
sub signed_raw {
	my ($claims) = @_;
	require Digest::SHA;
	my $h = encode_base64url('{"alg":"HS256","typ":"JWT"}');
	my $b = encode_base64url($claims);
	return "$h.$b." . encode_base64url(Digest::SHA::hmac_sha256("$h.$b",
	    $env->{SUPABASE_JWT_SECRET}));
}

# --- Content-Type --------------------------------------------------------------

sub ct_post {
	my (@ct) = @_;
	return post_with("Authorization: Bearer $token",
	    map { "Content-Type: $_" } @ct);
}
for my $ct ('application/json', 'APPLICATION/JSON', 'Application/Json',
    'application/json; charset=utf-8', 'application/json;charset=UTF-8',
    'application/json ; charset=utf-8', '  application/json  ') {
	case_ok("Content-Type '$ct'", ct_post($ct), 202);
}
for my $ct ('application/jsonx', 'application/json-patch+json',
    'application/jsonp', 'text/json', 'text/plain', '*/*',
    'application/x-www-form-urlencoded', 'application/ json',
    'multipart/form-data; boundary=application/json',
    'text/plain; x=application/json', 'application/json,text/plain',
    'application/json' . "\x01", "application/json\x0b", "\xfe\xff",
    'application/' . ('j' x 8000)) {
	case_ok('Content-Type ' . esc($ct, 60), ct_post($ct), 415,
	    code => 'unsupported_media_type');
}
case_ok('an empty Content-Type', ct_post(''), 415);
case_ok('no Content-Type', post_with("Authorization: Bearer $token"), 415);
case_ok('Content-Type with a NUL', ct_post("application/json\x00"), 'reject');
case_ok('Content-Type charset=utf-16 on a UTF-8 body',
    ct_post('application/json; charset=utf-16'), 'either');
case_ok('two Content-Types, JSON first', ct_post('application/json',
    'text/plain'), 'either');
case_ok('two Content-Types, JSON second', ct_post('text/plain',
    'application/json'), 'either');

# --- Idempotency-Key -------------------------------------------------------------

sub key_post {
	my (@keys) = @_;
	return post_with("Authorization: Bearer $token",
	    'Content-Type: application/json',
	    map { "Idempotency-Key: $_" } @keys);
}
my %bad_keys = (
	'a control byte' => "key\x01value",
	'an ESC sequence' => "key\x1b[2J",
	'a DEL byte' => "key\x7f",
	'a tab inside' => "key\tvalue",
	'UTF-8 letters' => "\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87",
	'a Latin-1 byte' => "caf\xe9",
	'invalid UTF-8' => "\xff\xfe\xc0\xaf",
	'129 characters' => 'k' x 129,
	'8000 characters' => 'k' x 8000,
);
for my $name (sort keys %bad_keys) {
	case_ok("Idempotency-Key with $name", key_post($bad_keys{$name}), 400,
	    code => 'invalid_field');
}
case_ok('an empty Idempotency-Key', key_post(''), 400, code => 'invalid_field');
case_ok('Idempotency-Key with a NUL', key_post("key\x00value"), 'reject');
case_ok('Idempotency-Key with a bare CR', key_post("key\rvalue"), 'reject');
case_ok('Idempotency-Key with a space inside', key_post('key value'),
    'either');

my $k128 = join('', map { chr(0x21 + $_ % 94) } 0 .. 127);
my $first = case_ok('Idempotency-Key of 128 printable characters',
    key_post($k128), 202);
my $again = case_ok('the same 128-character key again', key_post($k128), 202,
    replay => 1);
is(record_id($again), record_id($first),
    'the same key answers the same record');
my $sqlkey = q{k');DELETE/**/FROM/**/image_generations;--};
$first = case_ok('an SQL-shaped Idempotency-Key', key_post($sqlkey), 202);
$again = case_ok('the SQL-shaped key again', key_post($sqlkey), 202,
    replay => 1);
is(record_id($again), record_id($first), 'the SQL-shaped key is just a key');

# nginx drops header names with an underscore: Idempotency_Key must not be
# taken for Idempotency-Key (both would be HTTP_IDEMPOTENCY_KEY).
{
	my @ids;
	for (1, 2) {
		my $a = case_ok("Idempotency_Key (underscore), POST $_",
		    post_with("Authorization: Bearer $token",
		    'Content-Type: application/json', 'Idempotency_Key: under'),
		    202);
		push @ids, record_id($a) // '';
	}
	isnt($ids[0], $ids[1], 'Idempotency_Key is not an Idempotency-Key');
}

# Two keys: nginx 1.22 passes both, 1.23+ joins them "a, b"; either way
# the program answers 400.
{
	my $a = case_ok('two Idempotency-Key headers', key_post('dup-key-a',
	    'dup-key-b'), 'either');
	# SPEC allows one key: a second one is refused, whatever nginx does.
	is($a->{status}, 400, 'two Idempotency-Key headers: 400');
}

# --- If-None-Match junk on the status page -------------------------------------

sub status_get {
	my (@h) = @_;
	return exchange("GET $P/status HTTP/1.1\r\nHost: localhost\r\n"
	    . "Connection: close\r\nAuthorization: Bearer $token\r\n"
	    . join('', map { "$_\r\n" } @h) . "\r\n");
}
my $base = status_get();
my $a0 = $base->{answers}[0] // {};
is($a0->{status}, 200, 'GET status answers 200') or diag esc($base->{raw});
my $etag = $a0->{headers}{etag} // '"none"';
like($etag, qr/^"[^"]+"$/, 'it has a strong ETag');
is((status_get("If-None-Match: $etag")->{answers}[0] // {})->{status}, 304,
    'its ETag answers 304');

# 200 (no match) or 304 (a match: * matches any current representation);
# an error only as a 4xx JSON.
sub inm_ok {
	my ($name, $r) = @_;
	my $a = $r->{answers}[0] // {};
	my $st = $a->{status} // 0;
	ok(!$r->{timeout}, "$name: answered within ${TIMEOUT} s");
	ok($st == 200 || $st == 304 || ($st >= 400 && $st < 500),
	    "$name: 200, 304 or 4xx (got $st)") or diag esc($r->{raw});
	if ($st == 200) {
		my $j = eval { $json->decode($a->{body}) };
		ok(ref $j eq 'HASH' && $j->{record_id}, "$name: the status JSON");
	} elsif ($st >= 400) {
		json_error_ok($name, $a);
	}
	return $st;
}
my %inm = (
	'an unterminated tag' => '"abc',
	'W/ alone' => 'W/',
	'W/" alone' => 'W/"',
	'W/W/W/' => 'W/W/W/"x"',
	'commas only' => ',,,,,,',
	'a thousand quotes' => '"' x 1001,
	'6 KB of tags' => join(', ', ('"abcdefgh"') x 600),
	'a control byte' => qq("\x01"),
	'bytes FF FE' => qq("\xff\xfe"),
	'junk before the tag' => "junk $etag",
	'a tag with a LF inside' => substr($etag, 0, 5) . "\n" . substr($etag, 5),
	'percent escapes' => '"%00%ff%0d%0a"',
	'the tag unquoted' => substr($etag, 1, -1),
	'the tag with a weak prefix' => "W/$etag",
);
for my $name (sort keys %inm) {
	inm_ok("If-None-Match with $name", status_get("If-None-Match: $inm{$name}"));
}
is(inm_ok('If-None-Match: *', status_get('If-None-Match: *')), 304,
    'If-None-Match: * matches (RFC 9110 13.1.2)');
inm_ok('If-None-Match with a NUL', status_get("If-None-Match: \"a\x00b\""));
inm_ok('If-None-Match 8 KB', status_get('If-None-Match: "' . ('e' x 8190) . '"'));
inm_ok('two If-None-Match headers', status_get('If-None-Match: "x"',
    "If-None-Match: $etag"));
inm_ok('If-Match junk', status_get("If-Match: \x01junk"));
inm_ok('If-Modified-Since junk', status_get('If-Modified-Since: yesterday'));
inm_ok('a junk Range', status_get('Range: bytes=-1,0-0,5-1,' . ('1-2,' x 100)));
case_ok('If-None-Match: * on a POST', post_with("Authorization: Bearer $token",
    'Content-Type: application/json', 'If-None-Match: *'), 202);

# --- Proxy (httpoxy) -------------------------------------------------------------

# Every location of nginx/scenegen-api.conf that passes to FastCGI blanks
# HTTP_PROXY, and the stack's nginx runs that file.
{
	my $conf_file = project_dir() . '/nginx/scenegen-api.conf';
	open my $fh, '<', $conf_file or die "$conf_file: $!";
	my $conf = do { local $/; <$fh> };
	$conf =~ s/#[^\n]*//g;
	my @blocks = $conf =~ /(location\s[^{]*\{[^}]*\})/g;
	my @fcgi = grep { /\bfastcgi_pass\b/ } @blocks;
	ok(@fcgi >= 2, 'scenegen-api.conf has the FastCGI locations');
	for my $b (@fcgi) {
		my ($loc) = $b =~ /^(location\s[^{]*)/;
		$loc =~ s/\s+$//;
		like($b, qr/\bfastcgi_param\s+HTTP_PROXY\s+""\s*;/,
		    "$loc sets fastcgi_param HTTP_PROXY \"\"");
	}
	my $stack_conf = "$env->{STACK_DIR}/nginx/nginx.conf";
	if (open my $sc, '<', $stack_conf) {
		my $text = do { local $/; <$sc> };
		like($text, qr{include\s+\Q$conf_file\E\s*;},
		    "the stack's nginx includes $conf_file");
	}
}
for my $proxy ('http://127.0.0.1:9/', 'http://169.254.169.254:80/',
    "http://\x01/", ('p' x 4000)) {
	my $t = time;
	case_ok('a Proxy header ' . esc($proxy, 40), post_with(
	    "Authorization: Bearer $token", 'Content-Type: application/json',
	    "Proxy: $proxy"), 202);
	cmp_ok(time - $t, '<', 2, 'it answered at once');
}
{
	my $r = exchange("GET /healthz HTTP/1.1\r\nHost: localhost\r\n"
	    . "Connection: close\r\nProxy: http://127.0.0.1:9/\r\n\r\n");
	is(($r->{answers}[0] // {})->{status}, 200, 'healthz with a Proxy header: 200');
}

# --- other headers clients may forge --------------------------------------------

case_ok('junk forwarding headers', post_with("Authorization: Bearer $token",
    'Content-Type: application/json', "X-Forwarded-For: \x01, ' OR 1=1",
    'X-Real-IP: 999.999.999.999', 'Forwarded: for="_gazonk"',
    'X-Forwarded-Host: evil.example', 'X-Original-URL: /healthz',
    'X-Rewrite-URL: /healthz'), 202);
case_ok('a Cookie and a Referer of junk', post_with(
    "Authorization: Bearer $token", 'Content-Type: application/json',
    'Cookie: ' . ("a=\x7f;" x 500), "Referer: \xff\xfe"), 202);

# --- afterwards ----------------------------------------------------------------

is((exchange("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    ->{answers}[0] // {})->{status}, 200, 'afterwards: GET /healthz answers 200');
my ($parent_after, $workers_after) = api_pids();
is($parent_after, $api_parent, 'the API parent process is the same');
is(scalar @$workers_after, scalar @$api_workers, 'as many workers as before');
# No bound on the whole file: each exchange has its own timeout.
note sprintf('the whole file ran in %.1f s', time - $t0);
no_leaks_ok();

done_testing();
