#!/usr/bin/perl
# How scenegend meets each provider fault (a marker in the prompt tells the
# stand-in what to do): transient ones are retried with backoff and end
# completed, fatal ones fail at once with a sentence a person can act on,
# and a job that keeps failing ends failed after 1 + 3 attempts. The
# stand-in's create count per record proves what was paid for; the row's
# timestamps prove the waits follow min(60, 5 * 2^n) * [0.5, 1.5] * scale.
#
# The stack's daemon is replaced for the length of this file by one with
# short timeouts (the "hang" fault needs SCENEGEN_HTTP_TIMEOUT=1).
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep time);
use Scenegen::Test qw(stack_env api_post new_chapter sql_rows redis
    daemon_takeover daemon_start daemon_stop daemon_wait_ready daemon_log
    standin_creates id_list daemons_sanitizer_clean);

my $env = stack_env();
plan skip_all => 'no stand-in in this stack' unless $env->{STANDIN_URL};

my $SCALE = 0.1;    # the shortest wait (0.25 s) outlasts a poll of the rows under load

daemon_takeover();
my $d = daemon_start(name => 'retries', SCENEGEN_HTTP_TIMEOUT => 1,
    SCENEGEN_CONNECT_TIMEOUT => 1, SCENEGEN_BACKOFF_SCALE => $SCALE,
    SCENEGEN_POLL_MIN_SECONDS => 0.1, SCENEGEN_POLL_MAX_SECONDS => 0.5,
    SCENEGEN_LEASE_SECONDS => 30, MODELSLAB_MAX_QUEUED => 200);
ok(daemon_wait_ready($d), 'daemon ready') or die daemon_log($d);

# marker, final status, retry_count, creates, error_message pattern,
# provider wait (Retry-After) in seconds if it must win.
my @cases = (
	[ 'http500;times=1', 'completed', 1, 2 ],
	[ 'http502;times=1', 'completed', 1, 2 ],
	[ 'http503;times=1', 'completed', 1, 2 ],
	[ 'http504;times=1', 'completed', 1, 2 ],
	[ 'http429;retry_after=1;times=1', 'completed', 1, 2 ],
	[ 'drop;times=1', 'completed', 1, 2 ],
	[ 'truncated;times=1', 'completed', 1, 2 ],
	[ 'malformed;times=1', 'completed', 1, 2 ],
	[ 'failed;times=1', 'completed', 1, 2 ],
	[ 'hang;times=1', 'completed', 1, 2 ],
	# The old form: HTTP 200, "messege", "…please wait for 30 seconds…".
	[ 'ratelimit200;times=1', 'completed', 1, 2, undef, 30 ],
	[ 'http503;times=2', 'completed', 2, 3 ],
	[ 'http503;times=9', 'failed', 3, 4,
	    qr/after 4 attempts.*HTTP 503/ ],
	[ 'failed', 'failed', 3, 4,
	    qr/after 4 attempts.*could not generate the image/ ],
	[ 'http401', 'failed', 0, 1,
	    qr/API key was refused: check MODELSLAB_API_KEY/ ],
	[ 'error200_fatal', 'failed', 0, 1,
	    qr/API key was refused: check MODELSLAB_API_KEY/ ],
	[ 'http402', 'failed', 0, 1, qr/no credits left: recharge it/ ],
	[ 'http403', 'failed', 0, 1,
	    qr/plan does not include this model\/feature/ ],
	[ 'http400', 'failed', 0, 1, qr/refused the request as invalid/ ],
	# Announced larger than the cap (curl stops before the body).
	[ 'oversized;size=2000000', 'failed', 3, 4,
	    qr/after 4 attempts.*answer larger than 1048576 bytes/ ],
	[ 'http429;retry_after=20;times=1', 'completed', 1, 2, undef, 20 ],
	[ 'http503;at=fetch;times=2', 'completed', 0, 1 ],
);

my ($user, $chapter, $token) = new_chapter();
my (%case, @ids);
my $scene = 0;
for my $c (@cases) {
	$scene++;
	my $r = api_post(token => $token, chapter => $chapter, scene => $scene,
	    body => { scene_description =>
	    "A lighthouse in a storm [standin:fault=$c->[0]]" });
	die "POST failed: $r->{status} $r->{content}\n" unless $r->{status} == 202;
	my $id = $r->{json}{record_id};
	$case{$id} = $c;
	push @ids, $id;
}
my $in = id_list(@ids);

