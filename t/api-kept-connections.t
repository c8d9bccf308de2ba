#!/usr/bin/perl
# Kept FastCGI connections (README.md, "Kept connections") with more idle
# kept connections than workers, and more than they can hold: the API
# restarted with 2 workers (16 connections each) and a 3 s idle limit
# (SCENEGEN_API_KEEP_IDLE_MS), nginx keeping up to 64 idle connections
# per nginx worker for 60 s; 40 idle kept connections held straight to
# the API's socket. A worker pinned to an idle kept
# connection would leave a new connection waiting in the backlog until
# one of those limits; here none waits more than the idle limit (the
# longest wait is printed), every POST gets its 202 and its row, and no
# request gets a 502/503 under a mix of kept and new connections, while
# workers keep closing idle kept connections for new ones (the race of
# worker.c: nginx retries a GET on a kept connection that fails; the
# count of such failures nginx logged is printed).
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use IO::Select;
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);
use Time::HiRes qw(time sleep);
use Scenegen::Test qw(stack_env stack_part wait_healthy new_chapter sql1);

my $IDLE_MS = 3000;
my %settings = (SCENEGEN_API_WORKERS => 2, SCENEGEN_API_KEEP_IDLE_MS => $IDLE_MS,
    NGINX_KEEPALIVE => 64, NGINX_KEEPALIVE_TIMEOUT => '60s',
    SCENEGEN_LOG_LEVEL => 'debug');
sub restart {
	stack_part('stop', 'api');
	stack_part('start', 'api');
	stack_part('start', 'nginx');	# rewrites its configuration, reloads
	wait_healthy(30) or die "stack not healthy\n";
}
@ENV{ keys %settings } = values %settings;
restart();
END {
	delete @ENV{ keys %settings };
	eval { restart() };
}

my $e = stack_env();
my $base = $e->{BASE_URL};
my $errlog = "$e->{STACK_DIR}/nginx/error.log";
my $errlog_start = -s $errlog // 0;
my $apilog = "$e->{STACK_DIR}/api.log";

# Kept connections a worker closed for a new one (debug lines of api.log).
sub yields {
	open my $fh, '<', $apilog or return 0;
	return scalar grep { /kept connection idle \d+ ms closed/ } <$fh>;
}
my $yields_start = yields();
my $board_file = $e->{SCENEGEN_API_SCOREBOARD};
my $json = JSON::PP->new;

sub board {
	open my $fh, '<', $board_file or return '';
	my $b = <$fh> // '';
	chomp $b;
	return $b;
}

# One request; returns [status, seconds].
sub timed {
	my ($ua, $method, $path, %args) = @_;
	my $t0 = time;
	my $r = $ua->request($method, "$base$path", \%args);
	return [ $r->{status}, time - $t0, $r->{content} ];
}

# Run $n children, each calling $code->($i) that returns lines to report;
# returns every line of every child.
sub in_children {
	my ($n, $code) = @_;
	my @fh;
	for my $i (1 .. $n) {
		my $pid = open my $fh, '-|';
		die "fork: $!\n" unless defined $pid;
		if ($pid == 0) {
			print "$_\n" for $code->($i);
			require POSIX;
			POSIX::_exit(0);
		}
		push @fh, $fh;
	}
	my @lines;
	for my $fh (@fh) {
		push @lines, map { chomp; $_ } <$fh>;
		close $fh;
	}
	return @lines;
}

my $null = '/api/v1/chapters/not-a-uuid/images/scenes/1/status';

# A FastCGI request with FCGI_KEEP_CONN on socket $s (a kept connection,
# as nginx's); returns the answer's status, or undef if the connection was
# closed or nothing came within $timeout seconds.
sub fcgi_kept {
	my ($s, $timeout) = @_;
	my $rec = sub {
		my ($type, $content) = @_;
		my $pad = (8 - length($content) % 8) % 8;
		return pack('CCnnCC', 1, $type, 1, length $content, $pad, 0)
		    . $content . ("\0" x $pad);
	};
	my $p = '';
	my %params = (REQUEST_METHOD => 'GET', REQUEST_URI => $null,
	    SCRIPT_NAME => '/scenegen');
	for my $k (sort keys %params) {
		$p .= pack('CC', length $k, length $params{$k}) . $k . $params{$k};
	}
	my $out = $rec->(1, pack('nCx5', 1, 1))	# RESPONDER, FCGI_KEEP_CONN
	    . $rec->(4, $p) . $rec->(4, '') . $rec->(5, '');
	return undef unless defined syswrite($s, $out);
	my $sel = IO::Select->new($s);
	my ($in, $stdout, $end) = ('', '', time + $timeout);
	for (;;) {
		return undef unless $sel->can_read($end - time);
		my $n = sysread($s, $in, 65536, length $in);
		return undef unless $n;
		while (length $in >= 8) {
			my (undef, $type, undef, $clen, $plen) = unpack('CCnnC', $in);
			last if length $in < 8 + $clen + $plen;
			$stdout .= substr($in, 8, $clen) if $type == 6;
			substr($in, 0, 8 + $clen + $plen, '');
			if ($type == 3) {
				my ($status) = $stdout =~ /^Status:\s*(\d+)/mi;
				return $status // 200;
			}
		}
	}
}

