#!/usr/bin/perl
# Live status with a real daemon and the stand-in, through nginx and
# nchan: a subscriber that opens a record's stream while it is pending
# gets the pending document first, then every change of status and
# progress the row goes through, in order, each within 1 s of the change
# (the change's time is the row's updated_at, read with its microseconds
# by a poller that samples the row every 50 ms; same host, same clock);
# the stream's last document is the completed
# one with its image. A second subscriber that comes in the middle gets
# the state of that moment first. The events are the API's documents:
# the same fields, and the final one equal to GET /api/v1/records/{id}.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use Scenegen::Test qw(stack_env http_req api_post sql1 daemon_test_setup
    daemon_start daemon_wait_ready daemon_stop sse_open sse_event
    daemons_sanitizer_clean);

plan skip_all => 'no live status in this stack'
    unless stack_env()->{SCENEGEN_EVENTS_SOCKET};
my ($user, $chapter, $token) = daemon_test_setup();
my %auth = (Authorization => "Bearer $token");

my $r = api_post(token => $token, chapter => $chapter, scene => 1,
    body => { scene_description => 'live status [standin:eta=3]' });
is($r->{status}, 202, 'posted') or diag $r->{content};
my $id = $r->{json}{record_id};
my $doc = http_req('GET', "/api/v1/records/$id", headers => \%auth)->{json};
is($doc->{status}, 'pending', 'pending: no daemon runs yet');

my $s = sse_open($doc->{events_url});
is($s->{status}, 200, 'stream opened by events_url');
my $first = sse_event($s, 2);
is($first && $first->{json}{status}, 'pending', 'first event: pending');

# The poller: (time, status, progress) each time the row changes.
pipe(my $rd, my $wr) or die "pipe: $!";
my $poller = fork // die "fork: $!";
if (!$poller) {
	close $rd;
	$wr->autoflush(1);
	my $last = '';
	my $end = time + 60;
	while (time < $end) {
		my $row = sql1(q{SELECT status || ' ' || progress || ' ' ||
		    extract(epoch FROM updated_at)
		    FROM image_generations WHERE id = :'id'}, id => $id);
		(my $state = $row) =~ s/ [^ ]+$//;
		if ($state ne $last) {
			print $wr "$row\n";
			$last = $state;
			last if $row =~ /^(completed|failed|canceled) /;
		}
		sleep 0.05;
	}
	exit 0;
}
close $wr;

my $d = daemon_start();
ok(daemon_wait_ready($d), 'daemon ready');

my @events = ($first);
my $second;
while (1) {
	my $e = sse_event($s, 20) or last;
	push @events, $e;
	if (!$second && ($e->{json}{status} // '') eq 'in_progress'
	    && ($e->{json}{progress} // 0) > 5) {
		# A subscriber coming now gets this state first.
		my $s2 = sse_open($doc->{events_url});
		my $e2 = sse_event($s2, 2);
		$second = $e2;
		my $now = http_req('GET', "/api/v1/records/$id",
		    headers => \%auth)->{json};
		ok($e2 && $e2->{json}{status} eq 'in_progress'
		    && $e2->{json}{progress} >= $e->{json}{progress}
		    && $e2->{json}{progress} <= $now->{progress},
		    'a subscriber joining midway gets the current state first')
		    or diag explain [ $e2 && $e2->{json}, $now ];
		close $s2->{sock};
	}
	last if ($e->{json}{status} // '') =~ /^(completed|failed|canceled)$/;
}
close $s->{sock};
my @changes;
while (my $line = <$rd>) {
	chomp $line;
	my ($st, $p, $t) = split / /, $line;
	push @changes, { at => $t, status => $st, progress => $p };
}
waitpid $poller, 0;

my @seq = map { "$_->{json}{status} $_->{json}{progress}" } @events;
note "events:  @seq[0..$#seq]";
note 'changes: ' . join(', ', map { "$_->{status} $_->{progress}" } @changes);
is($events[-1]{json}{status}, 'completed', 'the last event: completed');
like($events[-1]{json}{image_url} // '', qr/\.png$/, '... with its image');
my $final = http_req('GET', "/api/v1/records/$id", headers => \%auth)->{json};
is_deeply($events[-1]{json}, $final,
    'the last event is the API\'s document of the record');
is_deeply([ sort keys %{ $events[1]{json} } ], [ sort keys %$final ],
    'a daemon\'s event has the fields of the API\'s document');
ok(scalar(grep { ($_->{event} // '') eq 'status' && length($_->{id} // '') }
    @events) == @events, 'every event is "event: status" with an id');

# In order: status never goes back, progress never goes down.
my %rank = (pending => 0, in_progress => 1, completed => 2, failed => 2,
    canceled => 2);
my $ordered = 1;
for my $i (1 .. $#events) {
	my ($a, $b) = ($events[$i - 1]{json}, $events[$i]{json});
	$ordered = 0 if $rank{$b->{status}} < $rank{$a->{status}}
	    || ($b->{status} eq $a->{status} && $b->{progress} < $a->{progress});
}
ok($ordered, 'events in order: status forward, progress never down');
ok(@events >= 4, scalar(@events) . ' events (pending, claimed, progress, '
    . 'completed at least)');

# Every change the poller saw came as an event, within 1 s.
my ($missing, $worst, @lat) = (0, -1);
for my $c (@changes) {
	my ($e) = grep { $_->{json}{status} eq $c->{status}
	    && $_->{json}{progress} == $c->{progress} } @events;
	if (!$e) {
		$missing++;
		diag "no event for $c->{status} $c->{progress}";
		next;
	}
	next if $c->{status} eq 'pending';	# before the stream: first event
	my $lat = $e->{at} - $c->{at};
	push @lat, $lat;
	$worst = $lat if $lat > $worst;
}
is($missing, 0, 'every change of the row came as an event');
ok(@lat >= 2, scalar(@lat) . ' changes timed');
ok($worst >= 0 && $worst < 1, sprintf('each within 1 s of the row\'s '
    . 'updated_at (worst %.3f s, median %.3f s)', $worst,
    (sort { $a <=> $b } @lat)[int(@lat / 2)] // 0));

daemon_stop($d);
ok(daemons_sanitizer_clean(), 'no sanitizer report from the daemon');
done_testing;
