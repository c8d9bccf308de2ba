#!/usr/bin/perl
# Completion webhooks end to end, on the real stack with a daemon of this
# test and a receiver of its own on 127.0.0.1 (the API and the daemon run
# with SCENEGEN_WEBHOOK_ALLOW_PRIVATE=1 for it):
# - a delivery is a POST of application/json whose body is {type,
#   timestamp, data}, data the record's status document (field by field
#   the GET /api/v1/records/{id} of the final record); its
#   webhook-signature verifies with the secret of GET
#   /api/v1/webhooks/secret (Digest::SHA here, not the project's code);
# - a 500 is retried with the same webhook-id and the same body;
# - a 301 is not followed (its Location gets nothing) and is retried until
#   the attempts run out: 8 in all, then the delivery is failed;
# - a 410 stops at once: one attempt, status gone;
# - in_progress is delivered before completed when both are asked for;
# - data, events_url included, is written by the API's own builder from
#   the trigger's snapshot of the row; a body stored whole (before
#   snapshots) is sent as it was;
# - the metrics file counts the attempts by outcome;
# - scenegenctl webhooks lists the failed and gone deliveries, and
#   scenegenctl redeliver sends a failed one again, with its webhook-id.
use strict;
use warnings;
use Test::More;
use Digest::SHA qw(hmac_sha256_base64);
use File::Temp qw(tempdir);
use JSON::PP;
use MIME::Base64 qw(decode_base64);
use Time::HiRes qw(sleep time);
use Scenegen::Test qw(stack_env http_req api_post sql1 daemon_test_setup
    daemon_start daemon_stop wait_until daemons_sanitizer_clean
    sse_open sse_event);
use Scenegen::Receiver;
use Scenegen::Ops qw(ctl);

