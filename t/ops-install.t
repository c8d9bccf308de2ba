#!/usr/bin/perl
# deploy/install.sh (what `make install` runs) into a DESTDIR, for the
# default PREFIX /usr/local and for /usr (the .deb): exactly the expected
# files with the expected modes, PREFIX written into the units, the site
# and the man pages, and an existing settings file left alone.
use strict;
use warnings;
use File::Find;
use File::Temp qw(tempdir);
use FindBin;
use Test::More;
use lib "$FindBin::Bin/lib";
use Scenegen::Ops qw(install_tree ops_project_dir run_cmd install_build);

my $here = ops_project_dir();
my $tmp = tempdir('scenegen-install.XXXXXX', TMPDIR => 1, CLEANUP => 1);

opendir my $dh, "$here/sql" or die $!;
my @sql = sort grep { /\.sql$/ } readdir $dh;
closedir $dh;
ok(@sql >= 3, scalar(@sql) . ' SQL files to install');

# Every file and directory under $root, as "path mode".
sub tree {
	my ($root) = @_;
	my @out;
	find({ no_chdir => 1, wanted => sub {
		return if $_ eq $root;
		my $p = substr($_, length $root);
		my $mode = (lstat $_)[2] & 07777;
		push @out, sprintf('%s %04o%s', $p, $mode, -d $_ ? '/' : '');
	} }, $root);
	return [ sort @out ];
}

sub expected {
	my ($prefix, $unitdir) = @_;
	my @files = (
		"$prefix/sbin/scenegen-api 0755", "$prefix/sbin/scenegend 0755",
		"$prefix/sbin/scenegenctl 0755",
		(map { "$unitdir/$_ 0644" } qw(scenegen-api.service
		    scenegen-api.socket scenegend.service)),
		"$unitdir/nginx.service.d/scenegen-events.conf 0644",
		"$prefix/lib/sysusers.d/scenegen.conf 0644",
		"$prefix/lib/tmpfiles.d/scenegen.conf 0644",
		(map { "$prefix/share/scenegen/sql/$_ 0644" } @sql),
		"$prefix/share/scenegen/openapi.json 0644",
		"$prefix/share/scenegen/scenegen.env 0644",
		"$prefix/share/doc/scenegen/INSTALL.md 0644",
		(map { "$prefix/share/man/man8/$_.8 0644" } qw(scenegen-api
		    scenegend scenegenctl)),
		'/etc/nginx/snippets/scenegen-api.conf 0644',
		'/etc/nginx/snippets/scenegen-errors.conf 0644',
		'/etc/nginx/snippets/scenegen-admin.conf 0644',
		'/etc/nginx/snippets/scenegen-events-publisher.conf 0644',
		'/etc/nginx/sites-available/scenegen 0644',
		'/etc/scenegen/scenegen.env 0640',
	);
	my %dirs = ('/etc/scenegen/credentials' => '0700');
	for my $f (@files) {
		my ($p) = split ' ', $f;
		while ($p =~ s{/[^/]+$}{} && $p ne '') {
			$dirs{$p} //= '0755';
		}
	}
	return [ sort(@files, map { "$_ $dirs{$_}/" } keys %dirs) ];
}

for my $case ([ '/usr/local', '/usr/local/lib/systemd/system' ],
    [ '/usr', '/lib/systemd/system' ]) {
	my ($prefix, $unitdir) = @$case;
	(my $tag = $prefix) =~ tr{/}{_};
	my $root = install_tree("$tmp/root$tag", $prefix);
	is_deeply(tree($root), expected($prefix, $unitdir),
	    "PREFIX=$prefix: exactly the expected files and modes")
	    or diag join "\n", @{ tree($root) };

	for my $u (qw(scenegend scenegen-api)) {
		open my $fh, '<', "$root$unitdir/$u.service" or die $!;
		my ($exec) = join('', <$fh>) =~ /^ExecStart=(\S+)/m;
		is($exec, "$prefix/sbin/$u", "$u.service runs $prefix/sbin/$u");
	}
	open my $fh, '<', "$root/etc/nginx/sites-available/scenegen" or die $!;
	like(join('', <$fh>), qr{alias \Q$prefix\E/share/scenegen/openapi\.json;},
	    "site serves $prefix/share/scenegen/openapi.json");
	open $fh, '<', "$root$prefix/share/man/man8/scenegenctl.8" or die $!;
	my $man = join '', <$fh>;
	like($man, qr{\Q$prefix\E/share/scenegen/sql}, 'man page names the SQL folder');
	unlike($man, qr{/usr/local/}, 'no /usr/local/ left in the man page')
	    if $prefix ne '/usr/local';
	for my $f (@sql) {
		ok(system('cmp', '-s', "$here/sql/$f",
		    "$root$prefix/share/scenegen/sql/$f") == 0, "$f copied as is");
	}
}

# An administrator's settings survive a second install (an upgrade).
my $root = "$tmp/root_usr_local";
my $env = "$root/etc/scenegen/scenegen.env";
open my $fh, '>', $env or die $!;
print $fh "DATABASE_URL=postgresql:///mine\n";
close $fh;
install_tree($root, '/usr/local');
open $fh, '<', $env or die $!;
is(join('', <$fh>), "DATABASE_URL=postgresql:///mine\n",
    'existing /etc/scenegen/scenegen.env not overwritten');

# A missing program stops the install with a sentence naming it.
my $empty = tempdir(DIR => $tmp);
my ($rc, $out) = run_cmd("$here/deploy/install.sh", "$tmp/x", '/usr', $empty);
isnt($rc, 0, 'install.sh fails without the programs');
like($out, qr/scenegen-api is missing: run make first/, 'and says why');
ok(!-e "$tmp/x/usr/sbin", 'and installs nothing');

done_testing();
