#!/usr/bin/perl
# Redis down: POST still answers 202 and the row is recorded as `pending`
# (PostgreSQL is the truth; the daemon's sweeper enqueues it later, tested
# elsewhere); /healthz says 503. Redis back: /healthz 200 and new requests
# are enqueued again without restarting the API.
use strict;
use warnings;
use Test::More;
use Scenegen::Test qw(api_post api_status http_req new_chapter part_down
    part_up wait_until wait_healthy count_rows sql1 is_uuid redis part_running
    redis_monitor_start redis_monitor_stop job_queued_seen api_pids
    api_same_ok);

my ($user, $chapter, $token) = new_chapter();
ok(wait_healthy(10), 'healthy before the test');

sub post {
	my ($scene) = @_;
	return api_post(token => $token, chapter => $chapter, scene => $scene,
	    body => { scene_description => 'A ship without a harbour' });
}

# Warm the API workers' Redis connections so that they lose them.
post(1) for 1 .. 3;
my ($api_pid, $workers) = api_pids();

part_down('redis');
ok(wait_until(sub { !part_running('redis') }, 10), 'Redis stopped');

my @ids;
for my $i (1 .. 4) {
	my $r = post(2);
	is($r->{status}, 202, "POST with Redis down (#$i): 202") or diag $r->{content};
	my $id = ($r->{json} // {})->{record_id};
	ok(is_uuid($id), "POST with Redis down (#$i): a record_id");
	is(($r->{json} // {})->{status}, 'queued', "(#$i) status queued");
	push @ids, $id if is_uuid($id);
}
for my $id (@ids) {
	is(sql1("SELECT status || ' ' || retry_count FROM image_generations "
	    . "WHERE id = :'id' AND chapter_id = :'c'", id => $id, c => $chapter),
	    'pending 0', "row $id recorded, pending");
}
my $s = api_status(token => $token, chapter => $chapter, scene => 2);
is($s->{status}, 200, 'GET status with Redis down: 200');
is(($s->{json} // {})->{record_id}, $ids[-1], '... showing the newest record');

my $h = http_req('GET', '/healthz');
is($h->{status}, 503, '/healthz 503 with Redis down');
ok(ref $h->{json} eq 'HASH', '/healthz: a JSON body') or diag $h->{content};

part_up('redis');
ok(wait_healthy(30), '/healthz 200 once Redis is back');

# New requests reach the queue again (the same API processes).
my $mon = redis_monitor_start();
my @new;
for my $i (1 .. 4) {
	my $r = post(3);
	is($r->{status}, 202, "POST after Redis came back (#$i): 202");
	push @new, ($r->{json} // {})->{record_id} // '';
}
my $cmds = redis_monitor_stop($mon);
for my $id (@new) {
	# Pushed on its user's list (waiting for a provider slot) or added
	# to the stream. Where it is now does not tell: a daemon may have
	# taken it already.
	ok(job_queued_seen($id, $cmds), "record $id enqueued after Redis came back")
	    or diag join("\n", grep { /XADD|PUSH/i } @$cmds);
}
is(count_rows(chapter => $chapter), 3 + @ids + @new, 'rows = the 202s');
api_same_ok($api_pid, $workers);

done_testing();
