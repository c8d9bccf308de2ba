#!/usr/bin/perl
# The fuzz harnesses of fuzz/ build, each runs ~10 s (two at a time) from
# its seed corpus without a crash, leak, timeout or broken invariant, and
# every saved reproducer in fuzz/regressions/<target>/ replays clean
# through its target (DESIGN.md promise 3: no input crashes a process).
# Skipped only when clang's libFuzzer is not installed.
#
# FUZZ_SHORT_SECONDS changes the time per target (default 10).
use strict;
use warnings;
use FindBin;
use File::Temp qw(tempdir);
use Test::More;

my $here = "$FindBin::Bin/..";
chdir $here or die "$here: $!";
my $secs = $ENV{FUZZ_SHORT_SECONDS} // 10;
my @targets = qw(fuzz_route fuzz_body fuzz_jwt fuzz_provider
    fuzz_redis_msg fuzz_config fuzz_admin_form);

# Strict: nothing known-and-skipped, our own sanitizer settings.
delete $ENV{FUZZ_KNOWN};
delete $ENV{FUZZ_ARGS};
$ENV{FUZZ_BUILD} = 'build-fuzz';

my $out = `fuzz/build.sh 2>&1`;
my $rc = $? >> 8;
plan skip_all => "clang with libFuzzer is not installed: $out" if $rc == 77;
is($rc, 0, 'fuzz/build.sh builds every target') or do {
	diag $out;
	done_testing();
	exit;
};

my $work = tempdir('scenegen-fuzz.XXXXXX', TMPDIR => 1, CLEANUP => 1);
$ENV{FUZZ_WORK} = $work;
$ENV{FUZZ_JOBS} = 2;
$out = `fuzz/run.sh $secs @targets 2>&1`;
note $out;
for my $t (@targets) {
	my ($line) = $out =~ /^(\Q$t\E\s.*)$/m;
	ok(defined $line && $line =~ /\bcrashes 0$/ && $out !~ /^  \Q$t\E: exit/m,
	    "$t: ${secs} s from the seeds, no crash")
	    or diag(join "\n", grep { /\Q$t\E|^    / } split /\n/, $out);
	ok(defined $line && $line =~ /\bexecs (\d+)/ && $1 > 0,
	    "$t: it ran") or diag $line // "no summary for $t";
}

# Every reproducer ever saved must stay fixed.
local $ENV{ASAN_OPTIONS} = 'abort_on_error=0:detect_leaks=1:'
    . 'allocator_may_return_null=1:handle_abort=1';
local $ENV{UBSAN_OPTIONS} = 'print_stacktrace=1:halt_on_error=1';
local $ENV{LSAN_OPTIONS} = '';
for my $dir (sort glob 'fuzz/regressions/*') {
	next unless -d $dir;
	(my $t = $dir) =~ s{.*/}{};
	for my $f (sort grep { -f } glob "$dir/*") {
		my $bin = "build-fuzz/$t";
		if (!-x $bin) {
			fail("$f: no target $t");
			next;
		}
		my $log = `$bin $f 2>&1`;
		is($? >> 8, 0, "regression $f replays clean")
		    or diag join "\n", grep { /ERROR|runtime error|invariant|#\d+ 0x/ }
		    split /\n/, $log;
	}
}

done_testing();
