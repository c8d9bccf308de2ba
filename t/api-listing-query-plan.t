#!/usr/bin/perl
# A page of a chapter's scenes costs a page, not the chapter: for a
# chapter of 10,000 scenes (some with older records under their newest),
# in a table that also holds 100 other chapters and 30,000 other users,
# the statement the API runs for GET .../images/scenes (scene_list of
# cgi/db.c, taken from the source through the C preprocessor, so it is
# the exact text the API prepares) is planned, with custom and generic
# plans, as a skip scan of idx_image_generations_chapter_scene_newest (a
# descent per scene to its newest record) that stops after the page:
# EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) shows no other way into
# image_generations, no sort of the chapter, index entries read equal to
# the scenes passed (the page, plus those a ?status= filter left out),
# and buffers to match. The same pages through the API agree.
use strict;
use warnings;
use Test::More;
use Scenegen::Test qw(json sql sql1 new_chapter http_req project_dir);

my $here = project_dir();
my $scenes = 10000;
my $index = 'idx_image_generations_chapter_scene_newest';

# The text of statement $name of cgi/db.c, its macros expanded.
sub statement_sql {
	my ($name) = @_;
	my $cflags = `pkg-config --cflags libpq hiredis fcgi 2>/dev/null` // '';
	chomp $cflags;
	my $pre = `cc -E -P -D_GNU_SOURCE -I$here/lib $cflags $here/cgi/db.c 2>&1`;
	die "cc -E cgi/db.c failed:\n$pre" if $?;
	$pre =~ /\{\s*"\Q$name\E",(.*?),\s*(\d+)\s*\}/s
	    or die "no statement $name in cgi/db.c\n";
	my ($body, $n) = ($1, $2);
	my $sql = '';
	while ($body =~ /"((?:[^"\\]|\\.)*)"/g) {
		(my $s = $1) =~ s/\\(.)/$1/g;
		$sql .= $s;
	}
	return ($sql, $n);
}

my ($sql, $nparams) = statement_sql('scene_list');
like($sql, qr/^WITH RECURSIVE .* FROM chapters c /s, 'scene_list read from cgi/db.c');
is($nparams, 5, 'scene_list takes five parameters');

my ($user, $chapter, $token) = new_chapter();
# 10,000 scenes; every tenth has an older record too, every seventh's
# newest failed.
sql(q{INSERT INTO image_generations (id, user_id, chapter_id, scene_number,
    image_type, status, progress, prompt, style, aspect_ratio, metadata,
    created_at)
    SELECT gen_random_uuid(), :'u', :'c', g, 'scene',
    CASE WHEN g % 7 = 0 THEN 'failed' ELSE 'completed' END, 100, 'plan',
    'cinematic', '16:9', '{}', now() - interval '1 hour'
    FROM generate_series(1, } . $scenes . q{) g;
    INSERT INTO image_generations (id, user_id, chapter_id, scene_number,
    image_type, status, progress, prompt, style, aspect_ratio, metadata,
    created_at)
    SELECT gen_random_uuid(), :'u', :'c', g, 'scene', 'completed', 100,
    'older', 'cinematic', '16:9', '{}', now() - interval '2 hours'
    FROM generate_series(10, } . $scenes . q{, 10) g;
    -- What a busy table holds beside it: 100 chapters of 300 records
    -- and 30,000 users, so that a generic plan expects hundreds of a
    -- chapter's records but hardly one of a given user's.
    INSERT INTO chapters (id, user_id, title)
    SELECT gen_random_uuid(), gen_random_uuid(), 'other'
    FROM generate_series(1, 100);
    INSERT INTO image_generations (id, user_id, chapter_id, scene_number,
    image_type, status, progress, prompt, style, aspect_ratio, metadata)
    SELECT gen_random_uuid(), gen_random_uuid(), o.id, g, 'scene',
    'completed', 100, 'other', 'cinematic', '16:9', '{}'
    FROM chapters o, generate_series(1, 300) g WHERE o.title = 'other';
    ANALYZE image_generations},
    u => $user, c => $chapter);
