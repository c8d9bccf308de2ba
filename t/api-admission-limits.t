#!/usr/bin/perl
# Admission limits at POST (SPEC "Admission limits at POST"), with the API
# restarted under SCENEGEN_RATE_LIMITS=free:3/3600,premium:5/3600 and
# SCENEGEN_MAX_WAITING_PER_USER=4:
# - a free user's 4th POST in the window is 429 rate_limited, with
#   Retry-After, RateLimit-Policy and RateLimit, and makes no row;
# - an idempotent replay is answered as before and does not count;
# - premium has its own quota; a tier not named is not limited;
# - a user with 4 jobs waiting for a provider slot gets 429 until one
#   starts.
# The API is restarted without the limits at the end.
use strict;
use warnings;
use Test::More;
use Scenegen::Test qw(api_post api_status new_chapter make_token stack_part
    wait_healthy sql1 redis daemon_takeover wait_until);

my %limits = (SCENEGEN_RATE_LIMITS => 'free:3/3600,premium:5/3600',
    SCENEGEN_MAX_WAITING_PER_USER => 4);
sub restart_api {
	stack_part('stop', 'api');
	stack_part('start', 'api');
	wait_healthy(30);
}
@ENV{ keys %limits } = values %limits;
restart_api();
END {
	delete @ENV{ keys %limits };
	eval { restart_api() };
}

sub post {
	my ($token, $chapter, $scene, %h) = @_;
	return api_post(token => $token, chapter => $chapter, scene => $scene,
	    headers => \%h, body => { scene_description => "limit $scene" });
}
sub rows_of { sql1("SELECT count(*) FROM image_generations WHERE user_id ="
    . " '$_[0]'") }

# --- the rate of the free tier -------------------------------------------
my ($uf, $cf, $tf) = new_chapter();
my @codes = map { post($tf, $cf, $_)->{status} } 1 .. 3;
is_deeply(\@codes, [ 202, 202, 202 ], 'free: 3 POSTs accepted');
my $r = post($tf, $cf, 4);
is($r->{status}, 429, 'free: the 4th in the window is 429');
is($r->{json}{code}, 'rate_limited', 'code rate_limited');
my $ra = $r->{headers}{'retry-after'} // '';
ok($ra =~ /^\d+$/ && $ra >= 1 && $ra <= 3600,
    "Retry-After: $ra (seconds to the window's end)");
is($r->{headers}{'ratelimit-policy'}, '"free";q=3;w=3600',
    'RateLimit-Policy names the quota and window');
like($r->{headers}{'ratelimit'} // '', qr/^"free";r=0;t=\d+$/,
    'RateLimit: nothing remaining, reset in t seconds');
is(rows_of($uf), 3, 'no row for the refused POST');

my ($uk, $ck, $tk) = new_chapter();
my $first = post($tk, $ck, 1, 'Idempotency-Key' => 'same-key');
is($first->{status}, 202, 'a POST with an Idempotency-Key');
my @again = map { post($tk, $ck, 1, 'Idempotency-Key' => 'same-key') } 1 .. 4;
is_deeply([ map { $_->{status} } @again ], [ (202) x 4 ],
    'its replays are answered 202 past the quota');
is_deeply([ map { $_->{json}{record_id} } @again ],
    [ ($first->{json}{record_id}) x 4 ], 'with the same record');
is(post($tk, $ck, 2)->{status}, 202, 'and did not count: a 2nd new POST');
is(post($tk, $ck, 3)->{status}, 202, 'a 3rd');
is(post($tk, $ck, 4)->{status}, 429, 'the 4th new one is refused');

# --- other tiers ------------------------------------------------------------
my ($up, $cp) = new_chapter();
my $tp = make_token(sub => $up, claims => { tier => 'premium' });
@codes = map { post($tp, $cp, $_)->{status} } 1 .. 6;
is_deeply(\@codes, [ (202) x 5, 429 ], 'premium: 5 accepted, the 6th 429');
like(post($tp, $cp, 7)->{headers}{'ratelimit-policy'} // '',
    qr/^"premium";q=5;w=3600$/, 'with the premium policy');

# --- jobs waiting for a slot ----------------------------------------------
# No daemon and no free slot: every job waits in its user's list.
daemon_takeover();
redis('HSET', '{scenegen}:dispatch', 'limit', 0);
my ($uw, $cw) = new_chapter();
my $tw = make_token(sub => $uw, claims => { tier => 'pro' });
@codes = map { post($tw, $cw, $_)->{status} } 1 .. 4;
is_deeply(\@codes, [ (202) x 4 ], 'pro (no rate): 4 jobs accepted');
$r = post($tw, $cw, 5);
is($r->{status}, 429, 'a 5th while 4 wait for a slot: 429');
is($r->{headers}{'ratelimit-policy'}, '"waiting";q=4',
    'the policy says: 4 waiting');
ok(($r->{headers}{'retry-after'} // '') =~ /^\d+$/, 'with Retry-After');
is(rows_of($uw), 4, 'no row for it');
# The status document of a waiting job tells its place (an integer
# estimate, later jobs no sooner); a final one tells null.
my @eta = map { api_status(token => $tw, chapter => $cw, scene => $_)
    ->{json}{estimated_time_seconds} } 1, 4;
ok(defined $eta[0] && $eta[0] =~ /^\d+$/ && $eta[0] >= 1,
    "a waiting job's status: estimated_time_seconds $eta[0]");
cmp_ok($eta[1] // 0, '>=', $eta[0] // 0,
    "the 4th of the same user: $eta[1], no sooner");
# Room again once one takes a slot.
redis('HSET', '{scenegen}:dispatch', 'limit', 1000);
redis('EVAL', q{redis.call('LPOP', KEYS[1]) return 1}, 1,
    "{scenegen}:wait:pro:$uw");
is(post($tw, $cw, 6)->{status}, 202, 'one started: the next is accepted');

done_testing();
