#!/usr/bin/perl
# Write the seed corpora of fuzz/corpus/<target>/ (checked in; run once
# after changing this file). Seeds are small, readable and name what they
# are: the requests and answers of the tests and of modelslab-v7.md,
# tokens signed with the harness's fixed secret, JSONTestSuite's parsing
# cases (up to 16 KiB) for the body.
#
# usage: fuzz/make-seeds.pl [JSONTestSuite/test_parsing directory]
use strict;
use warnings;
use FindBin;
use Digest::SHA qw(hmac_sha256);
use File::Path qw(make_path remove_tree);
use MIME::Base64 qw(encode_base64url);

my $here = "$FindBin::Bin/..";
my $corpus = "$here/fuzz/corpus";
my $jsts = shift // '/work/shared/testdata/JSONTestSuite/test_parsing';

# Must match fuzz/fuzz_jwt.c.
my $SECRET = 'fuzz-secret-0123456789abcdef0123456789abcdef';
my $NOW = 1700000000;
my $ISSUER = 'https://fuzz.supabase.co/auth/v1';

my $uuid = '3f0c2a9e-5b7d-4c1e-9a8f-0123456789ab';
my $UUID = uc $uuid;

sub seed {
	my ($target, $name, $bytes) = @_;
	make_path("$corpus/$target");
	$name =~ s/[^A-Za-z0-9._+-]/_/g;
	open my $fh, '>:raw', "$corpus/$target/$name" or die "$name: $!";
	print $fh $bytes;
	close $fh;
}

remove_tree($corpus);

# --- fuzz_route: selector byte (method index) + URI ---
# fuzz_route.c methods: 0 GET 1 HEAD 2 POST 3 PUT 4 DELETE 5 PATCH
# 6 OPTIONS 7 get ...; 0xf0: "METHOD URI" from the input.
my $scene = "/api/v1/chapters/$uuid/images/scenes";
my %routes = (
	healthz => [0, '/healthz'],
	healthz_head => [1, '/healthz'],
	healthz_post => [2, '/healthz'],
	healthz_query => [0, '/healthz?x=1'],
	create => [2, "$scene/1"],
	create_upper => [2, "/api/v1/chapters/$UUID/images/scenes/42"],
	create_max => [2, "$scene/10000"],
	create_over => [2, "$scene/10001"],
	create_zero => [2, "$scene/0"],
	create_zeros => [2, "$scene/00007"],
	create_six_digits => [2, "$scene/100000"],
	create_get => [0, "$scene/1"],
	create_put => [3, "$scene/1"],
	create_query => [2, "$scene/3?a=b&c"],
	status => [0, "$scene/3/status"],
	status_head => [1, "$scene/3/status"],
	status_post => [2, "$scene/3/status"],
	status_slash => [0, "$scene/1/status/"],
	extra => [2, "$scene/1/extra"],
	no_scene => [2, $scene],
	no_scene_slash => [2, "$scene/"],
	v2 => [2, "/api/v2/chapters/$uuid/images/scenes/1"],
	bad_chapter => [2, '/api/v1/chapters/not-a-uuid/images/scenes/1'],
	short_chapter => [2, '/api/v1/chapters/3f0c2a9e/images/scenes/1'],
	escaped => [2, "/api/v1/chapters/$uuid/images/scenes/%31"],
	dotdot => [0, "/api/v1/chapters/$uuid/../../healthz"],
	double_slash => [0, '//healthz'],
	backslash => [0, '/api\\v1'],
	space => [0, '/heal thz'],
	high_byte => [0, "/healthz\xc3\xa9"],
	empty => [0, ''],
	root => [0, '/'],
	query_only => [0, '?/healthz'],
	raw_get => [0xf0, 'GET /healthz'],
	raw_post => [0xf0, "POST $scene/1"],
	raw_lower => [0xf0, "post $scene/1"],
	raw_empty_method => [0xf0, " $scene/1/status"],
	record => [0, "/api/v1/records/$uuid"],
	record_head => [1, "/api/v1/records/$UUID"],
	record_query => [0, "/api/v1/records/$uuid?x=1"],
	list => [0, "$scene?status=failed,pending&limit=20&cursor=AQACpfwXhYh-6Jw"],
	list_encoded => [0, "$scene?status=failed%2Ccanceled&limit=%32"],
	list_repeated => [0, "$scene?limit=1&limit=2"],
	list_empty_pair => [0, "$scene?limit=5&&status=in_progress"],
	list_unknown => [0, "$scene?cursor=&Foo.bar=1"],
	record_cancel => [2, "/api/v1/records/$uuid/cancel"],
	record_cancel_get => [0, "/api/v1/records/$uuid/cancel?x"],
);
seed('fuzz_route', $_, chr($routes{$_}[0]) . $routes{$_}[1])
    for keys %routes;

