#!/usr/bin/perl
# A worker's capacity of kept connections (SCENEGEN_API_KEEP_MAX) and the
# open files it needs (README.md, "Kept connections"), on a scenegen-api
# of one worker started under prlimit:
# - a hard limit below SCENEGEN_API_KEEP_MAX + 64: exit 1 at start, one
#   line naming the setting and both figures;
# - SCENEGEN_API_KEEP_MAX=40 under a soft limit of 60 (hard 200): the soft
#   limit is raised to 104; 40 kept connections are each answered and all
#   held (none closed, no worker's close logged); the 41st is answered
#   too, and the one connection the worker closed for it is the one idle
#   longest.
use strict;
use warnings;
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::UNIX;
use POSIX ();
use Socket qw(SOCK_STREAM);
use Test::More;
use Time::HiRes qw(sleep time);
use Scenegen::Ops qw(have_tool ops_build_dir fcgi_kept stack_settings);

plan skip_all => 'prlimit not installed' unless have_tool('prlimit');
my $api = ops_build_dir() . '/scenegen-api';
plan skip_all => "$api not built" unless -x $api;

my $tmp = tempdir('scenegen-files.XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $sock = "$tmp/api.sock";
my $log = "$tmp/api.log";
my $null = '/api/v1/chapters/not-a-uuid/images/scenes/1/status';
my %env = (
	stack_settings(),
	SCENEGEN_API_WORKERS => 1,
	SCENEGEN_API_SOCKET => $sock,
	SCENEGEN_LOG_LEVEL => 'debug',
);

# --- a hard limit too low: refused at start ---------------------------------
{
	local @ENV{ keys %env } = values %env;
	my $out = qx{timeout 20 prlimit --nofile=100:200 -- $api 2>&1};
	my $rc = $? >> 8;
	is($rc, 1, 'hard limit 200 for the default 256: exit status 1');
	my $want = 'scenegen-api: SCENEGEN_API_KEEP_MAX=256 needs 320 open '
	    . 'files and the hard limit is 200';
	like($out, qr/^\Q$want\E\b/,
	    'the line names the setting, what it needs and the limit');
	is(scalar(() = $out =~ /\n/g), 1, 'one line') or diag $out;
}

# --- 40 connections held, the 41st makes room -------------------------------
my $pid = fork // die "fork: $!";
if ($pid == 0) {
	POSIX::setsid();
	@ENV{ keys %env } = values %env;
	$ENV{SCENEGEN_API_KEEP_MAX} = 40;
	open STDIN, '<', '/dev/null' or die $!;
	open STDOUT, '>', $log or die $!;
	open STDERR, '>&', \*STDOUT or die $!;
	exec 'prlimit', '--nofile=60:200', '--', $api;
	die "exec: $!";
}
END {
	local $?;	# keep the test's exit status
	if ($pid) {
		kill 'TERM', $pid;
		waitpid $pid, 0;
	}
}
my $t0 = time;
sleep 0.05 until -S $sock || time - $t0 > 20;
ok(-S $sock, 'the program listens') or BAIL_OUT('scenegen-api did not start');

my ($soft, $hard) = ('', '');
if (open my $fh, '<', "/proc/$pid/limits") {
	for (<$fh>) {
		($soft, $hard) = ($1, $2) if /^Max open files\s+(\S+)\s+(\S+)/;
	}
}
is("$soft $hard", '104 200', 'soft limit raised to 40 + 64, hard unchanged');

# Closes of a kept connection for a new one, as the worker logs them.
sub yields {
	open my $fh, '<', $log or return 0;
	return scalar grep { /kept connection idle \d+ ms closed/ } <$fh>;
}

my (@kept, @status);
for my $i (1 .. 40) {
	my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $sock)
	    or die "connect $sock: $!\n";
	push @status, fcgi_kept($s, $null, 10) // 'none';
	push @kept, $s;
}
is(scalar(grep { $_ eq '400' } @status), 40, '40 kept connections answered')
    or diag "@status";
sleep 0.1;
is(scalar(grep { IO::Select->new($_)->can_read(0) } @kept), 0,
    'all 40 still held');
is(yields(), 0, 'no close for a new connection logged');

my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $sock)
    or die "connect $sock: $!\n";
is(fcgi_kept($s, $null, 10), 400, 'the 41st answered');
sleep 0.1;
my @closed = grep { IO::Select->new($kept[$_])->can_read(0) } 0 .. $#kept;
is_deeply(\@closed, [ 0 ], 'the worker closed one for it, the first held');
is(yields(), 1, 'one close for a new connection logged');
close $_ for @kept, $s;

done_testing();
