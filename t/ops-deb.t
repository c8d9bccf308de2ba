#!/usr/bin/perl
# deploy/build-deb.sh (what `make deb` runs) builds scenegen_VERSION_ARCH.deb
# in the project folder: its control data (name, version, architecture,
# Depends on the runtime library of every shared library the programs
# use), conffiles, maintainer scripts and exact contents are checked, and
# the package is removed again.
use strict;
use warnings;
use File::Temp qw(tempdir);
use FindBin;
use Test::More;
use lib "$FindBin::Bin/lib";
use Scenegen::Ops qw(have_tool install_build ops_project_dir run_cmd
    run_cmd_split);

for my $t (qw(dpkg-deb dpkg objdump)) {
	plan skip_all => "$t not installed" unless have_tool($t);
}

my $here = ops_project_dir();
my ($build, $stubbed) = install_build();
note "no $_ built yet: packaging a stand-in program" for @$stubbed;
my %stub = map { $_ => 1 } @$stubbed;
my $version = "0.0.0~test$$";
my ($rc, $arch) = run_cmd('dpkg', '--print-architecture');
chomp $arch;
my $deb = "$here/scenegen_${version}_$arch.deb";
END { unlink $deb if defined $deb }

my ($brc, $bout, $berr) = run_cmd_split(
    [ "$here/deploy/build-deb.sh", $build ], env => { VERSION => $version });
is($brc, 0, 'build-deb.sh succeeds') or diag $berr;
is($bout, "$deb\n", 'it prints the path of the package');
ok(-f $deb, "scenegen_${version}_$arch.deb is in the project folder")
    or BAIL_OUT('no package');

# Control data.
my %field;
for my $f (qw(Package Version Architecture Depends Maintainer Description
    Section Priority Installed-Size)) {
	(my $frc, $field{$f}) = run_cmd('dpkg-deb', '-f', $deb, $f);
	chomp $field{$f};
}
is($field{Package}, 'scenegen', 'Package: scenegen');
is($field{Version}, $version, "Version: $version");
is($field{Architecture}, $arch, "Architecture: $arch");
ok($field{$_} ne '', "$_ is set") for qw(Maintainer Description Section
    Priority Installed-Size);
my %dep = map { (split ' ', $_)[0] => 1 } split /,\s*/, $field{Depends};
my %needs = (
	'scenegenctl' => [ qw(libc6 libpq5 libhiredis0.14 libcjson1 libssl3) ],
	'scenegen-api' => [ qw(libc6 libpq5 libhiredis0.14 libcjson1 libssl3
	    libfcgi0ldbl libsystemd0) ],
	'scenegend' => [ qw(libc6 libpq5 libhiredis0.14 libcjson1 libcurl4
	    libevent-2.1-7 libsystemd0) ],
);
for my $p (sort keys %needs) {
	next if $stub{$p};
	ok($dep{$_}, "Depends names $_ ($p)") for @{ $needs{$p} };
}
ok($dep{systemd}, 'Depends names systemd (sysusers, tmpfiles, units)');
unlike($field{Depends}, qr/-dev\b/, 'no -dev package in Depends');

# Maintainer scripts and conffiles.
my $ctl = tempdir('scenegen-deb.XXXXXX', TMPDIR => 1, CLEANUP => 1) . '/DEBIAN';
($rc, my $out) = run_cmd('dpkg-deb', '-e', $deb, $ctl);
is($rc, 0, 'control area extracts') or diag $out;
for my $s (qw(postinst prerm postrm)) {
	ok(-x "$ctl/$s", "$s is executable");
	($rc, $out) = run_cmd('sh', '-n', "$ctl/$s");
	is($rc, 0, "$s is valid sh") or diag $out;
}
open my $fh, '<', "$ctl/conffiles" or die $!;
is_deeply([ sort map { chomp; $_ } <$fh> ], [ sort qw(
    /etc/nginx/sites-available/scenegen
    /etc/nginx/snippets/scenegen-api.conf
    /etc/nginx/snippets/scenegen-errors.conf
    /etc/nginx/snippets/scenegen-admin.conf
    /etc/nginx/snippets/scenegen-events-publisher.conf
    /etc/scenegen/scenegen.env) ], 'every file under /etc is a conffile');