# --- fuzz_body: raw bodies ---
my %bodies = (
	minimal => '{"scene_description":"A"}',
	documented => '{"scene_description":"A young wizard discovering magic",'
	    . '"style":"watercolor","aspect_ratio":"1:1","script_id":null}',
	script_id => qq({"scene_description":"A castle at dawn","script_id":"$UUID"}),
	trimmed => qq({"scene_description":"  \\t A castle \\u3000","style":" noir "}),
	nbsp_only => '{"scene_description":"\u00a0\u2028"}',
	unicode => "{\"scene_description\":\"caf\xc3\xa9 \xf0\x9f\x90\x89\",\"style\":\"\xe6\xb0\xb4\"}",
	escapes => '{"scene_description":"a\"b\\\\c\/d\b\f\n\r\t\ud83d\ude00"}',
	style_control => '{"scene_description":"x","style":"a\u0007b"}',
	style_c1 => "{\"scene_description\":\"x\",\"style\":\"a\xc2\x85b\"}",
	ratio_bad => '{"scene_description":"x","aspect_ratio":"16:10"}',
	ratio_num => '{"scene_description":"x","aspect_ratio":16}',
	all_ratios => '{"scene_description":"x","aspect_ratio":"21:9"}',
	desc_number => '{"scene_description":5}',
	desc_null => '{"scene_description":null}',
	desc_missing => '{"style":"noir"}',
	desc_empty => '{"scene_description":"   "}',
	style_null => '{"scene_description":"x","style":null}',
	style_array => '{"scene_description":"x","style":["a"]}',
	script_bad => '{"scene_description":"x","script_id":"abc"}',
	dup_keys => '{"scene_description":"a","scene_description":"b"}',
	nul_escape => '{"scene_description":"a\u0000b"}',
	lone_surrogate => '{"scene_description":"\udc00"}',
	not_object => '[{"scene_description":"x"}]',
	string => '"scene_description"',
	truncated => '{"a":',
	trailing => '{"scene_description":"x"} x',
	invalid_utf8 => "{\"scene_description\":\"\xff\"}",
	overlong => "{\"scene_description\":\"\xc0\xaf\"}",
	nested => '{"scene_description":"x","extra":' . ('[' x 64) . (']' x 64) . '}',
	too_deep => '{"scene_description":"x","extra":' . ('[' x 65) . (']' x 65) . '}',
	long_2000 => '{"scene_description":"' . ("\xc3\xa9" x 2000) . '"}',
	long_2001 => '{"scene_description":"' . ("\xc3\xa9" x 2001) . '"}',
	numbers => '{"scene_description":"x","n":[-0,1e5,1.5E-3,0.1,123]}',
	bom => "\xef\xbb\xbf{\"scene_description\":\"x\"}",
	ws => " \r\n\t{ \"scene_description\" : \"x\" } \n",
	content_type => 'application/json; charset=utf-8',
	content_type_case => ' Application/JSON ',
	idempotency_key => 'k-0123456789abcdef',
);
seed('fuzz_body', $_, $bodies{$_}) for keys %bodies;
if (opendir my $dh, $jsts) {
	for my $f (sort readdir $dh) {
		next unless $f =~ /\.json$/ && -s "$jsts/$f" <= 16384;
		open my $in, '<:raw', "$jsts/$f" or next;
		local $/;
		my $b = <$in> // '';
		seed('fuzz_body', "jsts_$f", $b);
	}
} else {
	warn "no JSONTestSuite at $jsts: body seeds without it\n";
}