my ($user, $chapter, $token) = daemon_test_setup();
my $e = stack_env();
my $dir = tempdir('webhook.XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $dir;
my %auth = (Authorization => "Bearer $token");

# The stack's API again, allowing the receiver's loopback address.
Scenegen::Receiver::api_allow_private();

my $recv = Scenegen::Receiver::start(dir => $dir);
END { Scenegen::Receiver::stop($recv) if $recv }
my $metrics = "$dir/metrics";
my $d = daemon_start(SUPABASE_JWT_SECRET => $e->{SUPABASE_JWT_SECRET},
    SCENEGEN_WEBHOOK_ALLOW_PRIVATE => 1,
    SCENEGEN_WEBHOOK_BACKOFF_SCALE => 0.0001,
    SCENEGEN_METRICS_FILE => $metrics);

my $secret = http_req('GET', '/api/v1/webhooks/secret', headers => \%auth)
    ->{json}{secret};
my $key = decode_base64(substr($secret // 'whsec_', 6));
is(length $key, 32, 'the secret gives a 32-byte key');

my $n = 0;
sub post {
	my ($path, %o) = @_;
	my $r = api_post(token => $token, chapter => $chapter, scene => ++$n,
	    body => { scene_description => "webhook scene $n",
	    webhook_url => "$recv->{url}$path", %o });
	is($r->{status}, 202, "POST with webhook_url $path")
	    or diag $r->{content};
	return $r->{json}{record_id};
}

sub reqs_for {
	my ($prefix) = @_;
	return [ grep { index($_->{path}, $prefix) == 0 }
	    @{ Scenegen::Receiver::requests($recv) } ];
}

sub delivery {
	my ($id, $event) = @_;
	my $row = sql1(q{SELECT status || ' ' || attempts || ' '
	    || coalesce(last_status_code::text, '-') || ' ' || webhook_id
	    FROM webhook_deliveries WHERE record_id = :'id'
	    AND event = :'ev'}, id => $id, ev => $event);
	my ($status, $attempts, $code, $wid) = split / /, $row;
	return { status => $status // '', attempts => $attempts // 0,
	    code => $code, webhook_id => $wid // '' };
}

# Every path at once: they run side by side.
my $ok = post('/ok/1');
my $once = post('/fail-once/1');
my $redir = post('/redirect/1');
my $gone = post('/gone/1');
my $order = post('/ok/order', webhook_events => [ 'in_progress',
    'completed' ]);

ok(wait_until(sub { delivery($ok, 'completed')->{status} eq 'delivered' },
    60), 'the completed event is delivered');
diag sprintf('from the change to the delivery: %.0f ms (the daemon listens '
    . 'to the outbox)', sql1(q{SELECT extract(epoch FROM delivered_at -
    created_at) * 1000 FROM webhook_deliveries WHERE record_id = :'id'
    AND event = 'completed'}, id => $ok));
my ($req) = @{ reqs_for('/ok/1') };
ok($req, 'the receiver got it');
is($req->{method}, 'POST', 'POST');
like($req->{content_type} // '', qr{^application/json}, 'application/json');
like($req->{id}, qr/^msg_[0-9a-f]{32}$/, 'webhook-id msg_...');
is($req->{id}, delivery($ok, 'completed')->{webhook_id},
    'the webhook-id of the row');
like($req->{timestamp}, qr/^\d{10}$/, 'webhook-timestamp: Unix seconds');
ok(abs($req->{timestamp} - time) < 60, 'a timestamp of now');
my $mac = hmac_sha256_base64("$req->{id}.$req->{timestamp}.$req->{body}",
    $key);
$mac .= '=' while length($mac) % 4;
my $want = "v1,$mac";
is($req->{signature}, $want, 'the signature verifies with the secret');
my $body = eval { decode_json($req->{body}) } // {};
is($body->{type}, 'scene.completed', 'type scene.completed');
like($body->{timestamp} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/,
    'timestamp RFC 3339');
my $doc = http_req('GET', "/api/v1/records/$ok", headers => \%auth)->{json};
my $data = $body->{data} // {};
for my $k (sort keys %$doc) {
	if ($k eq 'events_url') {
		# Signed at the event's time: the same record, a valid link.
		my ($got, $want) = map { (split /\?/, $_ // '')[0] }
		    $data->{$k}, $doc->{$k};
		is($got, $want, "data.$k: the record's stream");
		my $s = sse_open($data->{$k});
		is($s->{status}, 200, "data.$k opens without a token");
		my $e = sse_event($s, 5);
		is($e && $e->{json}{status}, 'completed',
		    "data.$k: its event is the record's state");
		next;
	}
	if ($k eq 'generation_time_seconds' && defined $doc->{$k}) {
		ok(defined $data->{$k} && abs($data->{$k} - $doc->{$k}) < 0.001,
		    "data.$k as the API's");
		next;
	}
	is(JSON::PP->new->canonical->allow_nonref->encode($data->{$k}),
	    JSON::PP->new->canonical->allow_nonref->encode($doc->{$k}),
	    "data.$k as the API's");
}
is_deeply([ sort keys %$doc ], [ sort keys %$data ], 'the same fields');

# A 500, then success: the same id and body.
ok(wait_until(sub { delivery($once, 'completed')->{status} eq 'delivered' },
    60), 'after a 500 the delivery succeeds');
my @once = @{ reqs_for('/fail-once/1') };
is(scalar @once, 2, 'two attempts');
is($once[0]{status}, 500, 'the first answered 500');
is($once[1]{id}, $once[0]{id}, 'the retry has the same webhook-id');
is($once[1]{body}, $once[0]{body}, 'and the same body');
is(delivery($once, 'completed')->{attempts}, 2, 'two attempts in the row');

# 410: one attempt, gone.
ok(wait_until(sub { delivery($gone, 'completed')->{status} eq 'gone' }, 60),
    'a 410 makes the delivery gone');
sleep 1.5;
is(scalar @{ reqs_for('/gone/1') }, 1, 'and it is not tried again');
is(delivery($gone, 'completed')->{code}, 410, 'last_status_code 410');

# Order.
ok(wait_until(sub { delivery($order, 'completed')->{status} eq 'delivered' },
    60), 'both events of a record are delivered');
my @ord = map { decode_json($_->{body})->{type} } @{ reqs_for('/ok/order') };
is_deeply(\@ord, [ 'scene.in_progress', 'scene.completed' ],
    'in_progress, then completed');

# 301: never followed, retried until the 8 attempts are used.
my $t0 = time;
ok(wait_until(sub { delivery($redir, 'completed')->{status} eq 'failed' },
    90), 'a redirect keeps failing until the delivery fails');
diag sprintf('8 attempts of a 301 took %.1f s at a backoff scale of 0.0001',
    time - $t0);
my @red = @{ reqs_for('/redirect/1') };
is(scalar @red, 8, '8 attempts in all');
is(scalar @{ reqs_for('/target/') }, 0, 'the Location got nothing');
is(scalar(grep { $_->{id} eq $red[0]{id} } @red), 8, 'all with one id');
is(delivery($redir, 'completed')->{code}, 301, 'last_status_code 301');

ok(wait_until(sub { -s $metrics && do { open my $fh, '<', $metrics;
    local $/; my $m = <$fh>; $m =~ /outcome="failed"\} [1-9]/ } }, 10),
    'the metrics file counts webhook attempts');
open my $fh, '<', $metrics;
my $m = do { local $/; <$fh> };
like($m, qr/scenegen_webhook_attempts_total\{outcome="delivered"\} [4-9]/,
    'delivered');
like($m, qr/scenegen_webhook_attempts_total\{outcome="retried"\} (8|9|\d\d)/,
    'retried');
like($m, qr/scenegen_webhook_attempts_total\{outcome="gone"\} 1\b/, 'gone');

# scenegenctl.
my ($rc, $out, $err) = ctl('webhooks');
is($rc, 0, 'scenegenctl webhooks exits 0') or diag $err;
my $red_id = sql1(q{SELECT id FROM webhook_deliveries WHERE record_id = :'id'},
    id => $redir);
like($out, qr/^\Q$red_id\E\s+failed\s+completed\s+\Q$redir\E\s+8\s+301\s/m,
    'it lists the failed delivery') or diag $out;
like($out, qr/\sgone\s+completed\s+\Q$gone\E\s/m, 'and the gone one');
unlike($out, qr/\Q$ok\E/, 'not a delivered one');
($rc, $out, $err) = ctl('redeliver', $red_id);
is($rc, 0, 'scenegenctl redeliver exits 0') or diag $err;
like($out, qr/redelivering \Q$red_id\E/, 'says so');
ok(wait_until(sub { @{ reqs_for('/redirect/1') } > 8 }, 10),
    'the daemon sends it again');
my @again = @{ reqs_for('/redirect/1') };
is($again[8]{id}, $red[0]{id}, 'with the same webhook-id');
($rc, $out, $err) = ctl('redeliver', $red_id + 1000000);
is($rc, 1, 'redeliver of no such delivery exits 1');
($rc, $out, $err) = ctl('redeliver', '--all-failed');
is($rc, 0, 'redeliver --all-failed exits 0') or diag $err;

# A delivery stored whole before the trigger kept row snapshots (an
# upgrade with deliveries pending) is sent as it was stored.
my $legacy = { type => 'scene.completed',
    timestamp => '2026-01-01T00:00:00.000Z',
    data => { record_id => $ok, status => 'completed', stored => 'whole' } };
sql1(q{INSERT INTO webhook_deliveries (record_id, event, webhook_id, payload)
    VALUES (:'id', 'completed', 'msg_0123456789abcdef0123456789abcdef',
    :'p'::jsonb)}, id => $ok, p => encode_json($legacy));
ok(wait_until(sub { grep { $_->{id} eq 'msg_0123456789abcdef0123456789abcdef' }
    @{ reqs_for('/ok/1') } }, 20), 'a body stored whole is delivered');
my ($whole) = grep { $_->{id} eq 'msg_0123456789abcdef0123456789abcdef' }
    @{ reqs_for('/ok/1') };
is_deeply(eval { decode_json($whole->{body}) }, $legacy,
    'as it was stored');

daemon_stop($d);
daemons_sanitizer_clean();
done_testing();
