#!/usr/bin/perl
# scenegenctl's front door: -h prints the usage (exit 0); an unknown
# command or bad arguments exit 2 with the usage on stderr; a missing
# setting exits 1 with one line naming it; -f reads an environment file in
# which the environment wins over the file.
use strict;
use warnings;
use File::Temp qw(tempdir);
use FindBin;
use Test::More;
use lib "$FindBin::Bin/lib";
use Scenegen::Ops qw(ops_build_dir run_cmd_split ctl ctl_env);

my $ctl = ops_build_dir() . '/scenegenctl';
plan skip_all => "$ctl not built" unless -x $ctl;

sub bare {
	my ($env, @args) = @_;
	return run_cmd_split([ $ctl, @args ], env => $env,
	    unset => [ qw(DATABASE_URL REDIS_URL SUPABASE_JWT_SECRET
	    SUPABASE_JWT_SECRET_FILE CREDENTIALS_DIRECTORY JWT_ISSUER
	    SCENEGEN_SQL_DIR) ]);
}

my ($rc, $out, $err) = bare({}, '-h');
is($rc, 0, '-h exits 0');
like($out, qr/^usage: scenegenctl \[-hj\] \[-f file\] migrate/, '-h prints the usage');
is(scalar(() = $out =~ /scenegenctl /g), 10, 'ten usage lines');

($rc, $out, $err) = bare({}, '-f', '/dev/null');
is($rc, 2, 'no command: exit 2');
like($err, qr/no command given/, 'says so');

($rc, $out, $err) = bare({}, '-f', '/dev/null', 'frobnicate');
is($rc, 2, 'unknown command: exit 2');
like($err, qr/unknown command frobnicate\nusage:/, 'names it, then the usage');

for my $case ([ 'show' ], [ 'show', 'not-a-uuid' ], [ 'retry' ],
    [ 'retry', '--since', '1h' ], [ 'retry', '--failed', '--since', 'soon' ],
    [ 'token' ], [ 'token', 'x' ], [ 'check', '-w', '0' ], [ 'stats', 'x' ],
    [ 'migrate', 'a', 'b' ], [ 'webhooks', 'x' ], [ 'redeliver' ],
    [ 'redeliver', 'x' ], [ 'redeliver', '0' ], [ 'redeliver', '1', '2' ]) {
	($rc, $out, $err) = bare({ DATABASE_URL => 'postgresql:///none' },
	    '-f', '/dev/null', @$case);
	is($rc, 2, "@$case: usage error, exit 2") or diag $err;
	like($err, qr/\nusage: /, "@$case: usage on stderr");
}

($rc, $out, $err) = bare({}, '-f', '/dev/null', 'stats');
is($rc, 1, 'stats without DATABASE_URL: exit 1');
is($err, "scenegenctl: missing required setting DATABASE_URL\n",
    'one line naming the setting');

($rc, $out, $err) = bare({}, '-f', '/dev/null', 'token',
    '6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f');
is($rc, 1, 'token without a secret: exit 1');
like($err, qr/missing required setting SUPABASE_JWT_SECRET/, 'names it');

($rc, $out, $err) = bare({}, '-f', '/nonexistent/scenegen.env', 'stats');
is($rc, 1, '-f of a missing file: exit 1');
like($err, qr{cannot read /nonexistent/scenegen\.env}, 'names the file');

# -f: the file's settings are used; the environment wins over them.
my $tmp = tempdir('scenegen-ctl.XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $e = ctl_env();
open my $fh, '>', "$tmp/env" or die $!;
print $fh "# a comment\n\nexport DATABASE_URL='$e->{DATABASE_URL}'\n"
    . "REDIS_URL=\"$e->{REDIS_URL}\"\nSCENEGEN_SQL_DIR=$e->{SCENEGEN_SQL_DIR}\n";
close $fh;
($rc, $out, $err) = bare({}, '-f', "$tmp/env", 'migrate');
is($rc, 0, 'migrate with the settings from -f') or diag $err;
($rc, $out, $err) = bare({ DATABASE_URL => 'postgresql:///none?host=/nonexistent' },
    '-f', "$tmp/env", 'migrate');
is($rc, 1, 'the environment wins over the file');
like($err, qr/cannot connect to PostgreSQL/, 'and its bad value is used');

open $fh, '>', "$tmp/bad" or die $!;
print $fh "DATABASE_URL=x\nthis is not a setting\n";
close $fh;
($rc, $out, $err) = bare({}, '-f', "$tmp/bad", 'stats');
is($rc, 1, 'a malformed file: exit 1');
like($err, qr{\Q$tmp\E/bad:2: not NAME=VALUE}, 'names file and line');

done_testing();
