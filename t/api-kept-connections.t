#!/usr/bin/perl
# Kept FastCGI connections (README.md, "Kept connections").
#
# Full workers: the API restarted with 2 workers holding 4 connections
# each (SCENEGEN_API_KEEP_MAX) and a 3 s idle limit
# (SCENEGEN_API_KEEP_IDLE_MS), nginx keeping up to 64 idle connections
# per nginx worker for 60 s; 40 idle kept connections held straight to
# the API's socket. A worker pinned to an idle kept connection would
# leave a new connection waiting in the backlog until one of those
# limits; here none waits more than the idle limit (the longest wait is
# printed).
#
# The race at full workers: under a mix of kept and new connections,
# POSTs and GETs, workers keep closing idle kept connections for new
# ones, and nginx may send a request on one in the same instant. nginx
# retries a GET then, not a POST it had sent: such a POST gets the JSON
# 503 with Retry-After and has no row, every other its 202 and its row.
#
# The default capacity (SCENEGEN_API_KEEP_MAX unset, nginx's idle limit
# below the API's, as shipped): the same mix, with as many kept
# connections in nginx, makes no worker close a connection nginx holds,
# so every POST gets its 202 and its row and no request fails.
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
use Scenegen::Ops qw(fcgi_kept);

my ($IDLE_MS, $KEEP_MAX) = (3000, 4);
my %full = (SCENEGEN_API_WORKERS => 2, SCENEGEN_API_KEEP_MAX => $KEEP_MAX,
    SCENEGEN_API_KEEP_IDLE_MS => $IDLE_MS, NGINX_KEEPALIVE => 64,
    NGINX_KEEPALIVE_TIMEOUT => '60s', SCENEGEN_LOG_LEVEL => 'debug');
my %shipped = (SCENEGEN_API_WORKERS => 2, NGINX_KEEPALIVE => 64,
    SCENEGEN_LOG_LEVEL => 'debug');