# --- pinned: more idle kept connections than the workers hold -------------
# 40 kept connections straight to the API's socket, one request each and
# then idle: the 2 workers hold 16 each, so the last 8 are answered only
# because workers close idle ones for them. Then new requests through
# nginx, with every slot held by an idle kept connection.
my $sock = "$e->{STACK_DIR}/api.sock";
my @kept;
my ($max_wait, $answered) = (0, 0);
for my $i (1 .. 40) {
	my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $sock)
	    or die "connect $sock: $!\n";
	my $t0 = time;
	my $status = fcgi_kept($s, 10);
	my $took = time - $t0;
	$max_wait = $took if $took > $max_wait;
	$answered++ if ($status // 0) == 400;
	push @kept, $s;
}
my $raw_yields = yields() - $yields_start;
diag(sprintf "40 kept connections to 2 workers: %d answered, longest %.1f "
    . "ms, idle ones closed for a new one: %d; scoreboard %s", $answered,
    $max_wait * 1000, $raw_yields, board());
is($answered, 40, 'each of 40 kept connections got its answer');
ok($raw_yields >= 8,
    'workers closed idle kept connections for the ones beyond 2 x 16');
ok($max_wait < $IDLE_MS / 1000,
    'no kept connection waited as long as the idle limit');

# Now every slot holds an idle kept connection; new ones through nginx.
$yields_start = yields();
my %codes;
($max_wait, my $waits) = (0, 0);
for my $round (1 .. 5) {
	for my $line (in_children(8, sub {
		my $ua = HTTP::Tiny->new(timeout => 30, keep_alive => 0);
		return join ' ', @{ timed($ua, 'GET', '/healthz') }[0, 1];
	})) {
		my ($code, $s) = split ' ', $line;
		$codes{$code}++;
		$waits++;
		$max_wait = $s if $s > $max_wait;
	}
	sleep 0.1;
}
my $closed = grep { IO::Select->new($_)->can_read(0) } @kept;
close $_ for @kept;
diag(sprintf "pinned: %d new requests through nginx, longest %.1f ms (idle "
    . "limit %d ms); answers %s; idle kept connections closed for a new "
    . "one: %d; of the 40 held, closed by the workers: %d", $waits,
    $max_wait * 1000, $IDLE_MS,
    join(',', map { "$_=$codes{$_}" } sort keys %codes),
    yields() - $yields_start, $closed);
ok($max_wait < $IDLE_MS / 1000,
    'no new request waited as long as the idle limit for a pinned worker');
is_deeply([ keys %codes ], [ 200 ], 'every new request got its 200');

# --- mix: kept and new connections, POSTs and GETs, for 10 s --------------
# 40 clients: more connections than the workers hold, so that they keep
# closing idle kept connections for new ones while nginx sends on others.
$yields_start = yields();
my $t_end = time + 10;
my @lines = in_children(40, sub {
	my ($i) = @_;
	my ($user, $chapter, $token) = new_chapter();
	my $kept = HTTP::Tiny->new(timeout => 30, keep_alive => 1);
	my ($scene, @out, $max) = (0, (), 0);
	while (time < $t_end) {
		# every other request on a new client connection
		my $ua = $scene % 2 ? $kept
		    : HTTP::Tiny->new(timeout => 30, keep_alive => 0);
		$scene++;
		my $r = timed($ua, 'POST', "/api/v1/chapters/$chapter/images/"
		    . "scenes/$scene", headers => { 'Content-Type' =>
		    'application/json', Authorization => "Bearer $token" },
		    content => $json->encode({ scene_description =>
		    "kept $i $scene" }));
		push @out, "post $r->[0] $r->[1]";
		$r = timed($ua, 'GET', $null);
		push @out, "get $r->[0] $r->[1]";
		# pauses around the 20 ms a kept connection must be idle
		# before it gives way
		sleep(rand(0.04));
	}
	push @out, "chapter $chapter";
	return @out;
});
my (%post, %get, @chapters);
$max_wait = 0;
for (@lines) {
	if (/^chapter (\S+)$/) { push @chapters, $1; next }
	next unless /^(post|get) (\d+) ([0-9.e-]+)$/;
	($1 eq 'post' ? \%post : \%get)->{$2}++;
	$max_wait = $3 if $3 > $max_wait;
}
my $accepted = $post{202} // 0;
my $rows = sql1("SELECT count(*) FROM image_generations WHERE chapter_id IN ("
    . join(',', map { "'$_'" } @chapters) . ")");
my $failed = 0;
$failed += $_ for map { $post{$_} // 0, $get{$_} // 0 } 502, 503, 504;
my $raced = 0;
if (open my $fh, '<', $errlog) {
	seek $fh, $errlog_start, 0;
	while (<$fh>) {
		$raced++ if /upstream prematurely closed|Broken pipe|Connection reset/;
	}
}
diag(sprintf "mix: POST %s; GET %s; rows %d; longest %.1f ms; idle kept "
    . "connections closed for a new one: %d; kept connections nginx found "
    . "closed: %d", join(',', map { "$_=$post{$_}" } sort keys %post),
    join(',', map { "$_=$get{$_}" } sort keys %get), $rows,
    $max_wait * 1000, yields() - $yields_start, $raced);
ok($accepted > 100, "many POSTs accepted ($accepted)");
is_deeply([ keys %post ], [ 202 ], 'every POST got its 202');
is_deeply([ keys %get ], [ 400 ], 'every GET of the null route got its 400');
is($failed, 0, 'no 502, 503 or 504');
is($rows, $accepted, 'a row for every 202');
ok($max_wait < $IDLE_MS / 1000, 'no request waited as long as the idle limit');

done_testing();
