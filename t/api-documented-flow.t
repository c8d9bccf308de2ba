#!/usr/bin/perl
# The old system's documented curl flow, against the real stack: POST a scene
# request -> 202 with the documented body and a Location, a row in
# image_generations, a job in the Redis stream; defaults for style and
# aspect_ratio; then GET status -> 200 with exactly the documented fields.
use strict;
use warnings;
use Test::More;
use Scenegen::Test qw(api_post api_status new_chapter new_uuid sql1 sql_rows
    scene_path is_uuid part_running redis_monitor_start redis_monitor_stop
    stream_has_job wait_until);

my $message = 'Scene image generation has been queued and will be processed '
    . 'in the background';
my ($user, $chapter, $token) = new_chapter();
my $script_id = new_uuid();
my $scene = 3;

my $mon = redis_monitor_start();
my $r = api_post(token => $token, chapter => $chapter, scene => $scene, body => {
	scene_description => 'A young wizard discovering magic',
	style => 'cinematic', aspect_ratio => '16:9', script_id => $script_id,
});
my $cmds = redis_monitor_stop($mon);

is($r->{status}, 202, 'POST answers 202 Accepted') or diag $r->{content};
is($r->{headers}{'content-type'}, 'application/json; charset=utf-8',
    'Content-Type: application/json; charset=utf-8');
my $status_path = scene_path($chapter, $scene) . '/status';
like($r->{headers}{location} // '', qr{\A(?:https?://[^/]+)?\Q$status_path\E\z},
    "Location is the status URL $status_path");

my $b = $r->{json} // {};
is(ref $b, 'HASH', 'body is a JSON object') or diag $r->{content};
ok(defined $b->{task_id} && !ref $b->{task_id} && length $b->{task_id},
    'task_id is a non-empty string');
is($b->{status}, 'queued', 'status "queued"');
is($b->{message}, $message, 'the documented message');
like($r->{content}, qr/"estimated_time_seconds"\s*:\s*[1-9][0-9]*\s*[,}]/,
    'estimated_time_seconds is a positive JSON integer');
ok(is_uuid($b->{record_id}), 'record_id is a UUID')
    or diag explain $b->{record_id};
like($r->{content}, qr/"scene_number"\s*:\s*$scene\s*[,}]/,
    "scene_number is the number $scene");
like($r->{content}, qr/"retry_count"\s*:\s*0\s*[,}]/, 'retry_count is the number 0');
my $id = $b->{record_id} // '00000000-0000-0000-0000-000000000000';

# --- the row -----------------------------------------------------------------
my $rows = sql_rows(<<'SQL', id => $id);
SELECT user_id, chapter_id, scene_number, script_id, image_type, status,
	progress, retry_count, prompt, style, aspect_ratio,
	metadata->>'scene_number', metadata->>'chapter_id',
	metadata->>'script_id', metadata->>'service'
