#!/usr/bin/perl
# The short chaos run (chaos/run.sh --short, ~60-90 s): its own stack in
# its own temporary folder (no fixed port, no conflict with the suite's
# stack), load with stand-in faults, one disruption of each cheap kind
# (daemon SIGKILL, API worker SIGKILL, Redis FLUSHALL and restart,
# PostgreSQL restart, a daemon SIGSTOPped past its lease among three), then
# the invariants of DESIGN.md. Each "[PASS]/[FAIL] invariant" line of the
# run becomes one test; its indented details are shown as diagnostics.
use strict;
use warnings;
use FindBin;
use Test::More;

my $root = "$FindBin::Bin/..";
my $build = $ENV{SCENEGEN_BUILD} // "$root/build";
for my $b (qw(scenegen-api scenegend modelslab-standin)) {
	plan skip_all => "$build/$b is not built" unless -x "$build/$b";
}
plan skip_all => 'chaos needs root (stack.sh runs PostgreSQL as postgres)'
    if $> != 0;

# The suite's stack settings must not leak into ours.
delete local $ENV{SCENEGEN_ENV};
delete local $ENV{STANDIN_ARGS};
my @cmd = ("$root/chaos/run.sh", '--short');
my $pid = open(my $out, '-|') // die "fork: $!";
if (!$pid) {
	open STDERR, '>&', \*STDOUT;
	exec @cmd;
	exit 127;
}
my (@log, $current, $n);
while (my $line = <$out>) {
	chomp $line;
	push @log, $line;
	if ($line =~ /^\[(PASS|FAIL)\] (.*)$/) {
		$n++;
		$current = ok($1 eq 'PASS', $2);
	} elsif ($line =~ /^    (.*)$/ && defined $current) {
		$current ? note($1) : diag($1);
	} else {
		undef $current;
	}
}
close $out;
my $rc = $? >> 8;
ok($n && $n >= 6, 'the run checked every invariant (' . ($n // 0) . ' lines)')
    or diag join("\n", @log[-40 .. -1]);
is($rc, ($n && !grep { /^\[FAIL\]/ } @log) ? 0 : 1,
    'run.sh exit code matches the invariants');
note $_ for grep { /^(\[|==|  )/ } @log;
done_testing();
