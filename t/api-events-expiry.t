#!/usr/bin/perl
# Live status: nchan keeps a record's document a minute, not an hour, so
# its shared memory holds the records that changed within a minute (with
# an hour, a busy day filled the default 128 MB after about 120,000
# records and every later publish failed: no first event, 503). A new
# subscriber still gets the current document first: the API publishes it
# again when the channel is empty or its document is 30 s old or more.
# Two pending records (no daemon runs), each subscribed once at the start:
# - A, subscribed again after 35 s: its document is published anew (the
#   channel's message id, "<epoch>:<tag>", moves on), and the subscriber
#   gets it first;
# - B, left alone: its channel is empty within the minute and a half, and
#   a subscriber after that still gets its document first.
use strict;
use warnings;
use IO::Socket::UNIX;
use Test::More;
use Time::HiRes qw(time sleep);
use Scenegen::Test qw(stack_env http_req api_post daemon_test_setup
    sse_open sse_event);

my $sock = stack_env()->{SCENEGEN_EVENTS_SOCKET};
plan skip_all => 'no live status in this stack' unless $sock;
my ($user, $chapter, $token) = daemon_test_setup();
my %auth = (Authorization => "Bearer $token");

# nchan's channel info of record $id: (HTTP status, message epoch or undef).
sub channel {
	my ($id) = @_;
	my $s = IO::Socket::UNIX->new(Peer => $sock) or die "$sock: $!\n";
	print $s "GET /.scenegen-publish/$id HTTP/1.0\r\nHost: t\r\n"
	    . "Accept: application/json\r\n\r\n";
	local $/;
	my $answer = <$s> // '';
	my ($code) = $answer =~ m{^HTTP/1\.\d (\d{3})};
	my ($epoch) = $answer =~ /"last_message_id": "(\d+):/;
	return ($code // 0, $epoch);
}

# Post a scene; subscribe once; its id, events_url and first event.
sub record_with_subscriber {
	my ($scene) = @_;
	my $r = api_post(token => $token, chapter => $chapter, scene => $scene,
	    body => { scene_description => "expiry $scene" });
	is($r->{status}, 202, "scene $scene posted") or diag $r->{content};
	my $id = $r->{json}{record_id};
	my $doc = http_req('GET', "/api/v1/records/$id",
	    headers => \%auth)->{json};
	my $s = sse_open($doc->{events_url});
	my $e = sse_event($s, 5);
	is($e && $e->{json}{status}, 'pending',
	    "scene $scene: first event, pending");
	close $s->{sock};
	return ($id, $doc->{events_url});
}

my $t0 = time;
my ($a_id, $a_url) = record_with_subscriber(1);
my ($b_id, $b_url) = record_with_subscriber(2);
my ($code, $a_epoch) = channel($a_id);
is($code, 200, 'A: the channel holds a document');
ok(defined $a_epoch, 'A: with a message id') or diag "code $code";

# A, 35 s on: published anew, and the subscriber gets it first.
my $wait = 35 - (time - $t0);
sleep($wait) if $wait > 0;
my $s = sse_open($a_url);
is($s->{status}, 200, 'A after 35 s: stream opened');
my $e = sse_event($s, 5);
is($e && $e->{json}{status}, 'pending', 'A after 35 s: first event');
close $s->{sock};
my ($code2, $a_epoch2) = channel($a_id);
is($code2, 200, 'A after 35 s: the channel holds a document');
ok(defined $a_epoch2 && defined $a_epoch && $a_epoch2 >= $a_epoch + 30,
    'A after 35 s: the document was published again (not the old one)')
    or diag "message epoch before $a_epoch, after " . ($a_epoch2 // 'none');

# B: gone from nchan's memory within 90 s of its only publish.
my ($b_code, $gone_at) = (0, undef);
while (time - $t0 < 90) {
	($b_code) = channel($b_id);
	if ($b_code == 404) {
		$gone_at = time - $t0;
		last;
	}
	sleep 1;
}
is($b_code, 404, 'B: nchan dropped its document (the channel is empty)');
diag sprintf('B: gone %.0f s after its publish', $gone_at) if defined $gone_at;
$s = sse_open($b_url);
is($s->{status}, 200, 'B after expiry: stream opened');
$e = sse_event($s, 5);
is($e && $e->{json}{status}, 'pending',
    'B after expiry: its document first, published again');
close $s->{sock};
is((channel($b_id))[0], 200, 'B after expiry: the channel holds it again');

done_testing;
