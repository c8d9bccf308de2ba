#!/usr/bin/perl
# Each token rule of SPEC.md "Authentication": only an HS256 token signed
# with the project's secret, unexpired, already valid, for the configured
# audience, role `authenticated` and a UUID `sub` is accepted; everything
# else is 401 (WWW-Authenticate: Bearer) and creates no row. The tier comes
# from the token. A valid token of another user sees 404 for this chapter
# and its records.
use strict;
use warnings;
use Test::More;
use Digest::SHA qw(hmac_sha256 hmac_sha512);
use JSON::PP;
use MIME::Base64 qw(encode_base64url encode_base64);
use Scenegen::Test qw(api_post api_status make_token new_chapter new_uuid
    is_api_error count_rows sql1 stack_env);

my ($user, $chapter, $token) = new_chapter();
my $secret = stack_env()->{SUPABASE_JWT_SECRET};
my $canon = JSON::PP->new->canonical;
my $now = time;
my $rows = 0;

sub b64 { encode_base64url($_[0]) }

# A JWT from a header and claims (hashes or raw text), signed by $sign
# (a code ref given the signing input) or with the literal signature $sig.
sub jwt {
	my (%o) = @_;
	my $h = b64(ref $o{header} ? $canon->encode($o{header}) : $o{header});
	my $c = b64(ref $o{claims} ? $canon->encode($o{claims}) : $o{claims});
	my $sig = exists $o{sig} ? $o{sig} : b64($o{sign}->("$h.$c"));
	return "$h.$c.$sig";
}

sub claims {
	my (%over) = @_;
	my %c = (sub => $user, aud => 'authenticated', role => 'authenticated',
	    iat => $now, exp => $now + 3600);
	for (keys %over) {
		if (defined $over{$_}) { $c{$_} = $over{$_} } else { delete $c{$_} }
	}
	return \%c;
}

sub post {
	my ($tok, %o) = @_;
	return api_post(token => $tok, chapter => $o{chapter} // $chapter,
	    scene => $o{scene} // 1,
	    body => { scene_description => 'A young wizard discovering magic' });
}

sub rejected {
	my ($name, $tok) = @_;
	my $before = count_rows(chapter => $chapter, user => $user);
	my $r = post($tok);
	is_api_error($r, 401, 'unauthorized', $name);
	like($r->{headers}{'www-authenticate'} // '', qr/\ABearer\b/,
	    "$name: WWW-Authenticate: Bearer");
	is(count_rows(chapter => $chapter, user => $user), $before,
	    "$name: no row");
	is($before, $rows, "$name: rows so far = 202s so far");
}

sub accepted {
	my ($name, $tok) = @_;
	my $r = post($tok);
	is($r->{status}, 202, "$name: 202") or diag "$r->{status} $r->{content}";
	$rows++ if $r->{status} == 202;
	is(count_rows(chapter => $chapter, user => $user), $rows, "$name: one row more");
	return $r;
}

my $hs256 = sub { hmac_sha256($_[0], $secret) };

# --- valid -------------------------------------------------------------------
accepted('valid token (new_chapter)', $token);
accepted('valid token built here', jwt(header => { alg => 'HS256', typ => 'JWT' },
    claims => claims(), sign => $hs256));
accepted('valid token without typ', jwt(header => { alg => 'HS256' },
    claims => claims(), sign => $hs256));
accepted('aud an array containing authenticated', jwt(
    header => { alg => 'HS256', typ => 'JWT' },
    claims => claims(aud => ['other-service', 'authenticated']), sign => $hs256));
accepted('no iat, no nbf (optional)', jwt(header => { alg => 'HS256', typ => 'JWT' },
    claims => claims(iat => undef), sign => $hs256));
accepted('nbf in the past', jwt(header => { alg => 'HS256', typ => 'JWT' },
    claims => claims(nbf => $now - 60), sign => $hs256));

# --- signatures and algorithms -----------------------------------------------
rejected('wrong key', make_token(sub => $user, secret => 'not-the-secret'));
rejected('secret with a trailing newline', make_token(sub => $user,
    secret => "$secret\n"));
