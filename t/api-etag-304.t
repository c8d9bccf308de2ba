#!/usr/bin/perl
# GET status carries an ETag; If-None-Match with it answers 304 with no
# body; when the row changes the answer is 200 with a new ETag. A 304 is
# only for the record's owner.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep);
use Scenegen::Test qw(api_status new_chapter new_uuid sql1 is_api_error);

my ($user, $chapter, $token) = new_chapter();

# A record in a final state, written here: no daemon touches it, so it
# changes only when this test changes it. (A failed record keeps the
# progress it had reached; progress may still be raised.)
my $id = new_uuid();
sql1(<<'SQL', id => $id, u => $user, c => $chapter);
INSERT INTO image_generations (id, user_id, chapter_id, scene_number,
	image_type, status, progress, retry_count, error_message, prompt, style,
	aspect_ratio, metadata)
VALUES (:'id', :'u', :'c', 6, 'scene', 'failed', 30, 3,
	'The provider kept timing out; try again later.',
	'A lighthouse in a storm', 'cinematic', '16:9',
	jsonb_build_object('scene_number', 6, 'chapter_id', :'c'::text,
	    'service', 'modelslab_v7'))
SQL

sub status { api_status(token => $token, chapter => $chapter, scene => 6, @_) }

my $s1 = status();
is($s1->{status}, 200, 'GET status: 200') or diag $s1->{content};
is(($s1->{json} // {})->{record_id}, $id, 'the record written here');
ok(exists $s1->{json}{estimated_time_seconds}
    && !defined $s1->{json}{estimated_time_seconds},
    'a final record: estimated_time_seconds null');
my $etag = $s1->{headers}{etag};
ok(defined $etag, 'an ETag header');
$etag //= '"none"';
like($etag, qr{\A(?:W/)?"[\x21\x23-\x7e]*"\z}, 'the ETag is a quoted entity-tag');

my $s2 = status();
is($s2->{headers}{etag}, $etag, 'unchanged record: the same ETag');
is($s2->{content}, $s1->{content}, 'unchanged record: the same body');

my $n = status(headers => { 'If-None-Match' => $etag });
is($n->{status}, 304, 'If-None-Match with the ETag: 304') or diag $n->{content};
is($n->{content} // '', '', '304: no body');
is($n->{headers}{etag}, $etag, '304: carries the ETag');

my $list = status(headers => { 'If-None-Match' => "\"not-it\", $etag" });
is($list->{status}, 304, 'If-None-Match with a list holding the ETag: 304');

my $other = status(headers => { 'If-None-Match' => '"not-it"' });
is($other->{status}, 200, 'If-None-Match with another tag: 200');
is($other->{headers}{etag}, $etag, '... and the current ETag');

# 304 is not a way around access control.
my (undef, undef, $token2) = new_chapter();
my $x = api_status(token => $token2, chapter => $chapter, scene => 6,
    headers => { 'If-None-Match' => $etag });
is_api_error($x, 404, 'not_found', "another user with the ETag");
my $y = api_status(chapter => $chapter, scene => 6,
    headers => { 'If-None-Match' => $etag });
is($y->{status}, 401, 'no token with the ETag: 401');

# The row changes: a new ETag. (Past a second boundary, so that even an
# updated_at shown to the second differs.)
sleep 1.1;
sql1("UPDATE image_generations SET progress = 42 WHERE id = :'id'", id => $id);
my $want = 42;
my $c = status(headers => { 'If-None-Match' => $etag });
is($c->{status}, 200, 'after the row changed, the old ETag: 200')
    or diag $c->{content};
ok(length($c->{content} // ''), 'with a body');
is(($c->{json} // {})->{progress}, $want, "the body shows progress $want");
isnt(($c->{json} // {})->{updated_at}, ($s1->{json} // {})->{updated_at},
    'updated_at changed');
my $etag2 = $c->{headers}{etag};
ok(defined $etag2 && $etag2 ne $etag, 'a new ETag')
    or diag 'old ' . $etag . ' new ' . ($etag2 // 'undef');
my $d = status(headers => { 'If-None-Match' => $etag2 // '"x"' });
is($d->{status}, 304, 'the new ETag: 304');

done_testing();
