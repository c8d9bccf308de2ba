#!/usr/bin/perl
# A cancel reaches the daemon that runs the record at once, by PostgreSQL's
# notification (the trigger on status canceled notifies scenegen_cancels;
# scenegend listens), not at its next write or heartbeat: with a lease of
# 300 s (a heartbeat every 100 s) and a provider ETA of an hour (so no
# progress write for the first 40 s), the daemon still stops the job and
# stops polling the provider well before either could tell it. A cancel
# made by SQL alone (as scenegenctl or the dashboard would) is noticed the
# same way, and the notification is listened for again after PostgreSQL
# drops the daemon's connections.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep time);
use Scenegen::Test qw(http_req api_post sql sql1 daemon_test_setup
    daemon_start daemon_stop daemon_wait_ready daemon_log daemon_wait_log
    standin_creates wait_until daemons_sanitizer_clean);

my ($user, $chapter, $token) = daemon_test_setup();
my %auth = (Authorization => "Bearer $token");
my $n = 0;

sub post {
	my $r = api_post(token => $token, chapter => $chapter, scene => ++$n,
	    body => { scene_description => "an hour long [standin:eta=3600]" });
	is($r->{status}, 202, "posted $n") or diag $r->{content};
	return $r->{json}{record_id};
}

# Wait until the provider has the record's request and is being polled.
sub running {
	my ($d, $id) = @_;
	return wait_until(sub { standin_creates($id)->{fetches} >= 1 }, 20);
}

my $d = daemon_start(name => 'notified', SCENEGEN_LEASE_SECONDS => 300);
ok(daemon_wait_ready($d), 'daemon ready') or diag daemon_log($d);

# Through the API.
my $a = post();
ok(running($d, $a), 'the provider has the request, the daemon polls it')
    or diag daemon_log($d);
my $t0 = time;
is(http_req('POST', "/api/v1/records/$a/cancel", headers => \%auth)->{status},
    200, 'canceled through the API');
ok(daemon_wait_log($d, qr/job \Q$a\E: its owner canceled it/, 20),
    'the daemon is told at once, not at a heartbeat (every 100 s)')
    or diag daemon_log($d);
diag sprintf('the daemon stopped the job %.2f s after the cancel', time - $t0);
ok(daemon_wait_log($d, qr/job \Q$a\E: canceled by its owner/, 5),
    'and stops it');
my $fetches = standin_creates($a)->{fetches};
sleep 3;	# past the longest poll wait
is(standin_creates($a)->{fetches}, $fetches, 'the provider is polled no more');

# By SQL alone, after PostgreSQL dropped the daemon's connections.
sql(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
    WHERE pid <> pg_backend_pid() AND datname = current_database()
    AND backend_type = 'client backend'});
ok(wait_until(sub { my $log = daemon_log($d);
    my @l = $log =~ /postgresql \(webhooks\): connection \d+ up/g;
    my @m = $log =~ /postgresql: connection \d+ up/g; @l >= 2 && @m >= 2 },
    20), 'the daemon is connected again') or diag daemon_log($d);
my $b = post();
ok(running($d, $b), 'a second job runs after the reconnect')
    or diag daemon_log($d);
sql(q{UPDATE image_generations SET status = 'canceled' WHERE id = :'id'},
    id => $b);
ok(daemon_wait_log($d, qr/job \Q$b\E: its owner canceled it/, 20),
    'a cancel by SQL alone is noticed at once too') or diag daemon_log($d);
is(sql1(q{SELECT status FROM image_generations WHERE id = :'id'}, id => $b),
    'canceled', 'the row stays canceled');

daemon_stop($d);
daemons_sanitizer_clean();
done_testing();
