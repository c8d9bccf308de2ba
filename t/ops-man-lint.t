#!/usr/bin/perl
# The man pages are clean under `mandoc -Tlint -W warning`, have the
# sections a sysadmin looks for, and scenegenctl(8)'s SYNOPSIS is exactly
# what `scenegenctl -h` prints.
use strict;
use warnings;
use FindBin;
use Test::More;
use lib "$FindBin::Bin/lib";
use Scenegen::Ops qw(have_tool ops_build_dir ops_project_dir run_cmd
    run_cmd_split);

plan skip_all => 'mandoc not installed' unless have_tool('mandoc');

my $here = ops_project_dir();
my @pages = qw(scenegen-api scenegend scenegenctl);
for my $p (@pages) {
	my $file = "$here/man/$p.8";
	ok(-f $file, "man/$p.8 exists") or next;
	my ($rc, $out) = run_cmd('mandoc', '-Tlint', '-W', 'warning', $file);
	is($rc, 0, "mandoc -Tlint -W warning $p.8") or diag $out;
	is($out, '', "no lint messages for $p.8") or diag $out;
	open my $fh, '<', $file or die $!;
	my $src = join '', <$fh>;
	for my $sh ('NAME', 'SYNOPSIS', 'DESCRIPTION', 'ENVIRONMENT', 'FILES',
	    'EXIT STATUS', 'EXAMPLES', 'SEE ALSO') {
		like($src, qr/^\.Sh \Q$sh\E$/m, "$p.8 has $sh");
	}
}

# SYNOPSIS of scenegenctl(8) as text == the usage lines of the program.
my $ctl = ops_build_dir() . '/scenegenctl';
SKIP: {
	skip 'scenegenctl not built', 1 unless -x $ctl;
	my ($rc, $usage) = run_cmd($ctl, '-h');
	$usage =~ s/^usage: //;
	my @usage = map { s/^\s+//; s/\s+/ /g; $_ } split /\n/, $usage;
	my (undef, $text) = run_cmd_split([ 'mandoc', '-Tascii',
	    "$here/man/scenegenctl.8" ], env => { MANWIDTH => 200 });
	$text =~ s/.\x08//g;
	my ($syn) = $text =~ /^SYNOPSIS\n(.*?)\n\n/ms;
	my @syn = map { s/^\s+//; s/\s+/ /g; $_ } split /\n/, $syn // '';
	# mandoc may wrap a long synopsis line: join continuation lines.
	my @joined;
	for my $l (@syn) {
		if ($l =~ /^scenegenctl /) { push @joined, $l }
		elsif (@joined) { $joined[-1] .= " $l" }
	}
	is_deeply(\@joined, \@usage, 'scenegenctl(8) SYNOPSIS matches -h');
}

# Each program's ENVIRONMENT names every setting of its table.
my %table = (
	'scenegen-api' => "$here/cgi/config.c",
	'scenegend' => "$here/daemon/config.c",
	'scenegenctl' => "$here/ctl/settings.c",
);
for my $p (sort keys %table) {
	SKIP: {
		skip "$table{$p} not written yet", 1 unless -f $table{$p};
		open my $fh, '<', $table{$p} or die $!;
		my @names = join('', <$fh>) =~ /"([A-Z][A-Z0-9_]+)",\s*CONFIG_/g;
		open $fh, '<', "$here/man/$p.8" or die $!;
		my $man = join '', <$fh>;
		my @missing = grep { $man !~ /\.It Ev \Q$_\E\b|, Ev \Q$_\E\b/ }
		    @names;
		is_deeply(\@missing, [], "$p.8 ENVIRONMENT lists all "
		    . scalar(@names) . ' settings');
	}
}

done_testing();
