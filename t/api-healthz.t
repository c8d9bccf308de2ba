#!/usr/bin/perl
# GET /healthz with everything up: 200, a JSON object {"status": "ok", ...},
# no token needed.
use strict;
use warnings;
use Test::More;
use Scenegen::Test qw(http_req);

my $r = http_req('GET', '/healthz');
is($r->{status}, 200, 'GET /healthz answers 200 with no token')
    or diag "$r->{status} $r->{content}";
like($r->{headers}{'content-type'} // '', qr{^application/json\b},
    'JSON Content-Type');
is(ref $r->{json}, 'HASH', 'body is a JSON object') or diag $r->{content};
is($r->{json} && $r->{json}{status}, 'ok', 'status is "ok"');

# Healthz is cheap and stable: asked again, the same answer.
my $again = http_req('GET', '/healthz');
is($again->{status}, 200, 'a second GET /healthz answers 200 too');

done_testing();