rejected('alg none, empty signature', jwt(header => { alg => 'none', typ => 'JWT' },
    claims => claims(), sig => ''));
rejected('alg none, a valid-looking signature', jwt(
    header => { alg => 'none', typ => 'JWT' }, claims => claims(), sign => $hs256));
rejected('alg None, empty signature', jwt(header => { alg => 'None', typ => 'JWT' },
    claims => claims(), sig => ''));
rejected('alg HS512 signed with the secret', jwt(
    header => { alg => 'HS512', typ => 'JWT' }, claims => claims(),
    sign => sub { hmac_sha512($_[0], $secret) }));
rejected('alg RS256 with an HMAC of the secret', jwt(
    header => { alg => 'RS256', typ => 'JWT' }, claims => claims(), sign => $hs256));
rejected('no alg', jwt(header => { typ => 'JWT' }, claims => claims(), sign => $hs256));
{
	my ($h, $c, $s) = split /\./, $token;
	my $other = b64($canon->encode(claims(sub => new_uuid())));
	rejected('claims changed, signature kept', "$h.$other.$s");
	rejected('signature of another token', "$h.$c." . (split /\./,
	    make_token(sub => new_uuid()))[2]);
	rejected('signature cut short', "$h.$c." . substr($s, 0, 20));
	rejected('signature with a flipped character', "$h.$c."
	    . (substr($s, 0, 1) eq 'A' ? 'B' : 'A') . substr($s, 1));
	rejected('empty signature', "$h.$c.");
}

# --- time ------------------------------------------------------------------
rejected('expired an hour ago', make_token(sub => $user,
    claims => { exp => $now - 3600, iat => $now - 7200 }));
rejected('expired ten minutes ago', make_token(sub => $user,
    claims => { exp => $now - 600, iat => $now - 4200 }));
rejected('exp missing', make_token(sub => $user, claims => { exp => undef }));
rejected('nbf in an hour', make_token(sub => $user, claims => { nbf => $now + 3600 }));

# --- audience and role -------------------------------------------------------
rejected('aud another string', make_token(sub => $user,
    claims => { aud => 'other-service' }));
rejected('aud missing', make_token(sub => $user, claims => { aud => undef }));
rejected('aud an array without authenticated', make_token(sub => $user,
    claims => { aud => ['other-service', 'anon'] }));
rejected('aud an empty array', make_token(sub => $user, claims => { aud => [] }));
rejected("role anon (Supabase's public key)", make_token(sub => $user,
    claims => { role => 'anon' }));
rejected("Supabase's anon key itself", make_token(sub => undef,
    claims => { sub => undef, role => 'anon', aud => undef,
    iss => 'supabase', exp => $now + 10 * 365 * 86400 }));
rejected('role service_role', make_token(sub => $user,
    claims => { role => 'service_role' }));
rejected('role missing', make_token(sub => $user, claims => { role => undef }));

# --- sub -----------------------------------------------------------------------
rejected('sub not a UUID', make_token(sub => 'user-1234'));
rejected('sub empty', make_token(sub => ''));
rejected('sub missing', make_token(claims => { sub => undef }));
rejected('sub a number', jwt(header => { alg => 'HS256', typ => 'JWT' },
    claims => claims(sub => 12345), sign => $hs256));
rejected('sub a UUID with trailing text', make_token(sub => "$user;x"));

