#!/usr/bin/perl
# Print a Supabase-style HS256 access token for a user.
# usage: token.pl USER_ID SECRET [AUDIENCE] [TTL_SECONDS]
use strict;
use warnings;
use Digest::SHA qw(hmac_sha256);
use JSON::PP;
use MIME::Base64 qw(encode_base64url);

my ($sub, $secret, $aud, $ttl) = @ARGV;
die "usage: token.pl USER_ID SECRET [AUDIENCE] [TTL_SECONDS]\n"
    unless defined $sub && defined $secret;
$aud //= 'authenticated';
$ttl //= 86400;
my $now = time;
my $json = JSON::PP->new->canonical;
my $head = encode_base64url($json->encode({ alg => 'HS256', typ => 'JWT' }));
my $body = encode_base64url($json->encode({
	sub => $sub, aud => $aud, role => 'authenticated',
	iat => $now, exp => $now + $ttl,
	app_metadata => { provider => 'email', tier => 'free' },
}));
my $sig = encode_base64url(hmac_sha256("$head.$body", $secret));
print "$head.$body.$sig\n";
