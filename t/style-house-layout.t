#!/usr/bin/perl
# The house layout is enforced by tools (STYLE.md): every tracked .c/.h
# under cgi daemon ctl lib standin fuzz bench is what clang-format 14 makes of it
# with .clang-format (KNF), and no condition (if, while, do-while, for's
# condition, switch, ?:) holds an assignment. Both through
# scripts/check-style.sh; a missing tool fails, it is not skipped.
use strict;
use warnings;
use FindBin;
use Test::More;

my $script = "$FindBin::Bin/../scripts/check-style.sh";

sub check {
	my ($what, $name) = @_;
	my $out = `'$script' $what 2>&1`;
	my $rc = $? >> 8;
	ok($rc == 0, $name) or diag($out);
}

check('--format-only', 'every C file is in the house layout (make format)');
check('--assign-only', 'no assignment inside a condition');
done_testing();