open $fh, '<', "$ctl/postinst" or die $!;
my $postinst = join '', <$fh>;
like($postinst, qr/systemd-sysusers scenegen\.conf/, 'postinst makes the user');
like($postinst, qr/systemd-tmpfiles --create scenegen\.conf/,
    'postinst makes /var/lib/scenegen/images');
like($postinst, qr/DATABASE_URL=.*\n.*\n(?:.*\n){0,6}.*scenegenctl.*\n.*migrate/,
    'postinst migrates only when the settings name a database');
ok(-f "$ctl/md5sums", 'md5sums present');

# Contents: exactly what install.sh puts under PREFIX=/usr, man pages
# compressed, everything owned by root.
($rc, $out) = run_cmd('dpkg-deb', '-c', $deb);
my (@paths, @owners);
for (split /\n/, $out) {
	my @f = split ' ', $_, 6;
	push @owners, $f[1];
	(my $p = $f[5]) =~ s{^\./}{/};
	$p =~ s{/$}{};
	push @paths, $p if $p ne '/' && $p ne '';
}
opendir my $dh, "$here/sql" or die $!;
my @sql = sort grep { /\.sql$/ } readdir $dh;
my @want_files = (
	(map { "/usr/sbin/$_" } qw(scenegen-api scenegend scenegenctl)),
	(map { "/lib/systemd/system/$_" } qw(scenegen-api.service
	    scenegen-api.socket scenegend.service
	    nginx.service.d/scenegen-events.conf)),
	'/usr/lib/sysusers.d/scenegen.conf', '/usr/lib/tmpfiles.d/scenegen.conf',
	(map { "/usr/share/scenegen/sql/$_" } @sql),
	'/usr/share/scenegen/openapi.json', '/usr/share/scenegen/scenegen.env',
	'/usr/share/doc/scenegen/INSTALL.md',
	(map { "/usr/share/man/man8/$_.8.gz" } qw(scenegen-api scenegend
	    scenegenctl)),
	'/etc/nginx/snippets/scenegen-api.conf',
	'/etc/nginx/snippets/scenegen-errors.conf',
	'/etc/nginx/snippets/scenegen-admin.conf',
	'/etc/nginx/snippets/scenegen-events-publisher.conf',
	'/etc/nginx/sites-available/scenegen', '/etc/scenegen/scenegen.env',
	'/etc/scenegen/credentials',
);
my %want = map { $_ => 1 } @want_files;
for my $f (@want_files) {
	my $p = $f;
	$want{$p} = 1 while $p =~ s{/[^/]+$}{} && $p ne '';
}
is_deeply([ sort @paths ], [ sort keys %want ], 'exactly the expected contents')
    or diag $out;
is_deeply([ grep { $_ ne 'root/root' } @owners ], [], 'all owned by root');
like($out, qr{^-rw-r----- root/root .* \./etc/scenegen/scenegen\.env$}m,
    'settings file 0640');
like($out, qr{^drwx------ root/root .* \./etc/scenegen/credentials/$}m,
    'credentials folder 0700');
like($out, qr{^-rwxr-xr-x root/root .* \./usr/sbin/scenegenctl$}m,
    'programs 0755');