is(sql1("SELECT count(*) FROM image_generations WHERE chapter_id = :'c'",
    c => $chapter), $scenes + $scenes / 10, 'the chapter\'s records');

# Every node of a plan tree, depth first.
sub nodes {
	my ($n) = @_;
	return ($n, map { nodes($_) } @{ $n->{Plans} // [] });
}

# EXPLAIN of the statement with (after, statuses, limit) under plan
# cache mode $mode; returns the plan's top node.
sub plan_of {
	my ($mode, $after, $statuses, $limit) = @_;
	my $st = defined $statuses ? "'$statuses'" : 'NULL';
	my $out = sql(qq{SET plan_cache_mode = $mode;
	    PREPARE scene_list AS $sql;
	    EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE scene_list(
	    :'c', :'u', $after, $st, $limit)}, c => $chapter, u => $user);
	my $plan = json()->decode($out);
	return $plan->[0]{Plan};
}

for my $case (
    [ 'the first page of 100', 0, undef, 101, 101 ],
    [ 'a page of 100 in the middle', 5000, undef, 101, 101 ],
    [ 'the last page', 9950, undef, 101, 50 ],
    [ 'a page of 200', 2000, undef, 201, 201 ],
    [ 'a page of 100 completed', 3000, '{completed}', 101, 101 ]) {
	my ($name, $after, $st, $limit, $rows) = @$case;
	for my $mode (qw(force_custom_plan force_generic_plan)) {
		my $what = "$name ($mode)";
		my $top = plan_of($mode, $after, $st, $limit);
		my @n = nodes($top);
		is($top->{'Actual Rows'}, $rows, "$what: $rows rows");
		my @scans = grep { ($_->{'Relation Name'} // '') eq
		    'image_generations' } @n;
		ok(scalar @scans, "$what: image_generations is read");
		is_deeply([ grep { ($_->{'Index Name'} // '') ne $index } @scans ],
		    [], "$what: only through $index") or diag json()->encode($top);
		# Entries read: one per scene passed (the newest record of
		# each), so for a filter also the scenes it left out (every
		# seventh failed).
		my $read = 0;
		$read += ($_->{'Actual Rows'} // 0) * ($_->{'Actual Loops'} // 0)
		    for @scans;
		my $bound = int($limit * (defined $st ? 1.2 : 1)) + 2;
		cmp_ok($read, '<=', $bound, "$what: $read index entries read "
		    . "(at most $bound), not the chapter's "
		    . ($scenes + $scenes / 10));
		ok(!grep({ $_->{'Node Type'} eq 'Sort' &&
		    ($_->{'Actual Rows'} // 0) > $limit } @n),
		    "$what: no sort of more than the page");
		my $buffers = ($top->{'Shared Hit Blocks'} // 0)
		    + ($top->{'Shared Read Blocks'} // 0);
		cmp_ok($buffers, '<', 5 * $read + 20, "$what: $buffers buffers (a "
		    . 'descent of the index and a heap page per scene)');
	}
}

# The API's pages agree with the walk: 100 scenes each, in order, and a
# cursor that leads on.
{
	my %h = (Authorization => "Bearer $token");
	my $p = "/api/v1/chapters/$chapter/images/scenes";
	my $r = http_req('GET', $p, headers => \%h);
	is($r->{status}, 200, 'the API lists the chapter');
	my @s = map { $_->{scene_number} } @{ $r->{json}{scenes} // [] };
	is_deeply(\@s, [ 1 .. 100 ], 'its first page: scenes 1 to 100');
	$r = http_req('GET', "$p?limit=200&cursor=$r->{json}{next_cursor}",
	    headers => \%h);
	@s = map { $_->{scene_number} } @{ $r->{json}{scenes} // [] };
	is_deeply(\@s, [ 101 .. 300 ], 'the next 200');
	is(scalar grep({ $_->{status} eq 'failed' } @{ $r->{json}{scenes} }),
	    scalar grep({ $_ % 7 == 0 } 101 .. 300), 'the newest records\' status');
}

sql(q{DELETE FROM image_generations WHERE chapter_id = :'c'}, c => $chapter);
done_testing();
