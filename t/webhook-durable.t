#!/usr/bin/perl
# A webhook delivery waiting for its retry survives a SIGKILL of the
# daemon and a restart of PostgreSQL, and is delivered exactly once after
# (one 2xx for its webhook-id at the receiver), with the same webhook-id
# on every attempt. The receiver answers 503 with Retry-After: 2 until
# the test releases it.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep);
use Scenegen::Test qw(stack_env api_post sql1 daemon_test_setup daemon_start
    daemon_stop wait_until wait_healthy part_down part_up
    daemons_sanitizer_clean);
use Scenegen::Receiver;

my ($user, $chapter, $token) = daemon_test_setup();
my $e = stack_env();
my $dir = tempdir('webhook.XXXXXX', TMPDIR => 1, CLEANUP => 1);
Scenegen::Receiver::api_allow_private();
my $recv = Scenegen::Receiver::start(dir => $dir);
END { Scenegen::Receiver::stop($recv) if $recv }
my %env = (SUPABASE_JWT_SECRET => $e->{SUPABASE_JWT_SECRET},
    SCENEGEN_WEBHOOK_ALLOW_PRIVATE => 1,
    SCENEGEN_WEBHOOK_BACKOFF_SCALE => 0.0001);
my $d = daemon_start(%env);

my $r = api_post(token => $token, chapter => $chapter, scene => 1,
    body => { scene_description => 'a durable webhook',
    webhook_url => "$recv->{url}/hold/1" });
is($r->{status}, 202, 'POST with a webhook') or diag $r->{content};
my $id = $r->{json}{record_id};

sub row {
	my ($status, $attempts, $code) = split /\t/, sql1(q{SELECT status,
	    attempts, coalesce(last_status_code, 0) FROM webhook_deliveries
	    WHERE record_id = :'id' AND event = 'completed'}, id => $id);
	return { status => $status // '', attempts => $attempts // 0,
	    code => $code // 0 };
}

ok(wait_until(sub { row()->{code} == 503 }, 60),
    'the first attempt got a 503: the delivery waits for its retry');
is(row()->{status}, 'pending', 'pending');

daemon_stop($d, 'KILL');
ok(1, 'the daemon is killed (SIGKILL)');
part_down('postgres');
part_up('postgres');
ok(wait_healthy(60), 'PostgreSQL restarted');
is(row()->{status}, 'pending', 'the delivery is still pending');
my $before = row()->{attempts};

$d = daemon_start(%env);
open my $fh, '>', $recv->{hold_file} or die;
close $fh;
ok(wait_until(sub { row()->{status} eq 'delivered' }, 60),
    'delivered by the new daemon');
sleep 1.5;
my @reqs = grep { $_->{path} eq '/hold/1' }
    @{ Scenegen::Receiver::requests($recv) };
my %ids = map { $_->{id} => 1 } @reqs;
is(scalar keys %ids, 1, 'one webhook-id on every attempt');
is(scalar(grep { $_->{status} == 200 } @reqs), 1,
    'exactly one 2xx for it');
is(row()->{attempts}, scalar @reqs, 'the row counts every attempt');
ok(row()->{attempts} > $before, 'an attempt after the restarts');
diag sprintf('%d attempts: %s', scalar @reqs,
    join(', ', map { $_->{status} } @reqs));

daemon_stop($d);
daemons_sanitizer_clean();
done_testing();
