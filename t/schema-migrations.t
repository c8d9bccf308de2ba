#!/usr/bin/perl
# sql/ migrations through scripts/migrate.sh: they upgrade the OLD system's
# image_generations table in place (rows kept, new columns with defaults,
# image_type nullable with default 'scene', the four named indexes), record
# each file once in schema_migrations in name order, change nothing when run
# again, and build the full schema on an empty database.
use strict;
use warnings;
use Test::More;
use Scenegen::Test qw(stack_env project_dir sql_on pg_admin_url);

stack_env();
my $project = project_dir();
my $migrate = "$project/scripts/migrate.sh";
my $sql_dir = "$project/sql";
opendir my $dh, $sql_dir or die "$sql_dir: $!";
my @files = sort grep { /\.sql\z/ } readdir $dh;    # byte order, like LC_ALL=C
closedir $dh;
ok(scalar @files, 'there are migrations in sql/');
ok((grep { $_ eq 'add_chapter_id_and_retry_count_to_image_generations.sql' }
    @files), 'add_chapter_id_and_retry_count_to_image_generations.sql exists');

my $admin = pg_admin_url('postgres');
my $tag = "${$}_" . int(rand(1e6));
my $old_db = "sg_mig_old_$tag";
my $new_db = "sg_mig_new_$tag";
my @made;
END {
	for my $db (@made) {
		eval { sql_on($admin, qq{DROP DATABASE IF EXISTS "$db" WITH (FORCE)}) };
	}
}
for my $db ($old_db, $new_db) {
	sql_on($admin, qq{CREATE DATABASE "$db"});
	push @made, $db;
}

sub migrate {
	my ($db) = @_;
	local $ENV{DATABASE_URL} = pg_admin_url($db);
	my $out = `"$migrate" "$sql_dir" 2>&1`;
	return ($? >> 8, $out);
}

sub q_on {
	my $db = shift;
	my $out = sql_on(pg_admin_url($db), @_);
	$out =~ s/\n+\z//;
	return $out;
}

# migrate.sh on $db ($what in the names): exits 0, applies every file, and
# schema_migrations lists them in name order (test $order_name).
sub migrate_ok {
	my ($db, $what, $where, $order_name) = @_;
	my ($rc, $out) = migrate($db);
	is($rc, 0, "migrate.sh on $what exits 0") or diag $out;
	for my $f (@files) {
		like($out, qr/applied \Q$f\E/, "$where: $f applied");
	}
	is(q_on($db, 'SELECT string_agg(filename, \',\' ORDER BY applied_at, filename) '
	    . 'FROM schema_migrations'), join(',', @files), $order_name);
}

# migrate.sh once more on $db: exits 0 and applies nothing; returns what
# it printed.
sub migrate_again_ok {
	my ($db, $exit_name, $nothing_name) = @_;
	my ($rc, $out) = migrate($db);
	is($rc, 0, $exit_name) or diag $out;
	unlike($out, qr/applied \S+\.sql/, $nothing_name) or diag $out;
	return $out;
}

# --- the old system's database ------------------------------------------

q_on($old_db, <<'SQL');
CREATE TABLE chapters (
	id	uuid PRIMARY KEY,
	user_id	uuid NOT NULL,
	title	text
);
CREATE TABLE image_generations (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	user_id		uuid NOT NULL,
	scene_number	integer,
	script_id	uuid,
	image_type	text NOT NULL,
	status		text NOT NULL DEFAULT 'pending',
	image_url	text,
	error_message	text,
	prompt		text,
	style		text,
	aspect_ratio	text,
	metadata	jsonb DEFAULT '{}'::jsonb,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now()
);
INSERT INTO chapters VALUES ('7a0f58f4-3f0c-4b57-9a3c-1c8f3b2d9e01',
	'0b9c2a55-8a53-4f8e-9e4b-6f3d1a2b3c4d', 'Old chapter');
INSERT INTO image_generations (id, user_id, scene_number, script_id,
	image_type, status, image_url, error_message, prompt, style,
	aspect_ratio, metadata, created_at, updated_at) VALUES
('11111111-1111-4111-8111-111111111111', '0b9c2a55-8a53-4f8e-9e4b-6f3d1a2b3c4d',
	1, '22222222-2222-4222-8222-222222222222', 'scene', 'completed',
	'https://cdn.example.com/a.png', NULL, 'A young wizard discovering magic',
	'cinematic', '16:9',
	'{"scene_number": 1, "service": "modelslab_v7", "generation_time": 45.2, "model_used": "gen4_image"}',
	'2025-10-01 10:00:00+00', '2025-10-01 10:00:45+00'),
