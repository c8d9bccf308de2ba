#!/usr/bin/perl
# The SQLSTATE classification every program shares (lib/pgerr.c): which
# failures are transient (the API answers 503, the daemon retries) and
# which are permanent, and the libpq message flattener. A small C program
# (t/c/pgerr-unit.c) built here with the project's warnings prints TAP;
# for an ASan build it is built with the sanitizers too.
use strict;
use warnings;
use File::Temp qw(tempdir);
use Scenegen::Test ();

my $root = Scenegen::Test::project_dir();
my $build = Scenegen::Test::build_dir();
my $dir = tempdir('pgerr-unit.XXXXXX', TMPDIR => 1, CLEANUP => 1);
my @san = $build =~ /asan/ ? ('-fsanitize=address,undefined',
    '-fno-sanitize-recover=undefined') : ();
my @cmd = ($ENV{CC} // 'cc', qw(-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror
    -Wshadow -Wstrict-prototypes -Wmissing-prototypes), @san,
    "-I$root/lib", "-I$root/t/c", '-o', "$dir/pgerr-unit", "$root/t/c/pgerr-unit.c",
    "$root/lib/pgerr.c");
if (system(@cmd) != 0) {
	print "1..1\nnot ok 1 - build t/c/pgerr-unit.c: @cmd\n";
	exit 1;
}
# Its TAP is this test's output.
system("$dir/pgerr-unit");
exit($? == 0 ? 0 : 1);