FROM image_generations WHERE id = :'id'
SQL
is(scalar @$rows, 1, 'one row with id = record_id');
my %row;
@row{qw(user_id chapter_id scene_number script_id image_type status progress
    retry_count prompt style aspect_ratio m_scene m_chapter m_script m_service)}
    = @{ $rows->[0] // [] };
is($row{user_id}, $user, 'row user_id is the token\'s sub');
is($row{chapter_id}, $chapter, 'row chapter_id');
is($row{scene_number}, $scene, 'row scene_number');
is($row{script_id}, $script_id, 'row script_id');
is($row{image_type}, 'scene', "row image_type 'scene'");
like($row{status} // '', qr/\A(?:pending|in_progress|completed|failed)\z/,
    'row status pending or later') or diag "status: " . ($row{status} // 'undef');
like($row{progress} // '', qr/\A(?:[0-9]|[1-9][0-9]|100)\z/, 'row progress 0..100');
is($row{progress}, 0, 'row progress 0 while pending')
    if ($row{status} // '') eq 'pending';
is($row{retry_count}, 0, 'row retry_count 0');
is($row{prompt}, 'A young wizard discovering magic', 'row prompt = scene_description');
is($row{style}, 'cinematic', 'row style');
is($row{aspect_ratio}, '16:9', 'row aspect_ratio');
is($row{m_scene}, $scene, 'metadata.scene_number');
is($row{m_chapter}, $chapter, 'metadata.chapter_id');
is($row{m_script}, $script_id, 'metadata.script_id');
is($row{m_service}, 'modelslab_v7', 'metadata.service modelslab_v7');

# --- the job in Redis ------------------------------------------------------
# Redis MONITOR saw the API's XADD; a running daemon may already have taken
# (and deleted) the entry, so the stream itself is checked only without one.
is(stream_has_job($id, $cmds), 1,
    'one XADD {scenegen}:jobs with field id = record_id')
    or diag join("\n", grep { /XADD/i } @$cmds);
if (part_running('daemon')) {
	ok(wait_until(sub {
		sql1("SELECT status FROM image_generations WHERE id = :'id'", id => $id)
		    ne 'pending' }, 30),
	    'the running daemon picked the job up (row left pending)');
} else {
	is(stream_has_job($id), 1, 'the stream {scenegen}:jobs holds the job');
}

# --- defaults ----------------------------------------------------------------
my $d = api_post(token => $token, chapter => $chapter, scene => 4,
    body => { scene_description => 'A castle at dawn' });
is($d->{status}, 202, 'POST with only scene_description: 202')
    or diag $d->{content};
my $did = ($d->{json} // {})->{record_id} // '00000000-0000-0000-0000-000000000000';
is(sql1("SELECT style || ' ' || aspect_ratio || ' ' || "
    . "coalesce(script_id::text, 'null') || ' ' || image_type "
    . "FROM image_generations WHERE id = :'id'", id => $did),
    'cinematic 16:9 null scene',
    'defaults: style cinematic, aspect_ratio 16:9, script_id null');
is(($d->{json} // {})->{scene_number}, 4, 'scene_number 4 in the answer');

# --- status ------------------------------------------------------------------
my $s = api_status(token => $token, chapter => $chapter, scene => $scene);
is($s->{status}, 200, 'GET status answers 200') or diag $s->{content};
is($s->{headers}{'content-type'}, 'application/json; charset=utf-8',
    'status Content-Type: application/json; charset=utf-8');
my $j = $s->{json} // {};
is_deeply([ sort keys %$j ], [ sort qw(record_id chapter_id status image_url
    scene_number retry_count progress generation_time_seconds error_message
    created_at updated_at estimated_time_seconds events_url) ],
    'status body has exactly the SPEC fields (chapter_id, events_url and '
    . 'estimated_time_seconds: Version 2)')
    or diag $s->{content};
is($j->{chapter_id}, $chapter, 'status chapter_id is the chapter');
is($j->{record_id}, $id, 'status record_id is the POST\'s record_id');
like($j->{status} // '', qr/\A(?:pending|in_progress|completed|failed)\z/,
    'status is pending, in_progress, completed or failed');
is($j->{scene_number}, $scene, 'status scene_number');
like($s->{content}, qr/"scene_number"\s*:\s*$scene\s*[,}]/, 'scene_number a number');
like($s->{content}, qr/"retry_count"\s*:\s*[0-9]+\s*[,}]/, 'retry_count a number');
like($s->{content}, qr/"progress"\s*:\s*(?:[0-9]|[1-9][0-9]|100)\s*[,}]/,
    'progress a number 0..100');
my $rfc3339z = qr/\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z\z/;
like($j->{created_at} // '', $rfc3339z, 'created_at RFC 3339 UTC with Z');
like($j->{updated_at} // '', $rfc3339z, 'updated_at RFC 3339 UTC with Z');
my $db_created = sql1("SELECT to_char(created_at AT TIME ZONE 'UTC', "
    . "'YYYY-MM-DD\"T\"HH24:MI:SS') FROM image_generations WHERE id = :'id'",
    id => $id);
is(substr($j->{created_at} // '', 0, 19), $db_created,
    'created_at is the row\'s created_at in UTC');
ok(($j->{updated_at} // '') ge substr($j->{created_at} // 'z', 0, 19),
    'updated_at not before created_at');
if (($j->{status} // '') eq 'completed') {
	like($j->{image_url} // '', qr{\Ahttps?://}, 'completed: image_url a URL');
	is($j->{progress}, 100, 'completed: progress 100');
	is($j->{error_message}, undef, 'completed: error_message null');
} elsif (($j->{status} // '') eq 'failed') {
	ok(length($j->{error_message} // ''), 'failed: an error_message');
} else {
	is($j->{image_url}, undef, 'unfinished: image_url null');
	is($j->{error_message}, undef, 'unfinished: error_message null');
}

# The newest record for the scene is the one shown.
my $again = api_post(token => $token, chapter => $chapter, scene => $scene,
    body => { scene_description => 'The wizard, a second take' });
is($again->{status}, 202, 'a second POST for the same scene: 202');
my $id2 = ($again->{json} // {})->{record_id} // '';
isnt($id2, $id, 'a new record_id');
is((api_status(token => $token, chapter => $chapter, scene => $scene)->{json}
    // {})->{record_id}, $id2, 'status shows the newest record of the scene');

# A scene with no record.
my $none = api_status(token => $token, chapter => $chapter, scene => 77);
is($none->{status}, 404, 'status of a scene with no record: 404');
is(($none->{json} // {})->{code}, 'not_found', 'code not_found');

is(sql1("SELECT count(*) FROM image_generations WHERE chapter_id = :'c'",
    c => $chapter), 3, 'three rows for the chapter, one per 202');

done_testing();
