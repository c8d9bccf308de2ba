#!/usr/bin/perl
# GET /api/v1/records/{id} and GET /api/v1/chapters/{id}/images/scenes:
# the record's status document (the same as the scene status page's, with
# chapter_id), owner only; the listing's shape, one entry per scene (its
# newest record) by scene number, ?status= and ?limit=, a cursor walk
# with no scene repeated or skipped while scenes are posted during it,
# ETag/304, and the 400s, 401s and 404s.
use strict;
use warnings;
use Test::More;
use Scenegen::Test qw(http_req api_post api_status new_chapter new_uuid sql
    sql1 is_api_error is_uuid);

my ($user, $chapter, $token) = new_chapter();
my %auth = (Authorization => "Bearer $token");

sub list_path {
	my ($ch, $query) = @_;
	return "/api/v1/chapters/$ch/images/scenes"
	    . (defined $query ? "?$query" : '');
}

sub list {
	my ($query, %o) = @_;
	return http_req($o{method} // 'GET', list_path($o{chapter} // $chapter,
	    $query), headers => { %auth, %{ $o{headers} // {} } });
}

sub record {
	my ($id, %o) = @_;
	return http_req($o{method} // 'GET', "/api/v1/records/$id"
	    . ($o{query} // ''), headers => { %auth, %{ $o{headers} // {} } });
}

sub scenes_of { [ map { $_->{scene_number} } @{ $_[0]{json}{scenes} // [] } ] }

# Final records written here, so no daemon changes them: scenes 1..12,
# every third failed and scene 5 too, the rest completed; scene 5 has an
# older record (completed) under its newest.
sql(<<'SQL', u => $user, c => $chapter);
INSERT INTO image_generations (id, user_id, chapter_id, scene_number,
	image_type, status, progress, retry_count, image_url, error_message,
	prompt, style, aspect_ratio, metadata, created_at)
SELECT gen_random_uuid(), :'u', :'c', g, 'scene',
	CASE WHEN g % 3 = 0 OR g = 5 THEN 'failed' ELSE 'completed' END,
	CASE WHEN g % 3 = 0 OR g = 5 THEN 40 ELSE 100 END, 0,
	CASE WHEN g % 3 = 0 OR g = 5 THEN NULL
	    ELSE 'https://example.org/' || g || '.png' END,
	CASE WHEN g = 5 THEN 'newest of 5'
	    WHEN g % 3 = 0 THEN 'The provider refused it.' END,
	'scene ' || g, 'cinematic', '16:9', '{}',
	now() - interval '1 hour' + g * interval '1 second'
FROM generate_series(1, 12) g;
INSERT INTO image_generations (id, user_id, chapter_id, scene_number,
	image_type, status, progress, image_url, prompt, style, aspect_ratio,
	metadata, created_at)
VALUES (gen_random_uuid(), :'u', :'c', 5, 'scene', 'completed', 100,
	'https://example.org/old5.png', 'old 5', 'cinematic', '16:9', '{}',
	now() - interval '2 hours');
SQL
my $newest5 = sql1("SELECT id FROM image_generations WHERE chapter_id = :'c'"
    . " AND scene_number = 5 AND prompt = 'scene 5'", c => $chapter);
my %failed = map { $_ => 1 } (3, 5, 6, 9, 12);

# --- the listing's shape ---------------------------------------------------
my $r = list();
is($r->{status}, 200, 'listing: 200') or diag $r->{content};
is($r->{headers}{'content-type'}, 'application/json; charset=utf-8',
    'listing: JSON');
is_deeply([ sort keys %{ $r->{json} // {} } ],
    [ qw(chapter_id next_cursor scenes) ], 'listing: its three members');
is($r->{json}{chapter_id}, $chapter, 'listing: chapter_id');
is_deeply(scenes_of($r), [ 1 .. 12 ], 'one entry per scene, by scene number');
ok(exists $r->{json}{next_cursor} && !defined $r->{json}{next_cursor},
    'everything on one page: next_cursor null');
my ($e5) = grep { $_->{scene_number} == 5 } @{ $r->{json}{scenes} };
is($e5->{record_id}, $newest5, 'scene 5: its newest record');
is($e5->{status}, 'failed', 'scene 5: the newest record\'s status');
is($e5->{error_message}, 'newest of 5', 'scene 5: the newest record\'s fields');
for my $e (@{ $r->{json}{scenes} }) {
	my $n = $e->{scene_number};
	is($e->{chapter_id}, $chapter, "scene $n: chapter_id") if $n == 1;
	ok(is_uuid($e->{record_id}), "scene $n: record_id") if $n == 1;
	is($e->{status}, $failed{$n} ? 'failed' : 'completed', "scene $n: status");
}
ok($r->{headers}{etag}, 'listing: an ETag');

# Each entry is the status document the status page gives for its scene.
for my $n (1, 5, 6) {
	my $s = api_status(token => $token, chapter => $chapter, scene => $n);
	my ($e) = grep { $_->{scene_number} == $n } @{ $r->{json}{scenes} };
	is_deeply($e, $s->{json}, "scene $n: the same document as its status page");
	is($s->{json}{chapter_id}, $chapter, "status page of $n: chapter_id");
}

# --- the record page ------------------------------------------------------
{
	my $s = api_status(token => $token, chapter => $chapter, scene => 5);
	my $g = record($newest5);
	is($g->{status}, 200, 'record: 200') or diag $g->{content};
	is_deeply($g->{json}, $s->{json}, 'record: the status page\'s document');
	is($g->{headers}{etag}, $s->{headers}{etag}, 'record: the same ETag');
	my $old5 = sql1("SELECT id FROM image_generations WHERE chapter_id = :'c'"
	    . " AND prompt = 'old 5'", c => $chapter);
	$g = record($old5);
	is($g->{json}{record_id}, $old5, 'an older record by its id');
	is($g->{json}{image_url}, 'https://example.org/old5.png',
	    'an older record: its own fields');
	my $n = record($newest5, headers => { 'If-None-Match' => $s->{headers}{etag} });
	is($n->{status}, 304, 'record with If-None-Match: 304');
	is($n->{content} // '', '', 'record 304: no body');
	my $h = record($newest5, method => 'HEAD');
	is($h->{status}, 200, 'HEAD record: 200');
	is($h->{content} // '', '', 'HEAD record: no body');
	is($h->{headers}{etag}, $s->{headers}{etag}, 'HEAD record: the ETag');
	my $u = record(uc $newest5);
	is($u->{json}{record_id}, $newest5, 'record id in upper case: the record');
	is_api_error(record(new_uuid()), 404, 'not_found', 'unknown record');
	is(record(new_uuid())->{json}{detail},
	    'The record does not exist or is not yours.', 'unknown record: sentence');
	is_api_error(record('not-a-uuid'), 400, 'invalid_field', 'record id not a UUID');
	is_api_error(record($newest5, query => '?x=1'), 400, 'invalid_field',
	    'record with a query parameter');
	my $no = http_req('GET', "/api/v1/records/$newest5");
	is_api_error($no, 401, 'unauthorized', 'record without a token');
	like($no->{headers}{'www-authenticate'} // '', qr/^Bearer/,
	    'record without a token: WWW-Authenticate');
}

# --- ?status= and ?limit= --------------------------------------------------
is_deeply(scenes_of(list('status=failed')), [ 3, 5, 6, 9, 12 ],
    'status=failed: the scenes whose newest record failed');
is_deeply(scenes_of(list('status=completed')), [ 1, 2, 4, 7, 8, 10, 11 ],
    'status=completed: not scene 5 (an older record completed)');
is_deeply(scenes_of(list('status=completed,failed')), [ 1 .. 12 ],
    'status=completed,failed: all');
is_deeply(scenes_of(list('status=failed%2Ccompleted')), [ 1 .. 12 ],
    'a percent-encoded comma');
is_deeply(scenes_of(list('status=pending,in_progress,canceled')), [],
    'status of none of them: no scenes');
$r = list('limit=5');
is_deeply(scenes_of($r), [ 1 .. 5 ], 'limit=5: the first five');
ok(defined $r->{json}{next_cursor} && length $r->{json}{next_cursor},
    'limit=5: a next_cursor');
$r = list("limit=4&status=failed&cursor=$r->{json}{next_cursor}");
is_deeply(scenes_of($r), [ 6, 9, 12 ], 'cursor with a status filter: the rest');
ok(!defined $r->{json}{next_cursor}, 'the last page: next_cursor null');
$r = list('limit=3&status=failed');
is_deeply(scenes_of($r), [ 3, 5, 6 ], 'limit with status: three failed');
$r = list("limit=3&status=failed&cursor=$r->{json}{next_cursor}");
is_deeply(scenes_of($r), [ 9, 12 ], '... then the two after');
$r = list('limit=12');
ok(!defined $r->{json}{next_cursor}, 'limit equal to the count: no next page');
$r = list('limit=200');
is(scalar @{ $r->{json}{scenes} }, 12, 'limit=200');

# --- ETag and 304 -----------------------------------------------------------
{
	my $a = list('limit=4');
	my $b = list('limit=4', headers => { 'If-None-Match' => $a->{headers}{etag} });
	is($b->{status}, 304, 'listing with If-None-Match: 304');
	is($b->{content} // '', '', 'listing 304: no body');
	is($b->{headers}{etag}, $a->{headers}{etag}, 'listing 304: the ETag');
	my $c = list('limit=5', headers => { 'If-None-Match' => $a->{headers}{etag} });
	is($c->{status}, 200, 'another page with that ETag: 200');
	my $h = list('limit=4', method => 'HEAD');
	is($h->{status}, 200, 'HEAD listing: 200');
	is($h->{content} // '', '', 'HEAD listing: no body');
	is($h->{headers}{etag}, $a->{headers}{etag}, 'HEAD listing: the ETag');
	sleep 1;
	sql("UPDATE image_generations SET progress = 50 WHERE chapter_id = :'c'"
	    . " AND scene_number = 3", c => $chapter);
	my $d = list('limit=4', headers => { 'If-None-Match' => $a->{headers}{etag} });
	is($d->{status}, 200, 'a scene of the page changed: 200');
	isnt($d->{headers}{etag}, $a->{headers}{etag}, '... with a new ETag');
	is((grep { $_->{scene_number} == 3 } @{ $d->{json}{scenes} })[0]{progress},
	    50, '... and the change');
}

# --- newest record per scene through the API --------------------------------
{
	my (undef, $ch2, $tok2) = new_chapter();
	my $a = api_post(token => $tok2, chapter => $ch2, scene => 7,
	    body => { scene_description => 'first [standin:eta=0.2]' });
	select undef, undef, undef, 1.1;    # created_at to the second differs
	my $b = api_post(token => $tok2, chapter => $ch2, scene => 7,
	    body => { scene_description => 'second [standin:eta=0.2]' });
	is($b->{status}, 202, 'the same scene posted twice');
	my $l = http_req('GET', list_path($ch2),
	    headers => { Authorization => "Bearer $tok2" });
	is(scalar @{ $l->{json}{scenes} // [] }, 1, 'one entry for the scene');
	is($l->{json}{scenes}[0]{record_id}, $b->{json}{record_id},
	    'the newest record');
	my $g = http_req('GET', "/api/v1/records/$a->{json}{record_id}",
	    headers => { Authorization => "Bearer $tok2" });
	is($g->{json}{record_id}, $a->{json}{record_id},
	    'the older one still by its id');
	is_api_error(record($a->{json}{record_id}), 404, 'not_found',
	    'another user\'s record');
	is_api_error(list(undef, chapter => $ch2), 404, 'not_found',
	    'another user\'s chapter');
	is(list(undef, chapter => $ch2)->{json}{detail},
	    'The chapter does not exist or is not yours.',
	    'another user\'s chapter: the sentence');
	is_api_error(list(undef, chapter => $ch2,
	    headers => { 'If-None-Match' => $l->{headers}{etag} }), 404,
	    'not_found', 'another user\'s chapter with its ETag');
}
is_api_error(list(undef, chapter => new_uuid()), 404, 'not_found',
    'unknown chapter');
{
	my (undef, $empty, $tok3) = new_chapter();
	my $l = http_req('GET', list_path($empty),
	    headers => { Authorization => "Bearer $tok3" });
	is($l->{status}, 200, 'a chapter without records: 200');
	is_deeply($l->{json}, { chapter_id => $empty, scenes => [],
	    next_cursor => undef }, '... with no scenes');
}
is_api_error(http_req('GET', list_path($chapter)), 401, 'unauthorized',
    'listing without a token');
is_api_error(http_req('GET', list_path($chapter),
    headers => { Authorization => 'Bearer x.y.z' }), 401, 'unauthorized',
    'listing with a bad token');

# --- 400s -----------------------------------------------------------------
my $first = list('limit=2')->{json}{next_cursor} // '';
my $tampered = $first;
substr($tampered, 3, 1) = substr($first, 3, 1) eq 'A' ? 'B' : 'A';
my (undef, $other_ch) = new_chapter();
my $other_cursor = do {
	sql("INSERT INTO image_generations (id, user_id, chapter_id, scene_number,"
	    . " image_type, status, prompt, metadata) SELECT gen_random_uuid(), "
	    . "user_id, id, g, 'scene', 'completed', 'x', '{}' FROM chapters, "
	    . "generate_series(1, 3) g WHERE id = :'c'", c => $other_ch);
	my $ou = sql1("SELECT user_id FROM chapters WHERE id = :'c'", c => $other_ch);
	http_req('GET', list_path($other_ch, 'limit=1'), headers => {
	    Authorization => 'Bearer ' . Scenegen::Test::make_token(sub => $ou) })
	    ->{json}{next_cursor} // '';
};
ok(length $other_cursor, 'a cursor of another chapter');
for my $c (
    [ 'limit=0', 'limit', 'must be an integer from 1 to 200' ],
    [ 'limit=201', 'limit', 'must be an integer from 1 to 200' ],
    [ 'limit=abc', 'limit', 'must be an integer from 1 to 200' ],
    [ 'limit=-1', 'limit', 'must be an integer from 1 to 200' ],
    [ 'limit=1e2', 'limit', 'must be an integer from 1 to 200' ],
    [ 'limit=', 'limit', 'must be an integer from 1 to 200' ],
    [ 'limit', 'limit', 'must be an integer from 1 to 200' ],
    [ 'limit=1&limit=2', 'limit', 'must be given once' ],
    [ 'status=done', 'status', undef ],
    [ 'status=', 'status', undef ],
    [ 'status=failed,', 'status', undef ],
    [ 'status=FAILED', 'status', undef ],
    [ 'status=failed&status=completed', 'status', 'must be given once' ],
    [ 'cursor=', 'cursor', 'must be the next_cursor of an earlier answer' ],
    [ 'cursor=!!!', 'cursor', undef ],
    [ 'cursor=garbage', 'cursor', undef ],
    [ "cursor=$tampered", 'cursor', undef ],
    [ "cursor=${first}A", 'cursor', undef ],
    [ "cursor=$other_cursor", 'cursor', undef ],
    [ 'cursor=' . ('A' x 300), 'cursor', undef ],
    [ 'foo=1', 'foo', 'is not a query parameter of this page' ],
    [ 'limit=2&Limit=3', 'Limit', undef ],
    [ '%66oo=1', 'query string', undef ],
    [ 'limit=2&', 'query string', 'has an empty parameter' ],
    [ '&limit=2', 'query string', 'has an empty parameter' ],
    [ 'limit=2&&status=failed', 'query string', undef ],
    [ 'limit=%zz', 'limit', undef ],
    [ 'limit=%3', 'limit', undef ],
    [ 'status=failed%00', 'status', undef ],
    [ 'limit=' . ('1' x 2000), 'query string',
      'must be at most 1024 bytes' ]) {
	my ($q, $field, $reason) = @$c;
	my $name = 'GET ?' . (length $q > 60 ? substr($q, 0, 60) . '...' : $q);
	my $x = list($q);
	is_api_error($x, 400, 'invalid_field', $name);
	my $want = "Invalid field $field: " . ($reason // '');
	is(substr(($x->{json} // {})->{detail} // '', 0, length $want), $want,
	    "$name: names $field");
}
# The query is judged before the token, like a path parameter.
is_api_error(http_req('GET', list_path($chapter, 'limit=0')), 400,
    'invalid_field', 'a bad limit without a token: 400 first');
# A valid cursor is not tied to the filters: it is a place in the scenes.
is_deeply(scenes_of(list("cursor=$first&limit=3")), [ 3, 4, 5 ],
    'the cursor after scene 2');

# --- a cursor walk while scenes are posted ---------------------------------
# Scenes 2, 4, ..., 60 exist; pages of 7. After each page (its last scene
# L), scene L+1 is posted (ahead of the cursor: it must come on a later
# page), scene L again (its newest record changes behind the cursor: it
# must not come again) and scene 1 (new, behind: keyset pagination does
# not go back for it). No scene may come twice, none that was there may be
# skipped, and every one posted ahead must come.
{
	my ($wu, $wch, $wtok) = new_chapter();
	sql(q{INSERT INTO image_generations (id, user_id, chapter_id,
	    scene_number, image_type, status, progress, prompt, style,
	    aspect_ratio, metadata, created_at)
	    SELECT gen_random_uuid(), :'u', :'c', g * 2, 'scene', 'completed',
	    100, 'walk', 'cinematic', '16:9', '{}', now() - interval '1 hour'
	    FROM generate_series(1, 30) g}, u => $wu, c => $wch);
	my %wh = (Authorization => "Bearer $wtok");
	my (@seen, %ahead, $cursor, $pages);
	while (1) {
		my $x = http_req('GET', list_path($wch, 'limit=7'
		    . (defined $cursor ? "&cursor=$cursor" : '')), headers => \%wh);
		is($x->{status}, 200, 'walk page ' . ($pages // 0)) or last;
		my @s = @{ scenes_of($x) };
		push @seen, @s;
		last if ++$pages > 40;
		$cursor = $x->{json}{next_cursor};
		last unless defined $cursor;
		my $last = $s[-1];
		for my $n ($last + 1, $last, 1) {
			next if $n > 10000;
			my $p = api_post(token => $wtok, chapter => $wch, scene => $n,
			    body => { scene_description => "walk $n [standin:eta=0.2]" });
			is($p->{status}, 202, "posted scene $n during the walk")
			    or diag $p->{content};
		}
		$ahead{ $last + 1 } = 1;
	}
	my %count;
	$count{$_}++ for @seen;
	is_deeply([ grep { $count{$_} > 1 } sort { $a <=> $b } keys %count ], [],
	    'no scene came twice');
	is_deeply(\@seen, [ sort { $a <=> $b } @seen ], 'scenes in ascending order');
	is_deeply([ grep { !$count{ $_ * 2 } } 1 .. 30 ], [],
	    'every scene there at the start came');
	is_deeply([ grep { !$count{$_} } sort { $a <=> $b } keys %ahead ], [],
	    'every scene posted ahead of the cursor came');
	ok(!$count{1}, 'scene 1, posted behind the cursor, did not come back');
	my $all = http_req('GET', list_path($wch, 'limit=200'), headers => \%wh);
	is(scalar @{ $all->{json}{scenes} }, 31 + scalar(keys %ahead),
	    'the whole listing now: the evens, 1 and the ones posted ahead');
	ok($pages > 4, "a walk over several pages ($pages)");
}

done_testing();
