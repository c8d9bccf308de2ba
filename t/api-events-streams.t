#!/usr/bin/perl
# 1,000 live status streams held by nginx (nchan), not by the API: with
# 1,000 subscribers of one record connected and each given its first
# event, a status request is still answered at once and the API's
# scoreboard (SCENEGEN_API_SCOREBOARD) shows no busy worker. Then the
# record is canceled: every subscriber gets the canceled document; the
# time from the cancel's answer to the last subscriber's event is
# reported. One process, non-blocking sockets.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);
use Scenegen::Test qw(stack_env http_req api_post new_chapter
    daemon_takeover);

my $N = 1000;
my $e = stack_env();
plan skip_all => 'no live status in this stack'
    unless $e->{SCENEGEN_EVENTS_SOCKET};
plan skip_all => 'no API scoreboard in this stack'
    unless $e->{SCENEGEN_API_SCOREBOARD};
daemon_takeover();	# the record stays pending until the cancel
my ($user, $chapter, $token) = new_chapter();
my %auth = (Authorization => "Bearer $token");

my $r = api_post(token => $token, chapter => $chapter, scene => 1,
    body => { scene_description => 'many subscribers' });
is($r->{status}, 202, 'posted') or diag $r->{content};
my $id = $r->{json}{record_id};
my $url = http_req('GET', "/api/v1/records/$id",
    headers => \%auth)->{json}{events_url};
my ($host, $port) = $e->{BASE_URL} =~ m{^https?://([^/:]+):(\d+)};

# Busy workers, from the scoreboard: one character per worker.
sub busy {
	open my $fh, '<', $e->{SCENEGEN_API_SCOREBOARD} or return -1;
	my $line = <$fh> // '';
	return ($line =~ tr/B//);
}
ok(-s $e->{SCENEGEN_API_SCOREBOARD}, 'the scoreboard file exists');

# Open $N streams, a few hundred connects at a time.
my $t0 = time;
my (@socks, %buf, %events);
my $sel = IO::Select->new;
for my $i (1 .. $N) {
	my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
	    Blocking => 1, Timeout => 10);
	if (!$s) {
		diag "connect $i: $!";
		last;
	}
	$s->blocking(0);
	syswrite $s, "GET $url HTTP/1.0\r\nHost: localhost\r\n"
	    . "Accept: text/event-stream\r\n\r\n";
	push @socks, $s;
	$sel->add($s);
	$buf{fileno $s} = '';
	$events{fileno $s} = 0;
}
is(scalar @socks, $N, "$N connections open");

# Read until each stream has had $want events (or the deadline).
sub pump {
	my ($want, $deadline) = @_;
	my $last = 0;
	while (time < $deadline) {
		my $done = grep { $events{ fileno $_ } >= $want } @socks;
		return ($done, $last) if $done == @socks;
		for my $s ($sel->can_read(0.2)) {
			my $n = sysread $s, $buf{fileno $s}, 65536,
			    length $buf{fileno $s};
			if (!$n) {
				$sel->remove($s);
				next;
			}
			my $c = () = $buf{fileno $s} =~ /^event: status$/mg;
			if ($c > $events{fileno $s}) {
				$events{fileno $s} = $c;
				$last = time if $c == $want;
			}
		}
	}
	return (scalar(grep { $events{ fileno $_ } >= $want } @socks), $last);
}
my ($got) = pump(1, time + 60);
is($got, $N, "all $N streams have their first event");
my $ok200 = grep { $buf{ fileno $_ } =~ m{^HTTP/1\.[01] 200} } @socks;
is($ok200, $N, 'every one answered 200');
note sprintf('%d streams open and served in %.2f s', $N, time - $t0);

# The streams are nginx's: the API is free.
my $b0 = busy();
my $ts = time;
my $st = http_req('GET', "/api/v1/records/$id", headers => \%auth);
my $took = time - $ts;
is($st->{status}, 200, "a status request with $N streams open: 200");
ok($took < 0.5, sprintf('... answered at once (%.3f s)', $took));
is($b0, 0, "busy API workers with $N streams open: 0");
# The worker marks itself idle just after the answer has gone out.
my $b1 = busy();
for (1 .. 50) {
	last if $b1 == 0;
	sleep 0.01;
	$b1 = busy();
}
is($b1, 0, '... and once the status request is done: 0');
my $alive = grep { $sel->exists($_) } @socks;
is($alive, $N, 'every stream is still open');

# One change, fanned out to every subscriber by nginx.
my $tc = time;
my $c = http_req('POST', "/api/v1/records/$id/cancel", headers => \%auth);
is($c->{status}, 200, 'canceled') or diag $c->{content};
my ($got2, $last) = pump(2, time + 30);
is($got2, $N, "all $N subscribers got the change");
my $canceled = grep { $buf{ fileno $_ } =~ /"status":"canceled"/ } @socks;
is($canceled, $N, '... the canceled document');
note sprintf('cancel to the last of %d subscribers: %.3f s', $N,
    $last - $tc) if $last;
ok($last && $last - $tc < 1, sprintf('within 1 s (%.3f s)',
    $last ? $last - $tc : -1));
close $_ for @socks;
done_testing;