# --- fuzz_jwt: mode byte + token / header / payload / signing input ---
sub json_text {
	my ($h) = @_;
	# Fixed key order, so the seeds do not change from run to run.
	return '{' . join(',', map {
		my $v = $h->{$_};
		my $t = ref $v eq 'ARRAY' ? '[' . join(',', map { qq("$_") } @$v) . ']'
		    : ref $v eq 'HASH' ? json_text($v)
		    : $v =~ /^-?\d+(\.\d+)?$/ ? $v : qq("$v");
		qq("$_":$t);
	} sort keys %$h) . '}';
}
sub claims {
	my (%o) = @_;
	my %c = (sub => $uuid, aud => 'authenticated', role => 'authenticated',
	    iat => $NOW - 60, exp => $NOW + 3600);
	for (keys %o) {
		if (defined $o{$_}) { $c{$_} = $o{$_} } else { delete $c{$_} }
	}
	return json_text(\%c);
}
sub token {
	my ($header, $payload) = @_;
	my $si = encode_base64url($header) . '.' . encode_base64url($payload);
	return "$si." . encode_base64url(hmac_sha256($si, $SECRET));
}
my $H = '{"alg":"HS256","typ":"JWT"}';
my %payloads = (
	valid => claims(),
	upper_sub => claims(sub => $UUID),
	aud_array => claims(aud => ['other', 'authenticated']),
	tier_meta => claims(app_metadata => { tier => 'pro' }),
	tier_top => claims(tier => 'studio_2'),
	tier_bad => claims(tier => 'Pro Plan'),
	nbf => claims(nbf => $NOW - 10),
	nbf_future => claims(nbf => $NOW + 3600),
	expired => claims(exp => $NOW - 3600),
	skew => claims(exp => $NOW - 29),
	no_exp => claims(exp => undef),
	exp_string => claims(exp => 'soon'),
	anon => claims(role => 'anon'),
	no_sub => claims(sub => undef),
	issuer => claims(iss => $ISSUER),
	float_exp => claims(exp => $NOW + 0.5),
);
for my $n (sort keys %payloads) {
	my $p = $payloads{$n};
	seed('fuzz_jwt', "token_$n", "\x00" . token($H, $p));
	seed('fuzz_jwt', "payload_$n", "\x02$p");
}
seed('fuzz_jwt', 'token_issuer_cfg', "\x04" . token($H, $payloads{issuer}));
seed('fuzz_jwt', 'payload_issuer_cfg', "\x06$payloads{issuer}");
seed('fuzz_jwt', 'bearer', "\x01Bearer " . token($H, claims()));
seed('fuzz_jwt', 'bearer_case_tabs', "\x01 \tbearer\t" . token($H, claims()) . " \t");
seed('fuzz_jwt', 'bearer_empty', "\x01Bearer ");
seed('fuzz_jwt', 'basic', "\x01Basic dXNlcjpwYXNz");
seed('fuzz_jwt', 'header_no_typ', "\x02" . '{"alg":"HS256"}' . "\x00" . claims());
seed('fuzz_jwt', 'header_none', "\x02" . '{"alg":"none","typ":"JWT"}' . "\x00" . claims());
seed('fuzz_jwt', 'header_crit', "\x02" . '{"alg":"HS256","crit":["exp"]}' . "\x00" . claims());
seed('fuzz_jwt', 'header_typ_bad', "\x02" . '{"alg":"HS256","typ":"jwt"}' . "\x00" . claims());
seed('fuzz_jwt', 'signing_input', "\x03" . encode_base64url($H) . '.'
    . encode_base64url(claims()));
seed('fuzz_jwt', 'signing_input_padded', "\x03" . encode_base64url($H) . '.'
    . encode_base64url(claims()) . '==');
seed('fuzz_jwt', 'alg_none_unsigned', "\x00" . encode_base64url('{"alg":"none"}')
    . '.' . encode_base64url(claims()) . '.');
seed('fuzz_jwt', 'wrong_secret', "\x00" . do {
	my $si = encode_base64url($H) . '.' . encode_base64url(claims());
	"$si." . encode_base64url(hmac_sha256($si, 'not-the-secret'));
});

