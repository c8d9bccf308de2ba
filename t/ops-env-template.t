#!/usr/bin/perl
# deploy/scenegen.env, the settings template installed as
# /etc/scenegen/scenegen.env, shows every setting of the programs' tables
# (cgi/config.c, daemon/config.c, ctl/settings.c) commented out with the
# table's own default, so the file cannot drift from the code, except the
# admission limits the SPEC has it set. Secrets are named but never given
# a value line: they go in credential files.
use strict;
use warnings;
use FindBin;
use Test::More;
use lib "$FindBin::Bin/lib";
use Scenegen::Ops qw(ops_project_dir);

my $here = ops_project_dir();
open my $fh, '<', "$here/deploy/scenegen.env" or die $!;
my $tmpl = join '', <$fh>;

# Settings the unit or systemd sets, not the administrator.
my %by_unit = (SCENEGEN_ENV_FILE => 1);
# Settings the shipped file sets (SPEC, "Admission limits at POST"): off
# in the code, on as installed.
my %shipped = (SCENEGEN_RATE_LIMITS => 'free:30/60,pro:120/60,premium:600/60',
    SCENEGEN_MAX_WAITING_PER_USER => 1000);

my $n = 0;
for my $file ("$here/cgi/config.c", "$here/daemon/config.c",
    "$here/ctl/settings.c") {
	SKIP: {
		skip "$file not written yet", 1 unless -f $file;
		open my $c, '<', $file or die $!;
		my $src = join '', <$c>;
		while ($src =~ /"([A-Z][A-Z0-9_]+)",\s*CONFIG_\w+,\s*
		    (NULL|"[^"]*")\s*,[^,]*,[^,]*,\s*(\d)\s*,\s*(\d)/gx) {
			my ($name, $def, $required, $secret) = ($1, $2, $3, $4);
			$n++;
			next if $by_unit{$name};
			if (exists $shipped{$name}) {
				ok($tmpl =~ /^\Q$name\E=\Q$shipped{$name}\E$/m,
				    "$name=$shipped{$name} set as shipped");
				next;
			}
			if ($name =~ /SECRET|API_KEY|_TOKEN$/) {
				ok($tmpl =~ /^# \Q$name\E: /m,
				    "$name explained ($file)");
				ok($tmpl !~ /^#?\Q$name\E=/m,
				    "$name has no value line");
				next;
			}
			if ($def eq 'NULL') {
				ok($tmpl =~ /^#\Q$name\E=/m,
				    "$name shown ($file)");
				next;
			}
			$def =~ s/^"|"$//g;
			ok($tmpl =~ /^#\Q$name\E=\Q$def\E$/m,
			    "#$name=$def ($file)") or diag join "\n",
			    $tmpl =~ /^(#\Q$name\E=.*)$/mg;
		}
	}
}
ok($n > 20, "$n settings found in the tables");
my @set = grep { !exists $shipped{$_} } $tmpl =~ /^([A-Z_]+)=/mg;
is_deeply(\@set, [], 'nothing else is set: every other line commented');

done_testing();
