#!/usr/bin/perl
# scenegenctl show RECORD: every column of the row, as "column value"
# lines (control characters a client sent shown as '?') or, with -j, the
# row as JSON; an unknown record exits 1 naming it, a non-UUID exits 2.
use strict;
use warnings;
use FindBin;
use Test::More;
use lib "$FindBin::Bin/lib";
use Scenegen::Ops qw(ops_build_dir ctl sqlv);
use Scenegen::Test qw(json new_chapter new_uuid sql);

my $ctl = ops_build_dir() . '/scenegenctl';
plan skip_all => "$ctl not built" unless -x $ctl;

my ($user, $chapter) = new_chapter();
my $id = new_uuid();
# A prompt with a terminal escape and a newline in it, as a client may send.
sql("INSERT INTO image_generations (id, user_id, chapter_id, scene_number, "
    . "status, prompt, error_message, retry_count, metadata) VALUES (:'id', "
    . ":'u', :'c', 7, 'failed', E'evil\\033[2Jprompt\\nline2', "
    . "'The provider refused the prompt.', 3, '{\"service\": \"modelslab_v7\"}')",
    id => $id, u => $user, c => $chapter);

my ($rc, $out, $err) = ctl('show', $id);
is($rc, 0, 'show: exit 0') or diag $err;
my %col = map { /^(\S+)\s+(.*)$/ ? ($1 => $2) : () } split /\n/, $out;
is($col{id}, $id, 'id');
is($col{chapter_id}, $chapter, 'chapter_id');
is($col{scene_number}, 7, 'scene_number');
is($col{status}, 'failed', 'status');
is($col{retry_count}, 3, 'retry_count');
is($col{error_message}, 'The provider refused the prompt.', 'error_message');
is($col{image_url}, 'null', 'a NULL shown as null');
is($col{metadata}, '{"service":"modelslab_v7"}', 'metadata as compact JSON');
is($col{prompt}, 'evil?[2Jprompt?line2', 'control characters shown as ?');
unlike($out, qr/\e/, 'no escape character reaches the terminal');
my $ncols = sqlv("SELECT count(*) FROM information_schema.columns WHERE "
    . "table_schema = current_schema() AND table_name = 'image_generations'");
is(scalar(split /\n/, $out), $ncols, "one line per column ($ncols)");

($rc, $out, $err) = ctl('-j', 'show', $id);
is($rc, 0, 'show -j: exit 0') or diag $err;
my $row = eval { json()->decode($out) };
is(ref $row, 'HASH', 'a JSON object') or diag $out;
is($row->{id}, $id, 'with the id');
is($row->{prompt}, "evil\e[2Jprompt\nline2", 'JSON keeps the text exactly (escaped)');
is($row->{metadata}{service}, 'modelslab_v7', 'metadata as an object');

my $none = new_uuid();
($rc, $out, $err) = ctl('show', $none);
is($rc, 1, 'unknown record: exit 1');
is($err, "scenegenctl: show: no record $none\n", 'names it');
($rc, $out, $err) = ctl('show', "$id'; DROP TABLE image_generations; --");
is($rc, 2, 'not a UUID: exit 2');
is(sqlv("SELECT count(*) FROM image_generations WHERE id = :'id'", id => $id),
    1, 'the table is still there');

done_testing();