# --- fuzz_provider: status index, flags, body ---
# fuzz_provider.c codes: 0 200, 4 201, 7 0, 13 400, 14 401, 15 402,
# 16 403, 17 404, 19 408, 22 422, 24 429, 26 500, 28 502, 29 503, 30 504.
# Flags: bit 0 fetch, bit 1 a 64-byte cap, bits 2-3 transport, bit 4
# header lines first (up to "\n\n"), bit 7 create-body mode.
my $url = 'https://pub-3626123a908346a7a8be8d9295f44e26.r2.dev/generations/0a1b.png';
my $proxy = 'https://cdn2.stablediffusionapi.com/generations/0a1b.png';
my %answers = (
	create_success => [0, 0, qq({"status": "success", "generationTime": 3.2, "id": 12345678, "output": ["$url"], "proxy_links": ["$proxy"], "nsfw_content_detected": false, "webhook_status": "", "meta": {"model_id": "gen4_image", "prompt": "a castle", "seed": 123456789}, "tip": ""})],
	create_processing => [0, 0, qq({"status": "processing", "eta": 35, "message": "Try to fetch request after seconds estimated", "tip": "Your image is processing in background, you can get this image using fetch API", "fetch_result": "https://modelslab.com/api/v7/images/fetch/12345678", "id": 12345678, "output": [], "future_links": ["$url"], "meta": {}})],
	create_processing_string_id => [0, 0, '{"status":"processing","eta":"12.5","id":"abc-123_x.y","output":[]}'],
	create_processing_no_id => [0, 0, '{"status":"processing","eta":35}'],
	create_queued => [0, 0, '{"status":"queued","id":77}'],
	error_key => [14, 0, '{"status": "error", "message": "Invalid Api Key", "tip": "Get your API key"}'],
	error_key_200 => [0, 0, '{"status": "error", "messege": "Invalid Api Key"}'],
	error_credits => [15, 0, '{"status":"error","message":"Insufficient credits. Please recharge your wallet."}'],
	error_plan => [16, 0, '{"status":"error","message":"This feature is not available on your plan"}'],
	error_fields => [13, 0, '{"status": "error", "message": {"prompt": ["The prompt field is required."], "model_id": "bad"}}'],
	error_fields_200 => [0, 0, '{"status": "error", "message": {"prompt": ["The prompt field is required."]}}'],
	rate_limit_429 => [24, 0, '{"status": "error", "message": "Rate limit exceeded. Maximum 5 queued requests allowed.", "retry_after": 30}'],
	rate_limit_old => [0, 0, '{"status": "error", "messege": "Rate limit exceeded", "tips": "please wait for 30 seconds and try again"}'],
	retry_200 => [0, 0, '{"status":"error","message":"Something went wrong, please try again"}'],
	http_500 => [26, 0, '{"status":"error","message":"Internal Server Error"}'],
	http_502_html => [28, 0, '<html><body>Bad Gateway</body></html>'],
	http_503 => [29, 0, '{"status":"error","message":"Service Unavailable, try again later"}'],
	http_503_retry_after => [29, 0x10, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 120\r\nContent-Type: application/json\r\n\n" . '{"status":"error","message":"Service Unavailable"}'],
	http_429_retry_date => [24, 0x10, "retry-after:\t Wed, 21 Oct 2037 07:28:00 GMT\r\n\n" . '{"status":"error","message":"Rate limit exceeded"}'],
	retry_after_redirect => [24, 0x10, "Retry-After: 5\r\nHTTP/2 429\r\nRetry-After: 1.5\r\n\n{}"],
	http_504_empty => [30, 0, ''],
	http_404_create => [17, 0, '{"message":"Not Found"}'],
	http_404_fetch => [17, 1, '{"message":"Not Found"}'],
	fetch_processing => [0, 1, '{"status":"processing","eta":12,"id":12345678,"output":[]}'],
	fetch_processing_no_id => [0, 1, '{"status":"processing"}'],
	fetch_success => [0, 1, qq({"status": "success", "id": 12345678, "output": ["$url"], "proxy_links": ["$proxy"]})],
	fetch_success_proxy_only => [0, 1, qq({"status":"success","id":1,"output":[],"proxy_links":"$proxy"})],
	fetch_success_no_url => [0, 1, '{"status":"success","id":1,"output":[""]}'],
	fetch_failed => [0, 1, '{"status": "failed", "id": 12345678, "message": "Failed, Try Again", "output": []}'],
	fetch_unknown_id => [0, 1, '{"status": "failed", "id": "", "message": "Request not found", "output": ""}'],
	fetch_error_retry => [0, 1, '{"status":"error","message":"Server busy, retry"}'],
	webhook => [0, 0, qq({"status": "success", "id": 5, "output": ["$url"], "generationTime": 9, "track_id": "$uuid", "meta": {"model_id": "gen4_image"}})],
	unknown_status => [0, 0, "{\"status\":\"weird\\u0007\xc3\xa9\",\"id\":3}"],
	status_number => [0, 0, '{"status":1}'],
	truncated => [0, 0, '{"status": "success", "output": ["https://pub-'],
	not_object => [0, 0, '["status","success"]'],
	url_with_space => [0, 0, '{"status":"success","output":["https://a b/c.png"]}'],
	url_ftp => [0, 0, '{"status":"success","output":["ftp://a/b.png"]}'],
	id_dotdot => [0, 0, '{"status":"processing","id":".."}'],
	id_slash => [0, 0, '{"status":"processing","id":"../x"}'],
	id_float => [0, 0, '{"status":"processing","id":1.5}'],
	id_huge => [0, 0, '{"status":"processing","id":1e300}'],
	eta_negative => [0, 0, '{"status":"processing","id":1,"eta":-5,"generationTime":"nan"}'],
	transport_timeout => [0, 0x04, ''],
	transport_refused => [0, 0x08, ''],
	too_large => [0, 0x02, qq({"status": "success", "id": 1, "output": ["$url"]})],
	raw_code_299 => [0xe0, 0, "\x01\x2b" . '{"status":"success","id":1,"output":["https://x/y"]}'],
	raw_code_999 => [0xe0, 0, "\x03\xe7" . '{"status":"error"}'],
);
for my $n (sort keys %answers) {
	my ($code, $flags, $body) = @{$answers{$n}};
	seed('fuzz_provider', $n, chr($code) . chr($flags) . $body);
}
seed('fuzz_provider', 'create_body', "\x00\x80A castle at dawn\x00watercolor");
seed('fuzz_provider', 'create_body_style_suffix', "\x00\x80A castle, noir style\x00noir");
seed('fuzz_provider', 'create_body_no_style', "\x00\x80\"quoted\" \\ and \x01 control");

# --- fuzz_redis_msg: mode byte + RESP2 replies ---
sub bulk { my ($s) = @_; return '$' . length($s) . "\r\n$s\r\n" }
sub arr { return '*' . scalar(@_) . "\r\n" . join('', @_) }
sub entry {
	my ($id, @kv) = @_;
	return arr(bulk($id), arr(map { bulk($_) } @kv));
}
my $stream = '{scenegen}:jobs';
my %resp = (
	read_one => [0, arr(arr(bulk($stream), arr(entry('1700000000000-0', 'id', $uuid))))],
	read_two => [0, arr(arr(bulk($stream), arr(entry('1700000000000-0', 'id', $uuid),
	    entry('1700000000001-5', 'id', $UUID))))],
	read_bad_uuid => [0, arr(arr(bulk($stream), arr(entry('1-0', 'id', 'not-a-uuid'))))],
	read_other_field => [0, arr(arr(bulk($stream), arr(entry('1-0', 'x', 'y', 'id', $uuid))))],
	read_odd_fields => [0, arr(arr(bulk($stream), arr(entry('1-0', 'id'))))],
	read_nil_fields => [0, arr(arr(bulk($stream), arr(arr(bulk('1-0'), "*-1\r\n"))))],
	read_int_id => [0, arr(arr(bulk($stream), arr(arr(":5\r\n", arr(bulk('id'), bulk($uuid))))))],
	read_long_id => [0, arr(arr(bulk($stream), arr(entry('9' x 70 . '-0', 'id', $uuid))))],
	read_timeout => [0, "*-1\r\n"],
	read_nogroup => [0, "-NOGROUP No such key '$stream' or consumer group 'scenegend'\r\n"],
	read_error => [0, "-ERR something\r\n"],
	read_status => [0, "+OK\r\n"],
	claim => [1, arr(bulk('0-0'), arr(entry('1700000000000-0', 'id', $uuid)), arr())],
	claim_cursor => [1, arr(bulk('1700000000000-1'), arr(entry('1-0', 'id', $uuid), "*-1\r\n"), arr(bulk('2-0')))],
	claim_deleted => [1, arr(bulk('0-0'), arr(arr(bulk('3-0'), "*-1\r\n")), arr())],
	claim_nogroup => [1, "-NOGROUP No such key\r\n"],
	claim_short => [1, arr(bulk('0-0'))],
	claim_int_cursor => [1, arr(":0\r\n", arr())],
	entries => [2, arr(entry('1-0', 'id', $uuid), entry('2-0', 'id', $uuid))],
	entries_nested => [2, arr(arr(arr(arr(bulk('x')))))],
);
for my $n (sort keys %resp) {
	seed('fuzz_redis_msg', $n, chr($resp{$n}[0]) . $resp{$n}[1]);
}

# --- fuzz_config: mode byte + value / lines ---
my %config = (
	value_int => "\x00" . '42',
	value_negative => "\x00" . '-5',
	value_double => "\x00" . '0.25',
	value_exp => "\x00" . '1e3',
	value_hex => "\x00" . '0x10',
	value_nan => "\x00" . 'nan',
	value_inf => "\x00" . '-inf',
	value_yes => "\x00" . 'YES',
	value_off => "\x00" . 'off',
	value_space => "\x00" . ' 7',
	value_long_max => "\x00" . '9223372036854775807',
	value_long_over => "\x00" . '9223372036854775808',
	value_file_newlines => "\x00" . "secret\r\n\n",
	value_file_nul => "\x00" . "sec\x00ret\n",
	redis_plain => "\x01redis://localhost:6379/0",
	redis_auth => "\x01redis://user:p%40ss\@redis.example:6380/15",
	redis_password => "\x01redis://:secret\@127.0.0.1",
	redis_password_only => "\x01redis://secret\@host",
	redis_no_host => "\x01redis://:6379",
	redis_port_zero => "\x01redis://h:0",
	redis_port_big => "\x01redis://h:65536",
	redis_db_big => "\x01redis://h/10001",
	redis_ipv6 => "\x01redis://[::1]:6379/0",
	redis_unix => "\x01unix:///run/redis/redis.sock?db=3&password=x",
	redis_unix_relative => "\x01unix://run/redis.sock",
	redis_unix_bad_query => "\x01unix:///r.sock?db=&x",
	redis_other => "\x01rediss://h",
	api_base => "\x02",
	api_mode => "\x02\x07" . '0640' . "\n\x09" . '4',
	api_bad_mode => "\x02\x07" . '0999',
	api_alg => "\x02\x05" . 'RS256',
	api_level => "\x02\x0a" . 'debug' . "\n\x04" . $ISSUER,
	api_bad_redis => "\x02\x01" . 'http://x',
	api_empty_audience => "\x02\x03 ",
	daemon_base => "\x03",
	daemon_poll => "\x03\x10" . '5' . "\n\x11" . '1',
	daemon_base_url => "\x03\x03" . 'ftp://x' ,
	daemon_slashes => "\x03\x03" . 'https://x///' . "\n\x07" . '///',
	daemon_bool => "\x03\x08" . 'maybe',
	daemon_reload => "\x03\x01\n" . "SCENEGEN_LOG_LEVEL=debug\n"
	    . "SCENEGEN_LOG_LEVEL='warning' # comment\nSCENEGEN_LOG_LEVEL=\"bogus\"\n",
);
seed('fuzz_config', $_, $config{$_}) for keys %config;

# --- fuzz_admin_form: a dashboard query string or form body ---
my %forms = (
	filter => "status=failed&class=Provider+said+N&user=$uuid",
	bulk => 'action=retry&expected=7&csrf=abc_-&status=failed',
	login => 'token=op-0123456789abcdef%21',
	escapes => 'class=%C3%A9t%C3%A9&&chapter=',
	upper => "chapter=$UUID&action=cancel&expected=0",
);
seed('fuzz_admin_form', $_, $forms{$_}) for keys %forms;

print "seeds written under $corpus\n";
