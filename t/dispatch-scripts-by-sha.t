#!/usr/bin/perl
# The dispatch scripts run by their SHA1 (lib/redis_script.h): the API and
# the daemon send EVALSHA, not the script's text, on every command; when
# Redis has forgotten the scripts (SCRIPT FLUSH here; a restart or a
# failover does the same) both load them again and go on: the POSTs keep
# their estimate and every job completes.
use strict;
use warnings;
use Test::More;
use Scenegen::Test qw(daemon_test_setup daemon_start daemon_wait_ready
    daemon_log daemon_stop api_post new_chapter wait_all_final row_states
    daemons_sanitizer_clean standin_req redis);

daemon_test_setup();
standin_req('/_standin/reset', '');
END { eval { standin_req('/_standin/reset', '') } }

# Calls of one Redis command since the last CONFIG RESETSTAT.
sub calls {
	my ($cmd) = @_;
	my ($n) = redis('INFO', 'commandstats')
	    =~ /^cmdstat_\Q$cmd\E:calls=(\d+)/m;
	return $n // 0;
}

# Post $n scenes of a new user; returns the 202s' record ids and ETAs.
sub post_some {
	my ($n, $label) = @_;
	my (undef, $chapter, $token) = new_chapter();
	my (@ids, @etas);
	for my $i (1 .. $n) {
		my $r = api_post(token => $token, chapter => $chapter, scene => $i,
		    body => { scene_description => "$label $i [standin:eta=0.2]" });
		next unless $r->{status} == 202;
		push @ids, $r->{json}{record_id};
		push @etas, $r->{json}{estimated_time_seconds};
	}
	return (\@ids, \@etas);
}

my $d = daemon_start(name => 'sha', MODELSLAB_MAX_QUEUED => 2,
    SCENEGEN_POLL_MIN_SECONDS => 0.1, SCENEGEN_POLL_MAX_SECONDS => 0.2);
ok(daemon_wait_ready($d), 'daemon ready') or diag daemon_log($d);
sleep 1.2;    # its first tick has loaded the scripts it runs

redis('CONFIG', 'RESETSTAT');
my ($ids) = post_some(4, 'sha');
is(scalar @$ids, 4, '4 POSTs answered 202');
ok(wait_all_final($ids, 60), 'all 4 final') or diag daemon_log($d);
is_deeply(row_states($ids), { completed => 4 }, 'all 4 completed');
my ($evalsha, $eval) = (calls('evalsha'), calls('eval'));
cmp_ok($evalsha, '>=', 4 * 3, "the scripts ran by SHA1 ($evalsha EVALSHA: "
    . 'an ENQUEUE, an ADMIT and a RELEASE at least for each job)');
cmp_ok($eval, '<=', 1, 'and by their text (EVAL) only where Redis did '
    . "not have one yet: the API's ENQUEUE on its first use ($eval EVAL)");

# Redis forgets every script.
is(redis('SCRIPT', 'FLUSH'), 'OK', 'SCRIPT FLUSH');
redis('CONFIG', 'RESETSTAT');
my ($after, $etas) = post_some(4, 'flushed');
is(scalar @$after, 4, 'after the flush, 4 POSTs answered 202');
is(scalar(grep { defined && /^\d+\z/ } @$etas), 4,
    'each with an estimate (ENQUEUE ran: ' . join(', ', map { $_ // 'null' }
    @$etas) . ')');
cmp_ok(calls('eval'), '>=', 1, 'the API ran its script by text once '
    . 'Redis answered NOSCRIPT ('. calls('eval') . ' EVAL)');
ok(wait_all_final($after, 60), 'all 4 final') or diag daemon_log($d);
is_deeply(row_states($after), { completed => 4 }, 'all 4 completed');
like(daemon_log($d), qr/a dispatch script was not loaded; loading it again/,
    'the daemon said it loaded its scripts again');
cmp_ok(calls('script|load'), '>=', 1, 'with SCRIPT LOAD ('
    . calls('script|load') . ')');

is(daemon_stop($d), 0, 'daemon stops cleanly');
daemons_sanitizer_clean();
done_testing();
