#!/usr/bin/perl
# Where a webhook may go (lib/netaddr.c) and how it is signed
# (lib/whsecret.c): a small C program (t/c/netaddr-unit.c) built here with
# the project's warnings prints TAP; for an ASan build it is built with
# the sanitizers too.
use strict;
use warnings;
use File::Temp qw(tempdir);
use Scenegen::Test ();

my $root = Scenegen::Test::project_dir();
my $build = Scenegen::Test::build_dir();
my $dir = tempdir('netaddr-unit.XXXXXX', TMPDIR => 1, CLEANUP => 1);
my @san = $build =~ /asan/ ? ('-fsanitize=address,undefined',
    '-fno-sanitize-recover=undefined') : ();
my @cmd = ($ENV{CC} // 'cc', qw(-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror
    -Wshadow -Wstrict-prototypes -Wmissing-prototypes), @san,
    "-I$root/lib", "-I$root/t/c", '-o', "$dir/netaddr-unit", "$root/t/c/netaddr-unit.c",
    "$root/lib/netaddr.c", "$root/lib/whsecret.c", '-lcrypto');
if (system(@cmd) != 0) {
	print "1..1\nnot ok 1 - build t/c/netaddr-unit.c: @cmd\n";
	exit 1;
}
# Its TAP is this test's output.
system("$dir/netaddr-unit");
exit($? == 0 ? 0 : 1);
