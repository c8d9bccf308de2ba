#!/usr/bin/perl
# The systemd units as installed (deploy/install.sh into a DESTDIR, PREFIX
# /usr) pass `systemd-analyze verify`, and each service is rated 2.0 or
# lower by `systemd-analyze security --offline=true`. verify checks that
# ExecStart= exists, so the units are verified with their ExecStart= pointed
# at the programs in the DESTDIR, and the man pages of Documentation= are
# found through MANPATH; nothing else about them changes.
use strict;
use warnings;
use File::Temp qw(tempdir);
use FindBin;
use Test::More;
use lib "$FindBin::Bin/lib";
use Scenegen::Ops qw(have_tool install_tree run_cmd);

plan skip_all => 'systemd-analyze not installed'
    unless have_tool('systemd-analyze');
# verify runs man(1) for Documentation=; without it, that part is skipped.
my @man = have_tool('man') ? () : ('--man=no');
note 'no man(1): Documentation= not checked' if @man;

my $tmp = tempdir('scenegen-units.XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $root = install_tree("$tmp/root", '/usr');
my $unitdir = "$root/lib/systemd/system";
my @units = qw(scenegend.service scenegen-api.service scenegen-api.socket);

# The units with ExecStart= pointed at the DESTDIR's programs.
mkdir "$tmp/verify" or die $!;
for my $u (@units) {
	open my $in, '<', "$unitdir/$u" or die "$unitdir/$u: $!";
	open my $out, '>', "$tmp/verify/$u" or die $!;
	while (my $line = <$in>) {
		$line =~ s{^ExecStart=/usr/}{ExecStart=$root/usr/};
		print $out $line;
	}
	close $out;
}

local $ENV{MANPATH} = "$root/usr/share/man";
for my $u (@units) {
	my ($rc, $out) = run_cmd('systemd-analyze', 'verify', @man,
	    "$tmp/verify/$u");
	is($rc, 0, "systemd-analyze verify $u") or diag $out;
	is($out, '', "verify says nothing about $u") or diag $out;
}

# The installed units, unchanged, for the rating.
for my $u (@units) {
	my ($rc, $out) = run_cmd('systemd-analyze', 'security',
	    '--offline=true', "$unitdir/$u");
	my ($score) = $out =~ /Overall exposure level for \Q$u\E: ([0-9.]+)/;
	ok(defined $score, "security rating of $u found") or diag $out;
	next unless defined $score;
	cmp_ok($score, '<=', 2.0, "$u exposure $score <= 2.0");
	note "$u exposure level $score";
}

# What the units promise the daemon and the API get, line by line.
my %want = (
	'scenegend.service' => [ 'Type=notify', 'NotifyAccess=main',
	    'WatchdogSec=30s', 'ExecReload=/bin/kill -HUP $MAINPID',
	    'Restart=on-failure', 'EnvironmentFile=/etc/scenegen/scenegen.env',
	    'LoadCredential=MODELSLAB_API_KEY:/etc/scenegen/credentials/modelslab_api_key',
	    'User=scenegen', 'StateDirectory=scenegen',
	    'ReadWritePaths=/var/lib/scenegen/images',
	    'ExecStart=/usr/sbin/scenegend' ],
	'scenegen-api.service' => [ 'Requires=scenegen-api.socket',
	    'Type=notify', 'User=scenegen',
	    'EnvironmentFile=/etc/scenegen/scenegen.env',
	    'LoadCredential=SUPABASE_JWT_SECRET:/etc/scenegen/credentials/supabase_jwt_secret',
	    'ExecStart=/usr/sbin/scenegen-api' ],
	'scenegen-api.socket' => [ 'ListenStream=/run/scenegen/api.sock',
	    'SocketGroup=www-data', 'SocketMode=0660' ],
);
for my $u (@units) {
	open my $fh, '<', "$unitdir/$u" or die $!;
	my %lines = map { chomp; ($_ => 1) } <$fh>;
	ok($lines{$_}, "$u has $_") for @{ $want{$u} };
}

# TimeoutStopSec= leaves the daemon its whole drain time.
open my $fh, '<', "$unitdir/scenegend.service" or die $!;
my ($stop) = join('', <$fh>) =~ /^TimeoutStopSec=(\d+)s?$/m;
open my $env, '<', "$root/usr/share/scenegen/scenegen.env" or die $!;
my ($drain) = join('', <$env>) =~ /^#?SCENEGEN_DRAIN_SECONDS=(\d+)$/m;
ok(defined $stop && defined $drain && $stop > $drain,
    "TimeoutStopSec ($stop) above the default drain time ($drain)");

done_testing();
