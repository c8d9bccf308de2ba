#!/usr/bin/perl
# scenegenctl migrate: on the stack's database (already migrated by
# scripts/migrate.sh) it applies nothing: the same schema_migrations table.
# On a scratch database it applies every sql/*.sql in C-locale name order
# and records each; a second run applies nothing. On a table of the old
# system it upgrades in place and keeps the rows. A failing file is rolled
# back whole, stops the run and is named; two runs at once both succeed.
use strict;
use warnings;
use File::Temp qw(tempdir);
use FindBin;
use POSIX ();
use Test::More;
use lib "$FindBin::Bin/lib";
use Scenegen::Ops qw(ops_build_dir ops_project_dir ctl run_cmd_split);
use Scenegen::Test qw(stack_env sql);

my $ctl = ops_build_dir() . '/scenegenctl';
plan skip_all => "$ctl not built" unless -x $ctl;
my $here = ops_project_dir();
my $e = stack_env();
my $admin = "postgresql:///postgres?host=$e->{PG_SOCKET_DIR}&user=postgres";
my $db = "scenegen_ctl_migrate_$$";
my $url = "postgresql:///$db?host=$e->{PG_SOCKET_DIR}&user=postgres";

sub psql {
	my ($conn, $query) = @_;
	my ($rc, $out, $err) = run_cmd_split([ 'psql', '-X', '-q', '-t', '-A',
	    '-v', 'ON_ERROR_STOP=1', '-d', $conn ], stdin => $query);
	die "psql: $err" if $rc != 0;
	chomp $out;
	return $out;
}

psql($admin, "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db;");
END { local $?; eval { psql($admin, "DROP DATABASE IF EXISTS $db") } }

opendir my $dh, "$here/sql" or die $!;
my @files = sort { $a cmp $b } grep { /\.sql$/ } readdir $dh;
closedir $dh;

# The stack's database: migrated by scripts/migrate.sh already.
my ($rc, $out, $err) = ctl('migrate');
is($rc, 0, 'migrate on the stack database: exit 0') or diag $err;
is($out, "scenegenctl: 0 migration(s) applied, schema up to date\n",
    'nothing to apply after scripts/migrate.sh');

# A scratch database: everything, in order, once.
($rc, $out, $err) = ctl({ DATABASE_URL => $url }, 'migrate');
is($rc, 0, 'migrate on an empty database: exit 0') or diag $err;
is($out, join('', map { "scenegenctl: applied $_\n" } @files)
    . 'scenegenctl: ' . scalar(@files)
    . " migration(s) applied, schema up to date\n",
    'every file applied, in C-locale name order');
is(psql($url, 'SELECT string_agg(filename, \',\' ORDER BY filename COLLATE "C") '
    . 'FROM schema_migrations'), join(',', @files),
    'each recorded in schema_migrations');
($rc, $out) = ctl({ DATABASE_URL => $url }, 'migrate');
is($out, "scenegenctl: 0 migration(s) applied, schema up to date\n",
    'a second run applies nothing');
($rc, $out, $err) = run_cmd_split([ "$here/scripts/migrate.sh", "$here/sql" ],
    env => { DATABASE_URL => $url });
like($out, qr/0 migration\(s\) applied/, 'scripts/migrate.sh agrees');

# The default SQL folder is found beside the program.
($rc, $out, $err) = ctl({ DATABASE_URL => $url }, 'migrate');
$rc = (run_cmd_split([ $ctl, '-f', '/dev/null', 'migrate' ],
    env => { DATABASE_URL => $url }, unset => [ 'SCENEGEN_SQL_DIR' ]))[0];
is($rc, 0, 'migrate without SCENEGEN_SQL_DIR finds the SQL folder');

# The old system's table, with a row: upgraded in place, row kept.
psql($admin, "DROP DATABASE $db; CREATE DATABASE $db;");
psql($url, <<'SQL');
CREATE TABLE chapters (id uuid PRIMARY KEY, user_id uuid NOT NULL);
CREATE TABLE image_generations (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(), user_id uuid NOT NULL,
	scene_number integer, script_id uuid, image_type text NOT NULL,
	status text NOT NULL DEFAULT 'pending', image_url text,
	error_message text, prompt text, style text, aspect_ratio text,
	metadata jsonb NOT NULL DEFAULT '{}', created_at timestamptz
	NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO image_generations (id, user_id, image_type, status, image_url)
VALUES ('11111111-2222-4333-8444-555555555555',
	'66666666-7777-4888-8999-000000000000', 'scene', 'completed',
	'https://old.example/x.png');
SQL
($rc, $out, $err) = ctl({ DATABASE_URL => $url }, 'migrate');
is($rc, 0, 'migrate over the old system\'s tables: exit 0') or diag $err;
is(psql($url, "SELECT status || ' ' || image_url || ' ' || retry_count || ' '"
    . " || progress FROM image_generations"),
    'completed https://old.example/x.png 0 0', 'the old row is kept, upgraded');
($rc, $out) = ctl({ DATABASE_URL => $url }, 'check');
like($out, qr/^PASS schema: /m, 'and check finds the schema complete');

# A failing file: rolled back whole, the run stops, the file is named.
my $tmp = tempdir('scenegen-sql.XXXXXX', TMPDIR => 1, CLEANUP => 1);
open my $fh, '>', "$tmp/a_good.sql" or die $!;
print $fh "CREATE TABLE ctl_t1 (x int);\n";
open $fh, '>', "$tmp/b_bad.sql" or die $!;
print $fh "CREATE TABLE ctl_t2 (x int);\nSELECT no_such_function();\n";
open $fh, '>', "$tmp/c_after.sql" or die $!;
print $fh "CREATE TABLE ctl_t3 (x int);\n";
close $fh;
($rc, $out, $err) = ctl({ DATABASE_URL => $url }, 'migrate', $tmp);
is($rc, 1, 'a failing migration: exit 1');
like($err, qr/b_bad\.sql: .*no_such_function/, 'the error names the file and cause');
like($err, qr/b_bad\.sql failed; nothing of it applied/, 'and says it was rolled back');
is(psql($url, "SELECT to_regclass('ctl_t1') IS NOT NULL, "
    . "to_regclass('ctl_t2') IS NULL, to_regclass('ctl_t3') IS NULL"),
    't|t|t', 'file before applied, the failing one rolled back, none after');
is(psql($url, "SELECT count(*) FROM schema_migrations WHERE filename IN "
    . "('a_good.sql', 'b_bad.sql', 'c_after.sql')"), 1, 'only a_good.sql recorded');

# Two at once on a fresh database: the advisory lock serialises them.
psql($admin, "DROP DATABASE $db; CREATE DATABASE $db;");
my @pids;
for my $i (1, 2) {
	my $pid = fork // die $!;
	if ($pid == 0) {
		my ($r) = ctl({ DATABASE_URL => $url }, 'migrate');
		POSIX::_exit($r);	# no END blocks, no Test::More in the child
	}
	push @pids, $pid;
}
my @rcs = map { waitpid($_, 0); $? >> 8 } @pids;
is_deeply(\@rcs, [ 0, 0 ], 'two concurrent runs both succeed');
is(psql($url, 'SELECT count(*) FROM schema_migrations'), scalar(@files),
    'each file recorded once');

done_testing();
