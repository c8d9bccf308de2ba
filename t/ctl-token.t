#!/usr/bin/perl
# scenegenctl token: a Supabase-style HS256 token that the running API
# accepts (POST 202 for a chapter of that user), with the claims of
# scripts/token.pl (sub, aud, role, iat, exp = iat + ttl, app_metadata
# with the tier); the secret may come from SUPABASE_JWT_SECRET_FILE; a
# token signed with another secret is refused (401).
use strict;
use warnings;
use File::Temp qw(tempdir);
use FindBin;
use MIME::Base64 qw(decode_base64url);
use Test::More;
use lib "$FindBin::Bin/lib";
use Scenegen::Ops qw(ops_build_dir ctl);
use Scenegen::Test qw(json api_post new_chapter stack_env);

my $ctl = ops_build_dir() . '/scenegenctl';
plan skip_all => "$ctl not built" unless -x $ctl;

my ($user, $chapter) = new_chapter();
my ($rc, $out, $err) = ctl('token', $user);
is($rc, 0, 'token: exit 0') or diag $err;
chomp(my $token = $out);
like($token, qr/^[\w-]+\.[\w-]+\.[\w-]+$/, 'three base64url parts');

my ($h, $c) = map { json()->decode(decode_base64url($_)) }
    (split /\./, $token)[0, 1];
is_deeply($h, { alg => 'HS256', typ => 'JWT' }, 'header: HS256 JWT');
is($c->{sub}, $user, 'sub is the user');
is($c->{aud}, stack_env()->{JWT_AUDIENCE} // 'authenticated', 'aud');
is($c->{role}, 'authenticated', 'role authenticated');
is($c->{exp} - $c->{iat}, 3600, 'valid for an hour by default');
ok(abs($c->{iat} - time) < 60, 'issued now');
is($c->{app_metadata}{tier}, 'free', 'tier free by default');

my $r = api_post(token => $token, chapter => $chapter,
    body => { scene_description => 'A lantern in the fog' });
is($r->{status}, 202, 'the API accepts the token: 202') or diag $r->{content};

($rc, $out) = ctl('token', '--ttl', '2h', '--tier', 'pro', $user);
chomp($token = $out);
$c = json()->decode(decode_base64url((split /\./, $token)[1]));
is($c->{exp} - $c->{iat}, 7200, '--ttl 2h');
is($c->{app_metadata}{tier}, 'pro', '--tier pro');
$r = api_post(token => $token, chapter => $chapter, scene => 2,
    body => { scene_description => 'A lantern in the rain' });
is($r->{status}, 202, 'accepted too') or diag $r->{content};

# The secret from a file, as on a host (credentials folder).
my $tmp = tempdir('scenegen-tok.XXXXXX', TMPDIR => 1, CLEANUP => 1);
open my $fh, '>', "$tmp/secret" or die $!;
print $fh stack_env()->{SUPABASE_JWT_SECRET}, "\n";
close $fh;
($rc, $out, $err) = ctl({ SUPABASE_JWT_SECRET => '',
    SUPABASE_JWT_SECRET_FILE => "$tmp/secret" }, 'token', $user);
is($rc, 0, 'secret from SUPABASE_JWT_SECRET_FILE') or diag $err;
chomp($token = $out);
$r = api_post(token => $token, chapter => $chapter, scene => 3,
    body => { scene_description => 'A lantern in the snow' });
is($r->{status}, 202, 'accepted') or diag $r->{content};

# Another secret: refused.
($rc, $out) = ctl({ SUPABASE_JWT_SECRET => 'not-the-secret' }, 'token', $user);
chomp($token = $out);
$r = api_post(token => $token, chapter => $chapter, scene => 4,
    body => { scene_description => 'A lantern' });
is($r->{status}, 401, 'a token signed with another secret: 401');

done_testing();
