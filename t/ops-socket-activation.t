#!/usr/bin/perl
# scenegen-api under systemd socket activation, as scenegen-api.socket
# starts it: `systemd-socket-activate -l SOCKET scenegen-api` holds the
# listening socket and starts the program on the first connection with
# LISTEN_FDS=1 (fd 3). FastCGI requests through that socket are answered
# (GET /healthz 200, a POST 202 for the stack's chapter), the program says
# it uses the passed socket, and it creates no socket of its own at
# SCENEGEN_API_SOCKET. SIGTERM stops it cleanly.
use strict;
use warnings;
use File::Temp qw(tempdir);
use FindBin;
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);
use lib "$FindBin::Bin/lib";
use Scenegen::Ops qw(have_tool ops_build_dir fcgi_request stack_settings);
use Scenegen::Test qw(json new_chapter);

plan skip_all => 'systemd-socket-activate not installed'
    unless have_tool('systemd-socket-activate');
my $api = ops_build_dir() . '/scenegen-api';
plan skip_all => "$api not built" unless -x $api;

my $tmp = tempdir('scenegen-sockact.XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $sock = "$tmp/api.sock";
my $unused = "$tmp/own.sock";
my $log = "$tmp/api.log";
my %env = (
	stack_settings(),
	SCENEGEN_API_WORKERS => 2,
	SCENEGEN_API_SOCKET => $unused,
	SCENEGEN_LOG_LEVEL => 'info',
);
# Sanitizer settings of the suite reach the program too.
$env{$_} = $ENV{$_} for grep { defined $ENV{$_} }
    qw(ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS);

my $pid = fork // die "fork: $!";
if ($pid == 0) {
	POSIX::setsid();
	open STDIN, '<', '/dev/null' or die $!;
	open STDOUT, '>', $log or die $!;
	open STDERR, '>&', \*STDOUT or die $!;
	exec 'systemd-socket-activate', '-l', $sock,
	    (map { ('-E', "$_=$env{$_}") } sort keys %env), $api;
	die "exec: $!";
}
END {
	local $?;	# keep the test's exit status
	if ($pid) {
		kill 'KILL', -$pid;
		waitpid $pid, 0;
	}
}

my $t0 = time;
sleep 0.05 until -S $sock || time - $t0 > 10;
ok(-S $sock, 'systemd-socket-activate listens on the socket');
ok(!-e $unused, 'no program yet: nothing at SCENEGEN_API_SOCKET');

my %base = (SERVER_PROTOCOL => 'HTTP/1.1', GATEWAY_INTERFACE => 'CGI/1.1',
    SERVER_NAME => 'localhost', SERVER_PORT => 80, REMOTE_ADDR => '127.0.0.1',
    SCRIPT_NAME => '/scenegen', PATH_INFO => '', QUERY_STRING => '');

# The first connection starts the program; it answers from the backlog.
my $r = eval { fcgi_request($sock, { %base, REQUEST_METHOD => 'GET',
    REQUEST_URI => '/healthz', DOCUMENT_URI => '/healthz' }, '', 20) };
ok($r, 'a FastCGI answer to GET /healthz') or diag $@;
SKIP: {
	skip 'no answer', 3 unless $r;
	is($r->{status}, 200, 'GET /healthz: 200') or diag $r->{body};
	my $j = eval { json()->decode($r->{body}) };
	is(($j // {})->{status}, 'ok', 'body says ok');
	like($r->{headers}{'content-type'} // '', qr{^application/json},
	    'JSON answer');
}

my ($user, $chapter, $token) = new_chapter();
my $uri = "/api/v1/chapters/$chapter/images/scenes/2";
my $body = json()->encode({ scene_description => 'A kite over dunes' });
$r = eval { fcgi_request($sock, { %base, REQUEST_METHOD => 'POST',
    REQUEST_URI => $uri, DOCUMENT_URI => $uri,
    CONTENT_TYPE => 'application/json', CONTENT_LENGTH => length $body,
    HTTP_AUTHORIZATION => "Bearer $token" }, $body, 20) };
ok($r, 'a FastCGI answer to the POST') or diag $@;
is($r && $r->{status}, 202, 'POST through the passed socket: 202')
    or diag $r && $r->{body};

# Several connections at once, all answered by the worker pool.
my @r = map { eval { fcgi_request($sock, { %base, REQUEST_METHOD => 'GET',
    REQUEST_URI => '/healthz', DOCUMENT_URI => '/healthz' }, '', 20) } } 1 .. 8;
is(scalar(grep { $_ && $_->{status} == 200 } @r), 8, '8 more requests: 8 answers');

ok(!-e $unused, 'the program created no socket of its own');
open my $fh, '<', $log or die $!;
my $text = join '', <$fh>;
like($text, qr/listening on the socket systemd passed/,
    'the program says it uses the socket systemd passed');

# SIGTERM: a clean stop (the pool drains, exit status 0).
kill 'TERM', $pid;
my $t1 = time;
my $done = 0;
while (time - $t1 < 25) {
	if (waitpid($pid, POSIX::WNOHANG()) == $pid) { $done = 1; last }
	sleep 0.05;
}
ok($done, 'SIGTERM stops it') or diag $text;
is($? >> 8, 0, 'exit status 0') if $done;
$pid = 0 if $done;

done_testing();
