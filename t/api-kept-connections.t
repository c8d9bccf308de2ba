#!/usr/bin/perl
# Kept FastCGI connections (README.md, "Kept connections") with more idle
# kept connections than workers, and more than they can hold: the API
# restarted with 2 workers (16 connections each) and a 3 s idle limit
# (SCENEGEN_API_KEEP_IDLE_MS), nginx keeping up to 64 idle connections
# per nginx worker for 60 s, 40 clients at once then idle. A worker pinned to an idle kept
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
my $yields_first = yields();
my $yields_start = $yields_first;
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

# --- pin: more kept connections than workers, then all idle ---------------
my ($max_wait, $waits, %codes) = (0, 0);
for my $round (1 .. 5) {
	# 40 at once: nginx opens as many connections to the 2 workers and
	# keeps them, more than the 2 x 16 the workers hold.
	for my $line (in_children(40, sub {
		my $ua = HTTP::Tiny->new(timeout => 30, keep_alive => 1);
		return map { join ' ', @{ timed($ua, 'GET', $null) }[0, 1] } 1 .. 3;
	})) {
		my ($code, $s) = split ' ', $line;
		$codes{$code}++;
	}
	# Idle: the workers now hold idle kept connections ('K').
	sleep 0.3;
	diag("round $round: scoreboard after the burst, idle: " . board())
	    if $round == 1;
	# New client connections (so new upstream connections too, from
	# whichever nginx worker takes them): each must be served now.
	for my $line (in_children(8, sub {
		my $ua = HTTP::Tiny->new(timeout => 30, keep_alive => 0);
		return join ' ', @{ timed($ua, 'GET', '/healthz') }[0, 1];
	})) {
		my ($code, $s) = split ' ', $line;
		$codes{$code}++;
		$waits++;
		$max_wait = $s if $s > $max_wait;
	}
}
my $yields = yields() - $yields_start;
diag(sprintf "pinned rounds: %d new requests, longest %.1f ms (idle limit "
    . "%d ms); answers %s; idle kept connections closed for a new one: %d",
    $waits, $max_wait * 1000, $IDLE_MS,
    join(',', map { "$_=$codes{$_}" } sort keys %codes), $yields);
ok($max_wait < $IDLE_MS / 1000,
    'no new request waited as long as the idle limit for a pinned worker');
is_deeply([ sort keys %codes ], [ 200, 400 ],
    'every answer was the expected 200 or 400');

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
ok(yields() - $yields_first > 0,
    'workers closed idle kept connections for new ones (the race was run)');

done_testing();