('33333333-3333-4333-8333-333333333333', '0b9c2a55-8a53-4f8e-9e4b-6f3d1a2b3c4d',
	2, NULL, 'character', 'failed', NULL, 'ModelsLab timed out', 'A dragon',
	'anime', '1:1', '{}', '2025-10-02 11:00:00+00', '2025-10-02 11:05:00+00'),
('44444444-4444-4444-8444-444444444444', '5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b',
	NULL, NULL, 'cover', 'pending', NULL, NULL, 'Ünïcødé — 魔法', NULL, NULL,
	NULL, '2025-10-03 12:00:00+00', '2025-10-03 12:00:00+00');
SQL

my $snapshot_q = <<'SQL';
SELECT id, user_id, scene_number, script_id, image_type, status, image_url,
	error_message, prompt, style, aspect_ratio, metadata::text,
	created_at, updated_at
FROM image_generations ORDER BY id
SQL
my $before = q_on($old_db, $snapshot_q);
is(scalar(split /\n/, $before), 3, 'old table holds 3 rows');

migrate_ok($old_db, 'the old database', 'old database',
    'schema_migrations records every file once, in name order');
is(q_on($old_db, 'SELECT count(*) FROM schema_migrations'), scalar @files,
    'one schema_migrations row per file');

is(q_on($old_db, $snapshot_q), $before, 'old rows kept with all their data');
is(q_on($old_db, 'SELECT string_agg(id || \':\' || retry_count || \':\' || '
    . 'coalesce(progress::text, \'NULL\') || \':\' || '
    . 'coalesce(chapter_id::text, \'NULL\') || \':\' || '
    . 'coalesce(last_attempted_at::text, \'NULL\'), \',\' ORDER BY id) '
    . 'FROM image_generations'),
    join(',', map { "$_:0:0:NULL:NULL" }
    '11111111-1111-4111-8111-111111111111',
    '33333333-3333-4333-8333-333333333333',
    '44444444-4444-4444-8444-444444444444'),
    'old rows: retry_count 0, progress 0, chapter_id and last_attempted_at NULL');
is(q_on($old_db, "SELECT title FROM chapters"), 'Old chapter', 'chapters kept');

my $cols_q = <<'SQL';
SELECT column_name, data_type, is_nullable, coalesce(column_default, '')
FROM information_schema.columns
WHERE table_schema = 'public' AND table_name = 'image_generations'
ORDER BY column_name
SQL