# --- malformed -----------------------------------------------------------------
{
	my ($h, $c, $s) = split /\./, $token;
	rejected('two segments', "$h.$c");
	rejected('four segments', "$h.$c.$s.$s");
	rejected('bad base64', '#$%^.&*()!.@@@');
	rejected('standard base64 with padding', join '.',
	    map { my $x = encode_base64($_, ''); $x } 
	    $canon->encode({ alg => 'HS256', typ => 'JWT' }),
	    $canon->encode(claims()), 'x');
	rejected('header not JSON', jwt(header => 'not json', claims => claims(),
	    sign => $hs256));
	rejected('header a JSON array', jwt(header => '["HS256"]', claims => claims(),
	    sign => $hs256));
	rejected('claims not JSON', jwt(header => { alg => 'HS256', typ => 'JWT' },
	    claims => '{"sub": ', sign => $hs256));
	rejected('claims a JSON string', jwt(header => { alg => 'HS256', typ => 'JWT' },
	    claims => '"' . $user . '"', sign => $hs256));
	rejected('huge token (6000 characters of garbage)',
	    join('.', 'a' x 2000, 'b' x 2000, 'c' x 1998));
	rejected('a single dot', '.');
	rejected('three empty segments', '..');
}

# A token too large for nginx's header buffers: a JSON 4xx, no row.
{
	my $before = count_rows(chapter => $chapter, user => $user);
	my $r = post(jwt(header => { alg => 'HS256', typ => 'JWT' },
	    claims => claims(pad => 'x' x 20000), sign => $hs256));
	ok($r->{status} >= 400 && $r->{status} < 500,
	    "token over nginx's header limit: 4xx (got $r->{status})");
	is_api_error($r, $r->{status}, undef, 'token over the header limit');
	is(count_rows(chapter => $chapter, user => $user), $before,
	    'token over the header limit: no row');
}

# --- tier ----------------------------------------------------------------------
for my $c (['app_metadata.tier', { app_metadata => { provider => 'email',
    tier => 'pro' } }, 'pro'],
    ['top-level tier', { tier => 'premium' }, 'premium'],
    ['no tier claim', {}, 'free'],
    ['app_metadata without tier', { app_metadata => { provider => 'email' } },
    'free']) {
	my $r = accepted("tier: $c->[0]", make_token(sub => $user, claims => $c->[1]));
	is(sql1("SELECT tier FROM image_generations WHERE id = :'id'",
	    id => ($r->{json} // {})->{record_id} // new_uuid()), $c->[2],
	    "tier: $c->[0] -> row tier '$c->[2]'");
}

# --- another user ----------------------------------------------------------
my ($other_user, $other_chapter, $other_token) = new_chapter();
{
	my $before = count_rows(chapter => $chapter);
	my $r = post($other_token);
	is_api_error($r, 404, 'not_found', "another user's valid token on this chapter");
	is(count_rows(chapter => $chapter), $before, "another user's token: no row");
	is(count_rows(user => $other_user), 0, "another user's token: no row of theirs");

	my $s = api_status(token => $other_token, chapter => $chapter, scene => 1);
	is_api_error($s, 404, 'not_found', "status of another user's record");
	unlike($s->{content}, qr/[0-9a-f]{8}-[0-9a-f]{4}-/, 'no record id leaks');

	# The same answer as for a chapter that does not exist.
	my $u = api_post(token => $other_token, chapter => new_uuid(),
	    body => { scene_description => 'A' });
	is($u->{status}, 404, 'unknown chapter: 404 as well');
	is_deeply($u->{json}, $r->{json},
	    'not-yours and does-not-exist are indistinguishable');

	my $own = api_status(token => $token, chapter => $chapter, scene => 1);
	is($own->{status}, 200, 'the owner still reads the status: 200');
}

# --- GET status with bad tokens ------------------------------------------------
for my $c (['expired', make_token(sub => $user, claims => { exp => $now - 3600 })],
    ['wrong key', make_token(sub => $user, secret => 'nope')],
    ['alg none', jwt(header => { alg => 'none' }, claims => claims(), sig => '')]) {
	my $s = api_status(token => $c->[1], chapter => $chapter, scene => 1);
	is_api_error($s, 401, 'unauthorized', "status with a token $c->[0]");
	like($s->{headers}{'www-authenticate'} // '', qr/\ABearer\b/,
	    "status with a token $c->[0]: WWW-Authenticate: Bearer");
}

is(count_rows(chapter => $chapter, user => $user), $rows,
    'rows for the chapter = number of 202s');

done_testing();
