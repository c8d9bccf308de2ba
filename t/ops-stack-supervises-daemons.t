#!/usr/bin/perl
# The local stack supervises its daemons as systemd's Restart=on-failure
# would (SPEC "Local stack additions"): the stack's scenegend killed with
# SIGKILL runs again (a new PID) within 5 s, with a line in its log saying
# so; SCENEGEN_DAEMONS=2 starts two supervised daemons sharing the queue,
# each with the caller's SCENEGEN_*/MODELSLAB_* variables; a daemon that
# stops cleanly (SIGTERM) is not restarted; stopping the part stops the
# supervisors first, then drains the daemons (no restart, no SIGKILL). The
# stack's single daemon is back as it was at the end, also on failure.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep time);
use Scenegen::Test qw(stack_env stack_part wait_until);

my $e = stack_env();
my $dir = $e->{STACK_DIR};
plan skip_all => 'no stack folder' unless $dir && -d $dir;

sub pid_in {
	my ($f) = @_;
	open my $fh, '<', "$dir/$f" or return;
	my $p = <$fh>;
	return defined $p && $p =~ /^(\d+)/ ? $1 : undef;
}
sub alive { my $p = pid_in($_[0]); return $p && kill(0, $p) ? $p : undef }
sub slurp {
	open my $fh, '<', "$dir/$_[0]" or return '';
	local $/;
	return <$fh>;
}
sub environ_of {
	my ($pid) = @_;
	open my $fh, '<', "/proc/$pid/environ" or return {};
	local $/;
	return { map { /^([^=]*)=(.*)$/s ? ($1, $2) : () } split /\0/, <$fh> };
}

my $changed = 0;
$SIG{TERM} = $SIG{INT} = $SIG{HUP} = sub { warn "killed by SIG$_[0]\n"; exit 1 };
END {
	if ($changed) {
		my $rc = $?;
		delete $ENV{SCENEGEN_DAEMONS};
		delete $ENV{SCENEGEN_TEST_PASSED_THROUGH};
		eval { stack_part('stop', 'daemon'); stack_part('start', 'daemon') };
		warn "could not restore the stack's daemon: $@" if $@;
		$? = $rc;
	}
}

# ---- the stack's own daemon, killed ----
my $pid = alive('daemon.pid');
ok($pid, "the stack's daemon runs (pid " . ($pid // '-') . ')')
    or BAIL_OUT('no daemon in the stack');
ok(alive('supervise.pid'), 'under a supervisor');
my $logsize = -s "$dir/daemon.log";
$changed = 1;
my $t0 = time;
kill 'KILL', $pid;
my $new;
wait_until(sub {
	$new = alive('daemon.pid');
	return $new && $new != $pid;
}, 10);
my $took = time - $t0;
ok($new && $new != $pid, sprintf('a new daemon (pid %s) %.1f s after the '
    . 'SIGKILL', $new // '-', $took));
cmp_ok($took, '<=', 5, 'running again within 5 s');
my $log = substr(slurp('daemon.log'), $logsize);
like($log, qr/^supervise: .*\(pid $pid\) killed by signal 9; restarting/m,
    'daemon.log says it was killed and restarted');
ok(wait_until(sub {
	substr(slurp('daemon.log'), $logsize) =~ /scenegend: ready:/ }, 30),
    'the new daemon is ready');

# ---- two daemons, the caller's variables, a clean stop ----
stack_part('stop', 'daemon');
ok(!alive('daemon.pid') && !alive('supervise.pid'),
    'stop-part: supervisor and daemon gone');
like(substr(slurp('daemon.log'), $logsize),
    qr/scenegend: stopped\b(?![\s\S]*supervise: .*restarting)/,
    'the daemon drained and stopped; nothing restarted it');
$ENV{SCENEGEN_DAEMONS} = 2;
$ENV{SCENEGEN_TEST_PASSED_THROUGH} = "mark-$$";
stack_part('start', 'daemon');
my @d = (alive('daemon.pid'), alive('daemon-2.pid'));
ok($d[0] && $d[1] && $d[0] != $d[1], "SCENEGEN_DAEMONS=2: two daemons (@{[
    map { $_ // '-' } @d ]})");
ok(alive('supervise.pid') && alive('supervise-2.pid'), 'each supervised');
for my $p (grep { $_ } @d) {
	my $env = environ_of($p);
	is($env->{SCENEGEN_TEST_PASSED_THROUGH}, "mark-$$",
	    "daemon $p has the caller's SCENEGEN_* variable");
	ok(exists $env->{MODELSLAB_MAX_QUEUED} && exists $env->{MODELSLAB_BASE_URL},
	    "daemon $p has the MODELSLAB_* settings");
	ok(!exists $env->{MODELSLAB_API_KEY}, 'but not the key itself');
}
ok(wait_until(sub { slurp('daemon-2.log') =~ /scenegend: ready:/ }, 30),
    'the second daemon is ready');
my $size2 = -s "$dir/daemon-2.log";
kill 'TERM', $d[1];
ok(wait_until(sub { !alive('supervise-2.pid') }, 40),
    'SIGTERM to daemon 2: its supervisor ends');
sleep 1.5;
ok(!alive('daemon-2.pid'), 'daemon 2 is not restarted after a clean stop');
like(substr(slurp('daemon-2.log'), $size2), qr/(?:exited 0|signal 15): not restarted/,
    'daemon-2.log says so');
ok(alive('daemon.pid'), 'daemon 1 runs on');

# ---- back to the stack's single daemon ----
delete $ENV{SCENEGEN_DAEMONS};
delete $ENV{SCENEGEN_TEST_PASSED_THROUGH};
stack_part('stop', 'daemon');
ok(!grep({ alive($_) } qw(daemon.pid daemon-2.pid supervise.pid
    supervise-2.pid)), 'stop-part daemon: every supervisor and daemon gone');
stack_part('start', 'daemon');
ok(alive('daemon.pid') && alive('supervise.pid'), 'the stack has its '
    . 'supervised daemon again');
ok(!alive('daemon-2.pid'), 'and only that one');
$changed = 0;
done_testing();
