#!/usr/bin/perl
# The daemon's files call one another one way only (scenegend.h says who
# is above whom): the graph of "a.c calls a function that b.c defines"
# among daemon/ files has no cycle. A call through a registered callback
# is not an edge: that is how a lower file tells a higher one.
use strict;
use warnings;
use Test::More;
use FindBin;

my $dir = "$FindBin::Bin/../daemon";
my (%defined_in, %text, %edges, %mods);
# KNF: a function definition's name starts its line, "name(".
for my $c (glob "$dir/*.c") {
	my ($m) = $c =~ m{([^/]+)\.c$};
	$mods{$m} = 1;
	open my $fh, '<', $c or die "$c: $!";
	local $/;
	my $t = <$fh>;
	$t =~ s{/\*.*?\*/}{}gs;		# comments
	$t =~ s{"(?:\\.|[^"\\])*"}{""}g;	# strings
	$text{$m} = $t;
	my $prev = '';
	for my $line (split /\n/, $t) {
		$defined_in{$1} = $m if $line =~ /^([a-z_][a-z0-9_]*)\(/
		    && $prev !~ /^static\b/;
		$prev = $line;
	}
}
for my $m (keys %text) {
	for my $f (keys %defined_in) {
		my $d = $defined_in{$f};
		next if $d eq $m;
		$edges{$m}{$d} = 1 if $text{$m} =~ /\b\Q$f\E\s*\(/;
	}
}
ok(scalar(keys %mods) > 10, scalar(keys %mods) . ' daemon files read, '
    . scalar(keys %defined_in) . ' functions they export');

# Depth-first search for a cycle; returns the cycle as a list or ().
my (%state, @stack);
sub visit {
	my ($m) = @_;
	$state{$m} = 1;
	push @stack, $m;
	for my $n (sort keys %{ $edges{$m} // {} }) {
		if (($state{$n} // 0) == 1) {
			my @c = @stack;
			shift @c while $c[0] ne $n;
			return (@c, $n);
		}
		next if $state{$n};
		my @c = visit($n);
		return @c if @c;
	}
	pop @stack;
	$state{$m} = 2;
	return ();
}
my @cycle;
for my $m (sort keys %mods) {
	next if $state{$m};
	@cycle = visit($m);
	last if @cycle;
}
is(join(' -> ', @cycle), '', 'no cycle among the daemon\'s files');
ok(!$edges{job}{loop} && !$edges{job}{run} && !$edges{job}{finish},
    'job.c calls nothing above it (loop, run, finish)');
done_testing();