# --- install, upgrade, purge: opt-in, it changes the machine -------------
# SCENEGEN_TEST_DPKG_INSTALL=1 (as root, scenegen not installed, a test
# stack running): dpkg -i makes the user and folders and does not migrate
# without DATABASE_URL; with DATABASE_URL set, an upgrade migrates (as the
# scenegen user) a database of its own and keeps its rows; purge removes
# /etc/scenegen and keeps /var/lib/scenegen.
SKIP: {
	skip 'set SCENEGEN_TEST_DPKG_INSTALL=1 to install the package for real', 1
	    unless $ENV{SCENEGEN_TEST_DPKG_INSTALL};
	skip 'needs root', 1 if $> != 0;
	my ($irc) = run_cmd('dpkg-query', '-W', 'scenegen');
	skip 'scenegen is installed on this machine already', 1 if $irc == 0;
	skip 'scenegenctl is a stand-in', 1 if $stub{scenegenctl};
	require Scenegen::Test;
	my $e = Scenegen::Test::stack_env();
	require Scenegen::Ops;
	my $admin = "postgresql:///postgres?host=$e->{PG_SOCKET_DIR}&user=postgres";
	my $db = "scenegen_deb_$$";
	Scenegen::Ops::psql_on($admin, "CREATE DATABASE $db OWNER scenegen");
	my $cleanup = sub {
		run_cmd('dpkg', '-P', 'scenegen');
		eval { Scenegen::Ops::psql_on($admin, "DROP DATABASE IF EXISTS $db") };
	};
	my $url = "postgresql:///$db?host=$e->{PG_SOCKET_DIR}&user=scenegen";
	my $dburl = "postgresql:///$db?host=$e->{PG_SOCKET_DIR}&user=postgres";

	my ($rc, $out) = run_cmd('dpkg', '-i', $deb);
	is($rc, 0, 'dpkg -i') or diag $out;
	like($out, qr/set DATABASE_URL and REDIS_URL/, 'asks for the settings');
	my @pw = getpwnam('scenegen');
	ok(@pw, 'system user scenegen exists');
	is((stat '/var/lib/scenegen/images')[2] & 07777, 02750,
	    '/var/lib/scenegen/images 2750');
	is(getgrgid((stat '/var/lib/scenegen/images')[5]), 'www-data',
	    'group www-data');
	is((stat '/etc/scenegen/credentials')[2] & 07777, 0700, 'credentials 0700');
	is(getgrgid((stat '/etc/scenegen/scenegen.env')[5]), 'scenegen',
	    'settings readable by group scenegen');

	open my $fh, '>>', '/etc/scenegen/scenegen.env' or die $!;
	print $fh "DATABASE_URL=$url\nREDIS_URL=$e->{REDIS_URL}\n";
	close $fh;
	($rc, $out) = run_cmd('dpkg', '-i', $deb);
	is($rc, 0, 'dpkg -i again (an upgrade) with DATABASE_URL set')
	    or diag $out;
	like($out, qr/scenegenctl: \d+ migration\(s\) applied/,
	    'the upgrade migrated');
	is(Scenegen::Ops::psql_on($dburl, 'SELECT count(*) FROM schema_migrations'),
	    scalar(@sql), 'every migration recorded');
	Scenegen::Ops::psql_on($dburl, "INSERT INTO image_generations (user_id, "
	    . "status) VALUES (gen_random_uuid(), 'completed'); DELETE FROM "
	    . "schema_migrations WHERE filename = '$sql[-1]'");
	($rc, $out) = run_cmd('dpkg', '-i', $deb);
	like($out, qr/scenegenctl: applied \Q$sql[-1]\E/,
	    'a new migration is applied on upgrade');
	is(Scenegen::Ops::psql_on($dburl, 'SELECT count(*) FROM image_generations'),
	    1, 'and the rows are kept');

	($rc, $out) = run_cmd('dpkg', '-P', 'scenegen');
	is($rc, 0, 'dpkg -P') or diag $out;
	ok(!-e '/etc/scenegen', 'purge removes /etc/scenegen');
	ok(-d '/var/lib/scenegen/images', 'and keeps the stored images');
	ok(!-e '/usr/sbin/scenegend', 'the programs are gone');
	$cleanup->();
}

done_testing();
