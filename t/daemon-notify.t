#!/usr/bin/perl
# Promise 6, systemd: scenegend speaks sd_notify on $NOTIFY_SOCKET.
# READY=1 only once PostgreSQL and Redis answer (here Redis is started
# after the daemon: no READY before), STATUS= lines, WATCHDOG=1 pings with
# WATCHDOG_USEC=2000000, STOPPING=1 on SIGTERM and exit 0; a missing
# DATABASE_URL stops it at start, non-zero, with one line naming it.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::UNIX;
use Socket qw(SOCK_DGRAM);
use Time::HiRes qw(sleep time);
use Scenegen::Test qw(daemons_sanitizer_clean stack_env daemon_takeover daemon_start daemon_stop
    daemon_signal daemon_alive daemon_exit_status daemon_log
    daemon_wait_log);

my $env = stack_env();
plan skip_all => 'no stand-in in this stack' unless $env->{STANDIN_URL};

my $dir = tempdir('scenegend-notify.XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $path = "$dir/notify.sock";
my $sock = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => $path)
    or die "notify socket: $!";
my $sel = IO::Select->new($sock);
my @msgs;	# [time, text]

# Read datagrams for up to $secs seconds, or until $until->() is true.
sub collect {
	my ($secs, $until) = @_;
	my $end = time + $secs;
	while ((my $left = $end - time) > 0) {
		last if $until && $until->();
		next unless $sel->can_read($left < 0.1 ? $left : 0.1);
		my $buf;
		defined $sock->recv($buf, 65536) or next;
		push @msgs, [ time, $_ ] for grep { length } split /\n/, $buf;
	}
	return $until ? $until->() : 1;
}
sub seen { my ($re) = @_; return grep { $_->[1] =~ $re } @msgs }

# A Redis of our own, started only after the daemon.
my $rdir = "$dir/redis";
mkdir $rdir or die $!;
my $rsock = "$rdir/redis.sock";
my $redis_pid;
END {
	if ($redis_pid) {
		kill 'TERM', $redis_pid;
		waitpid $redis_pid, 0;
	}
}

# The daemons here share the stack's PostgreSQL but not its Redis: no
# sweep, so that they never take a row of the real queue.
daemon_takeover();
my $t0 = time;
my $d = daemon_start(name => 'notify', NOTIFY_SOCKET => $path,
    WATCHDOG_USEC => 2000000, REDIS_URL => "unix://$rsock",
    SCENEGEN_SWEEP_SECONDS => 86400);
collect(2.5);
ok(daemon_alive($d), 'daemon runs while Redis is not there');
ok(seen(qr/^STATUS=./), 'STATUS= sent while starting')
    or diag explain \@msgs;
ok(!seen(qr/^READY=1$/), 'no READY=1 while Redis does not answer')
    or diag explain \@msgs;

$redis_pid = fork // die "fork: $!";
if (!$redis_pid) {
	open STDOUT, '>', '/dev/null';
	exec 'redis-server', '--port', '0', '--unixsocket', $rsock,
	    '--unixsocketperm', '700', '--dir', $rdir, '--save', '',
	    '--appendonly', 'no';
	exit 127;
}
my $t_redis = time;
ok(collect(15, sub { seen(qr/^READY=1$/) }), sprintf('READY=1 %.1f s after'
    . ' Redis started', time - $t_redis)) or diag daemon_log($d);
my ($ready) = seen(qr/^READY=1$/);
ok(daemon_wait_log($d, qr/ ready: PostgreSQL and Redis answer/, 3),
    'the log says both answered');
my @status_after = grep { $_->[0] >= $ready->[0] } seen(qr/^STATUS=/);
collect(3.2);
ok(scalar(@status_after) || grep({ $_->[0] >= $ready->[0] }
    seen(qr/^STATUS=/)), 'STATUS= after READY=1');
note 'STATUS lines: ' . join(' | ', map { $_->[1] } seen(qr/^STATUS=/));
my @pings = seen(qr/^WATCHDOG=1$/);
cmp_ok(scalar @pings, '>=', 3, scalar(@pings) . ' WATCHDOG=1 pings in '
    . sprintf('%.1f s', time - $t0) . ' (WATCHDOG_USEC 2 s)');
my @gaps = map { $pings[$_][0] - $pings[$_ - 1][0] } 1 .. $#pings;
my ($maxgap) = sort { $b <=> $a } @gaps;
ok(defined $maxgap && $maxgap < 2.0, sprintf('pings at most %.2f s apart '
    . '(< WATCHDOG_USEC)', $maxgap // -1));
ok(!seen(qr/^STOPPING=1$/), 'no STOPPING=1 yet');

daemon_signal($d, 'TERM');
ok(collect(5, sub { seen(qr/^STOPPING=1$/) }), 'STOPPING=1 on SIGTERM');
is(daemon_exit_status($d, 10), 0, 'exit 0 after SIGTERM');
my @order = map { $_->[1] } grep { $_->[1] =~ /^(READY|STOPPING)=/ } @msgs;
is_deeply(\@order, [ 'READY=1', 'STOPPING=1' ],
    'READY=1 once, then STOPPING=1');

# No PostgreSQL reachable: no READY=1 either.
@msgs = ();
my $p = daemon_start(name => 'notify-nopg', NOTIFY_SOCKET => $path,
    DATABASE_URL => "postgresql:///scenegen?host=$dir/nopg&user=scenegen");
collect(2.5);
ok(daemon_alive($p), 'daemon runs while PostgreSQL does not answer');
ok(!seen(qr/^READY=1$/), 'no READY=1 without PostgreSQL')
    or diag explain \@msgs;
is(daemon_stop($p), 0, 'exit 0 on SIGTERM while still starting');

# A missing required setting: one line naming it, non-zero.
my $m = daemon_start(name => 'notify-nodb', NOTIFY_SOCKET => $path,
    DATABASE_URL => undef);
my $st = daemon_exit_status($m, 10);
ok(defined $st && $st != 0, 'without DATABASE_URL it exits non-zero ('
    . ($st // 'still running') . ')');
my @lines = grep { length } split /\n/, daemon_log($m);
is(scalar @lines, 1, 'one line') or diag explain \@lines;
like($lines[0] // '', qr/DATABASE_URL/, 'naming DATABASE_URL: '
    . ($lines[0] // ''));
daemons_sanitizer_clean();
done_testing();