# Watch the rows until all are final: note each retry's wait (the row
# between a retry and the next claim) and when the next claim came.
my (%wait, %retried_at, %claimed_at);
my $end = time + 45;
while (time < $end) {
	my $rows = sql_rows("SELECT id, status, retry_count, attempts,
	    lease_token IS NULL AND status = 'in_progress',
	    extract(epoch FROM next_attempt_at - updated_at),
	    extract(epoch FROM updated_at),
	    extract(epoch FROM last_attempted_at)
	    FROM image_generations WHERE id IN ($in)");
	my $open = 0;
	for my $r (@$rows) {
		my ($id, $st, $rc, $att, $waiting, $w, $upd, $last) = @$r;
		$open++ unless $st eq 'completed' || $st eq 'failed';
		if ($waiting eq 't' && $rc >= 1 && !exists $wait{$id}{$rc}) {
			$wait{$id}{$rc} = $w;
			$retried_at{$id}{$rc} = $upd;
		}
		if (exists $retried_at{$id}{$rc} && $waiting ne 't' &&
		    !exists $claimed_at{$id}{$rc} && $att >= $rc + 1) {
			$claimed_at{$id}{$rc} = $last;
		}
	}
	last if $open == 0;
	sleep 0.02;
}

for my $id (@ids) {
	my ($marker, $status, $retries, $creates, $err, $provider_wait) =
	    @{ $case{$id} };
	subtest $marker => sub {
		my $row = sql_rows(q{SELECT status, retry_count, attempts,
		    coalesce(error_message, ''), lease_token IS NULL,
		    next_attempt_at IS NULL OR status = 'completed'
		    FROM image_generations WHERE id = :'id'}, id => $id)->[0];
		is($row->[0], $status, "ends $status") or diag "error: $row->[3]";
		is($row->[1], $retries, "retry_count $retries");
		is($row->[2], $retries + 1, 'attempts = retries + 1');
		is($row->[4], 't', 'lease cleared');
		if ($err) {
			like($row->[3], $err, 'error message says what to do')
		} elsif ($status eq 'completed') {
			is($row->[3], '', 'no error message once completed');
		}
		my $c = standin_creates($id);
		is($c->{creates}, $creates, "the provider was asked to create " .
		    "$creates time(s)");
		if ($marker =~ /at=fetch/) {
			cmp_ok($c->{fetches}, '>=', 3,
			    'fetch errors were asked again in place');
		}
		for my $k (sort keys %{ $wait{$id} // {} }) {
			my $w = $wait{$id}{$k};
			if ($provider_wait) {
				ok(abs($w - $provider_wait * $SCALE) < 0.01,
				    sprintf('retry %d waits the provider\'s %g s x '
				    . 'scale: %.3f s', $k, $provider_wait, $w));
			} else {
				my $base = 5 * 2 ** ($k - 1);
				$base = 60 if $base > 60;
				my ($lo, $hi) = ($base * 0.5 * $SCALE,
				    $base * 1.5 * $SCALE);
				ok($w >= $lo - 0.002 && $w <= $hi + 0.002,
				    sprintf('retry %d waits %.3f s, within '
				    . '[%.3f, %.3f]', $k, $w, $lo, $hi));
			}
			next unless defined $claimed_at{$id}{$k};
			my $gap = $claimed_at{$id}{$k} - $retried_at{$id}{$k};
			ok($gap >= $w - 0.002 && $gap <= $w + 0.75,
			    sprintf('claimed again %.3f s after the retry '
			    . '(due after %.3f s)', $gap, $w));
		}
		if ($retries == 3) {
			is(scalar keys %{ $wait{$id} // {} }, 3,
			    'all three waits seen');
		}
	};
}

is(redis('ZCARD', '{scenegen}:delayed'), 0, 'nothing left delayed');
my $stream = redis('XRANGE', '{scenegen}:jobs', '-', '+');
is(scalar(grep { $stream =~ /\Q$_\E/ } @ids), 0,
    'no entry of these records left in the stream');
my $log = daemon_log($d);
unlike($log, qr/standin-key/, 'the API key never reaches the log');
is(daemon_stop($d), 0, 'daemon exits 0 on SIGTERM');
daemons_sanitizer_clean();

done_testing();