# The API and nginx restarted with the settings of $set (the others
# unset); nginx's new workers start with no kept connection.
sub restart {
	my ($set) = @_;
	delete @ENV{ keys %full, keys %shipped };
	@ENV{ keys %$set } = values %$set;
	stack_part('stop', 'api');
	stack_part('start', 'api');
	stack_part('start', 'nginx');	# rewrites its configuration, reloads
	wait_healthy(30) or die "stack not healthy\n";
}
restart(\%full);
END {
	eval { restart({}) };
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

# One request; returns [status, seconds, body, Retry-After].
sub timed {
	my ($ua, $method, $path, %args) = @_;
	my $t0 = time;
	my $r = $ua->request($method, "$base$path", \%args);
	return [ $r->{status}, time - $t0, $r->{content},
	    $r->{headers}{'retry-after'} // '' ];
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

# --- pinned: more idle kept connections than the workers hold -------------
# 40 kept connections straight to the API's socket, one request each and
# then idle: the 2 workers hold 4 each, so the last 32 are answered only
# because workers close idle ones for them. Then new requests through
# nginx, with every slot held by an idle kept connection.
my $sock = "$e->{STACK_DIR}/api.sock";
my @kept;
my ($max_wait, $answered) = (0, 0);
for my $i (1 .. 40) {
	my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $sock)
	    or die "connect $sock: $!\n";
	my $t0 = time;
	my $status = fcgi_kept($s, $null, 10);
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
ok($raw_yields >= 40 - 2 * $KEEP_MAX,
    "workers closed idle kept connections for the ones beyond 2 x $KEEP_MAX");
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

# --- mix: kept and new connections, POSTs and GETs ------------------------
# 40 clients for $seconds ($name names the printed line), each
# alternating a new client connection and a kept one: nginx opens up to
# 40 connections to the API and keeps up to 64 idle per nginx worker
# (more than 2 workers of 4 hold). Returns what was answered, the rows
# made, and what the API and nginx logged meanwhile.
sub mix {
	my ($seconds, $name) = @_;
	my $yields0 = yields();
	my $errlog0 = -s $errlog // 0;
	my $t_end = time + $seconds;
	my @lines = in_children(40, sub {
		my ($i) = @_;
		my ($user, $chapter, $token) = new_chapter();
		my $kept = HTTP::Tiny->new(timeout => 30, keep_alive => 1);
		my ($scene, @out) = (0);
		while (time < $t_end) {
			my $ua = $scene % 2 ? $kept
			    : HTTP::Tiny->new(timeout => 30, keep_alive => 0);
			$scene++;
			my $r = timed($ua, 'POST', "/api/v1/chapters/$chapter/"
			    . "images/scenes/$scene", headers => {
			    'Content-Type' => 'application/json',
			    Authorization => "Bearer $token" },
			    content => $json->encode({ scene_description =>
			    "kept $i $scene" }));
			my $unavailable = $r->[0] == 503
			    && $r->[2] =~ /"code":"unavailable"/
			    && $r->[3] =~ /^\d+$/ ? 1 : 0;
			push @out, "post $r->[0] $r->[1] $unavailable";
			$r = timed($ua, 'GET', $null);
			push @out, "get $r->[0] $r->[1] 0";
			# pauses around the 20 ms a kept connection must be
			# idle before it gives way
			sleep(rand(0.04));
		}
		push @out, "chapter $chapter";
		return @out;
	});
	my %m = (post => {}, get => {}, max_wait => 0, unavailable => 0);
	my @chapters;
	for (@lines) {
		if (/^chapter (\S+)$/) { push @chapters, $1; next }
		next unless /^(post|get) (\d+) ([0-9.e-]+) ([01])$/;
		$m{$1}{$2}++;
		$m{unavailable} += $4;
		$m{max_wait} = $3 if $3 > $m{max_wait};
	}
	$m{rows} = sql1("SELECT count(*) FROM image_generations WHERE "
	    . "chapter_id IN (" . join(',', map { "'$_'" } @chapters) . ")");
	$m{yields} = yields() - $yields0;
	$m{raced} = 0;
	if (open my $fh, '<', $errlog) {
		seek $fh, $errlog0, 0;
		while (<$fh>) {
			$m{raced}++ if /upstream prematurely closed|Broken pipe|Connection reset/;
		}
	}
	diag(sprintf "%s: POST %s; GET %s; rows %d; longest %.1f ms; idle kept "
	    . "connections closed for a new one: %d; kept connections nginx "
	    . "found closed: %d", $name,
	    join(',', map { "$_=$m{post}{$_}" } sort keys %{ $m{post} }),
	    join(',', map { "$_=$m{get}{$_}" } sort keys %{ $m{get} }),
	    $m{rows}, $m{max_wait} * 1000, $m{yields}, $m{raced});
	return \%m;
}

# Full workers: the race may happen; a POST it meets is refused whole.
my $m = mix(8, 'full workers');
my $accepted = $m->{post}{202} // 0;
ok($accepted > 100, "many POSTs accepted ($accepted)");
ok($m->{yields} > 0, 'workers closed idle kept connections for new ones '
    . "($m->{yields})");
is_deeply([ grep { $_ != 202 && $_ != 503 } keys %{ $m->{post} } ], [],
    'every POST got its 202 or a 503');
is($m->{unavailable}, $m->{post}{503} // 0,
    'every 503 is the JSON unavailable with Retry-After');
is($m->{rows}, $accepted, 'a row for every 202, none for a 503');
is_deeply([ keys %{ $m->{get} } ], [ 400 ],
    'every GET of the null route got its 400 (nginx retries it)');
ok($m->{max_wait} < $IDLE_MS / 1000,
    'no request waited as long as the idle limit');

# As shipped: no worker closes a connection nginx holds.
restart(\%shipped);
$m = mix(8, 'default capacity');
$accepted = $m->{post}{202} // 0;
ok($accepted > 100, "many POSTs accepted ($accepted)");
is($m->{yields}, 0, 'no worker closed a kept connection for a new one');
is_deeply([ keys %{ $m->{post} } ], [ 202 ], 'every POST got its 202');
is_deeply([ keys %{ $m->{get} } ], [ 400 ],
    'every GET of the null route got its 400');
is($m->{rows}, $accepted, 'a row for every 202');
is($m->{raced}, 0, 'nginx found no kept connection closed');

done_testing();
