#!/usr/bin/perl
# The generation daemon's happy path through the real stack: POST through
# nginx, scenegend claims the row, creates the generation at the stand-in
# once, polls it, copies the image to local storage and completes the row;
# the image is served by nginx; the stream is left clean.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep time);
use Scenegen::Test qw(stack_env http_req api_post api_status new_chapter
    new_uuid sql1 sql_rows redis wait_until json standin_creates);

my $env = stack_env();
plan skip_all => 'no stand-in in this stack' unless $env->{STANDIN_URL};

my ($user, $chapter, $token) = new_chapter();

# Wait until the record's status is final; returns the last status body and
# every progress value seen on the way.
sub wait_final {
	my ($scene, $timeout) = @_;
	my (@progress, $last);
	my $end = time + ($timeout // 30);
	while (time < $end) {
		my $r = api_status(token => $token, chapter => $chapter,
		    scene => $scene);
		if ($r->{status} == 200 && $r->{json}) {
			$last = $r->{json};
			push @progress, $last->{progress};
			last if $last->{status} =~ /^(completed|failed)$/;
		}
		sleep 0.1;
	}
	return ($last, \@progress);
}

subtest 'one scene from POST to a served PNG' => sub {
	my $script = new_uuid();
	my $desc = 'A young wizard discovering magic in an old library';
	my $r = api_post(token => $token, chapter => $chapter, scene => 3,
	    body => { scene_description => $desc, style => 'watercolor',
	    aspect_ratio => '1:1', script_id => $script });
	is($r->{status}, 202, 'POST accepted') or diag $r->{content};
	my $id = $r->{json}{record_id};
	ok($id, 'record id') or return;

	my ($st, $progress) = wait_final(3, 30);
	is($st->{status}, 'completed', 'status completed')
	    or diag explain $st;
	is($st->{progress}, 100, 'progress 100');
	is($st->{error_message}, undef, 'no error message');
	ok($st->{generation_time_seconds} > 0, 'generation time reported');
	my @p = @$progress;
	ok(!grep({ $p[$_] < $p[$_ - 1] } 1 .. $#p),
	    'progress never went down: ' . join(',', @p));

	like($st->{image_url}, qr{/images/\Q$id\E\.png$},
	    'image_url is our copy');
	my $img = http_req('GET', $st->{image_url});
	is($img->{status}, 200, 'image served by nginx');
	is(substr($img->{content} // '', 0, 8), "\x89PNG\r\n\x1a\n",
	    'it is a PNG');
	like($img->{headers}{'content-type'} // '', qr{image/png},
	    'served as image/png');
	ok(-s "$env->{SCENEGEN_IMAGE_DIR}/$id.png", 'file in the image dir');

	my $row = sql_rows(q{SELECT status, progress, attempts, retry_count,
	    lease_token IS NULL, lease_expires_at IS NULL,
	    provider_request_id, generation_time_seconds > 0,
	    completed_at IS NOT NULL, error_message IS NULL,
	    next_attempt_at IS NULL, metadata::text
	    FROM image_generations WHERE id = :'id'}, id => $id)->[0];
	is_deeply([ @$row[0 .. 5] ], [ 'completed', 100, 1, 0, 't', 't' ],
	    'row: completed, one attempt, no retry, lease cleared');
	like($row->[6], qr/^\S+$/, 'provider request id kept');
	is_deeply([ @$row[7 .. 10] ], [ 't', 't', 't', 't' ],
	    'generation time, completed_at, no error, no retry pending');
	my $m = json()->decode($row->[11]);
	is($m->{service}, 'modelslab_v7', 'metadata.service');
	is($m->{model_used}, 'gen4_image', 'metadata.model_used');
	ok($m->{generation_time} > 0, 'metadata.generation_time');
	is($m->{task_id}, $id, 'metadata.task_id');
	is($m->{scene_number}, 3, 'metadata.scene_number');
	is($m->{script_id}, $script, 'metadata.script_id');
	is($m->{chapter_id}, $chapter, 'metadata.chapter_id');
	is($m->{provider_request_id}, $row->[6],
	    'metadata.provider_request_id');

	my $c = standin_creates($id);
	is($c->{creates}, 1, 'the provider was asked to create exactly once');
	my $req = $c->{last_request} // {};
	is($req->{prompt}, "$desc, watercolor style",
	    'prompt: description verbatim, then the style');
	is($req->{aspect_ratio}, '1:1', 'aspect ratio sent');
	is($req->{model_id}, 'gen4_image', 'model id sent');
	is($req->{track_id}, $id, 'track_id is the record id');
	ok(exists $req->{webhook} && !defined $req->{webhook}, 'webhook null');
	is($req->{key}, 'standin-key', 'key in the body');
	is($c->{last_key_header}, 'standin-key', 'key in the header too');

	my $stream = redis('XRANGE', '{scenegen}:jobs', '-', '+');
	unlike($stream, qr/\Q$id\E/, 'entry acked and deleted from the stream');
	is(redis('ZSCORE', '{scenegen}:delayed', $id), '',
	    'not in the delayed set');
};

subtest 'twenty at once: all completed, each created once' => sub {
	my %ids;
	for my $scene (101 .. 120) {
		my $r = api_post(token => $token, chapter => $chapter,
		    scene => $scene, body => { scene_description =>
		    "Scene $scene: a dragon over the harbour at dusk" });
		$ids{$r->{json}{record_id}} = $scene if $r->{status} == 202;
	}
	is(scalar keys %ids, 20, '20 accepted');
	my $in = join ',', map { "'$_'" } keys %ids;
	my $done = wait_until(sub {
		sql1("SELECT count(*) FROM image_generations WHERE id IN ($in)
		    AND status = 'completed'") == 20 }, 40);
	ok($done, 'all 20 completed')
	    or diag sql1("SELECT id, status, error_message FROM
		image_generations WHERE id IN ($in)");
	my @twice = grep { (standin_creates($_)->{creates} // 0) != 1 }
	    keys %ids;
	is_deeply(\@twice, [], 'exactly one create per record');
	is(sql1("SELECT count(*) FROM image_generations WHERE id IN ($in)
	    AND (attempts <> 1 OR lease_token IS NOT NULL)"), 0,
	    'one attempt each, no lease left behind');
};

subtest 'a malformed stream entry is acked and deleted' => sub {
	my $entry = redis('XADD', '{scenegen}:jobs', '*', 'id', 'not-a-uuid');
	like($entry, qr/^\d+-\d+$/, 'entry added');
	my $gone = wait_until(sub {
		redis('XRANGE', '{scenegen}:jobs', $entry, $entry) eq '' }, 10);
	ok($gone, 'entry deleted from the stream');
	unlike(redis('XPENDING', '{scenegen}:jobs', 'scenegend', '-', '+',
	    '100'), qr/\Q$entry\E/, 'and not left pending');
};

subtest 'stats published for the API' => sub {
	my %h = split /\n/, redis('HGETALL', '{scenegen}:stats');
	ok(exists $h{capacity} && $h{capacity} >= 1, 'capacity');
	ok(exists $h{in_flight}, 'in_flight');
	ok(defined $h{avg_generation_ms} && $h{avg_generation_ms} > 0,
	    'avg_generation_ms after completions');
};

done_testing();