# The columns of SPEC.md, their types, and the defaults it names.
sub check_schema {
	my ($db, $label) = @_;
	my %col = map { my @f = split /\t/, $_, -1; ($f[0] => \@f) }
	    split /\n/, q_on($db, $cols_q);
	my %type = (
		id => 'uuid', user_id => 'uuid', chapter_id => 'uuid',
		scene_number => 'integer', script_id => 'uuid', image_type => 'text',
		status => 'text', progress => 'integer', retry_count => 'integer',
		last_attempted_at => 'timestamp with time zone', image_url => 'text',
		error_message => 'text', prompt => 'text', style => 'text',
		aspect_ratio => 'text', metadata => 'jsonb',
		created_at => 'timestamp with time zone',
		updated_at => 'timestamp with time zone',
	);
	for my $c (sort keys %type) {
		is($col{$c} && $col{$c}[1], $type{$c}, "$label: column $c is $type{$c}");
	}
	is($col{user_id} && $col{user_id}[2], 'NO', "$label: user_id NOT NULL");
	is($col{chapter_id} && $col{chapter_id}[2], 'YES', "$label: chapter_id nullable");
	is($col{image_type} && $col{image_type}[2], 'YES', "$label: image_type nullable");
	like($col{image_type} && $col{image_type}[3], qr/^'scene'(::text)?$/,
	    "$label: image_type default 'scene'");
	is($col{retry_count} && $col{retry_count}[2], 'NO', "$label: retry_count NOT NULL");
	is($col{retry_count} && $col{retry_count}[3], '0', "$label: retry_count default 0");
	is($col{progress} && $col{progress}[3], '0', "$label: progress default 0");
	is(q_on($db, "SELECT i.indisprimary FROM pg_index i JOIN pg_attribute a "
	    . "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
	    . "WHERE i.indrelid = 'image_generations'::regclass AND a.attname = 'id' "
	    . "AND i.indisprimary"), 't', "$label: id is the primary key");

	my %idx = map { my @f = split /\t/; ($f[0] => $f[1]) } split /\n/,
	    q_on($db, "SELECT indexname, indexdef FROM pg_indexes "
	    . "WHERE tablename = 'image_generations'");
	like($idx{idx_image_generations_chapter_id} // '', qr/\(chapter_id\)$/,
	    "$label: idx_image_generations_chapter_id on (chapter_id)");
	like($idx{idx_image_generations_chapter_scene} // '',
	    qr/\(chapter_id, scene_number\)$/,
	    "$label: idx_image_generations_chapter_scene on (chapter_id, scene_number)");
	like($idx{idx_image_generations_retry_count} // '', qr/\(retry_count\)$/,
	    "$label: idx_image_generations_retry_count on (retry_count)");
	like($idx{idx_image_generations_status} // '', qr/\(status\)$/,
	    "$label: idx_image_generations_status on (status)");

	my %ccol = map { ($_ => 1) } split /\n/, q_on($db,
	    "SELECT column_name FROM information_schema.columns "
	    . "WHERE table_schema = 'public' AND table_name = 'chapters'");
	ok($ccol{id} && $ccol{user_id}, "$label: chapters has id and user_id");

	# A new row as the API writes it, without image_type and retry_count.
	my $r = q_on($db, <<'SQL');
INSERT INTO image_generations (id, user_id, chapter_id, scene_number, status)
VALUES ('55555555-5555-4555-8555-555555555555',
	'0b9c2a55-8a53-4f8e-9e4b-6f3d1a2b3c4d',
	'7a0f58f4-3f0c-4b57-9a3c-1c8f3b2d9e01', 3, 'pending')
RETURNING image_type, retry_count, progress;
SQL
	is($r, "scene\t0\t0", "$label: a new row gets image_type scene, "
	    . "retry_count 0, progress 0");
	q_on($db, "DELETE FROM image_generations WHERE id = "
	    . "'55555555-5555-4555-8555-555555555555'");
}

check_schema($old_db, 'upgraded');

# --- again: nothing to do ------------------------------------------------

my $rows_all_q = 'SELECT to_jsonb(g)::text FROM image_generations g ORDER BY id';
my $rows_before = q_on($old_db, $rows_all_q);
my $mig_q = 'SELECT filename, applied_at FROM schema_migrations ORDER BY filename';
my $mig_before = q_on($old_db, $mig_q);
my $out = migrate_again_ok($old_db, 'second migrate.sh exits 0',
    'second run applies nothing');
like($out, qr/\b0 migration/, 'second run says 0 migrations applied');
is(q_on($old_db, $mig_q), $mig_before, 'schema_migrations unchanged');
is(q_on($old_db, $rows_all_q), $rows_before, 'rows unchanged by the second run');

# --- an empty database ---------------------------------------------------

migrate_ok($new_db, 'an empty database', 'empty database',
    'empty database: schema_migrations in name order');
q_on($new_db, "INSERT INTO chapters (id, user_id) VALUES "
    . "('7a0f58f4-3f0c-4b57-9a3c-1c8f3b2d9e01', "
    . "'0b9c2a55-8a53-4f8e-9e4b-6f3d1a2b3c4d')");
check_schema($new_db, 'fresh');

# Both paths end in the same image_generations columns and types (the old
# table's own nullability of columns SPEC.md leaves open, e.g. metadata, may
# stay as it was).
my $types_q = "SELECT string_agg(column_name || ' ' || data_type, ', ' "
    . "ORDER BY column_name) FROM information_schema.columns "
    . "WHERE table_schema = 'public' AND table_name = 'image_generations'";
is(q_on($old_db, $types_q), q_on($new_db, $types_q),
    'upgraded and fresh image_generations have the same columns and types');
my $indexes_q = "SELECT string_agg(indexname, ',' ORDER BY indexname) "
    . "FROM pg_indexes WHERE tablename = 'image_generations'";
is(q_on($old_db, $indexes_q), q_on($new_db, $indexes_q),
    'upgraded and fresh have the same indexes');

migrate_again_ok($new_db, 'second run on the fresh database exits 0',
    'second run on the fresh database applies nothing');

done_testing();
