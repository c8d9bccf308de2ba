#!/usr/bin/perl
# The soak proper (chaos/soak.sh starts the stack and calls this): mixed
# load, a /proc sample of every process every SOAK_INTERVAL seconds, a CSV,
# a table and a verdict per process group.
use strict;
use warnings;
use Getopt::Long;
use HTTP::Tiny;
use JSON::PP;
use List::Util qw(sum max min);
use POSIX qw(:sys_wait_h strftime);
use Time::HiRes qw(sleep time);
use Chaos;

$| = 1;
my %o = (minutes => 10);
GetOptions(\%o, 'stack=s', 'work=s', 'minutes=f', 'results=s') or exit 2;
my ($stack, $work) = @o{qw(stack work)};
my $duration = int($o{minutes} * 60);
my $interval = $ENV{SOAK_INTERVAL} // 10;
my $post_rate = $ENV{SOAK_RATE} // 6;
my $poll_rate = $ENV{SOAK_POLL_RATE} // 10;
my $env = read_env("$stack/env");
my $json = JSON::PP->new->canonical;
my $T0 = time;
my $stop = "$work/load.stop";

# --- load -----------------------------------------------------------------
my @faults = ('', '', '', '', '', '', 'eta=2', 'eta=5', 'fault=http503;times=1',
    'fault=truncated;times=1', 'fault=drop;times=1', 'fault=http402',
    'fault=error200;times=2', 'fault=http500;at=fetch;times=1');

sub loader {
	my ($what, $per_s, $out) = @_;
	srand($$);
	my $h = HTTP::Tiny->new(timeout => 10, keep_alive => 1);
	my $base = "$env->{BASE_URL}/api/v1/chapters/$env->{DEMO_CHAPTER_ID}/images/scenes/";
	my %hdr = ('Content-Type' => 'application/json',
	    Authorization => "Bearer $env->{DEMO_TOKEN}");
	open my $fh, '>', $out or POSIX::_exit(1);
	$fh->autoflush(1);
	my %codes;
	my $step = 1 / $per_s;
	my $next = time;
	my $end = time + $duration + 30;
	my $max = int($duration * $per_s * 1.5) + 100;
	my %etag;
	for my $i (1 .. $max) {
		last if -e $stop || time > $end;
		my $r;
		if ($what eq 'post') {
			my $f = $faults[rand @faults];
			my $scene = 1 + int rand 300;
			$r = $h->request('POST', $base . $scene, { headers => \%hdr,
			    content => $json->encode({ scene_description =>
			    "soak $i: a market at dawn" . ($f ne '' ? " [standin:$f]" : ''),
			    aspect_ratio => (qw(16:9 1:1 3:2))[rand 3] }) });
		} else {
			# scenes already asked for (mostly): 404 stays rare
			my $scene = 1 + int rand(min(300, 1 + (time - $T0) * $post_rate));
			my %h = (Authorization => $hdr{Authorization});
			$h{'If-None-Match'} = $etag{$scene} if $etag{$scene} && rand() < 0.5;
			$r = $h->request('GET', "$base$scene/status", { headers => \%h });
			$etag{$scene} = $r->{headers}{etag} if $r->{headers}{etag};
		}
		$codes{$r->{status}}++;
		$next += $step;
		my $now = time;
		if ($next > $now) { sleep($next - $now) }
		elsif ($now - $next > 2) { $next = $now }
	}
	print $fh join(' ', map { "$_=$codes{$_}" } sort keys %codes), "\n";
	close $fh;
	POSIX::_exit(0);
}

my @kids;
END { kill 'TERM', @kids if @kids }
for my $spec ([ post => $post_rate ], [ poll => $poll_rate ]) {
	my $pid = fork // die "fork: $!";
	if (!$pid) { @kids = (); loader($spec->[0], $spec->[1], "$work/$spec->[0].out") }
	push @kids, $pid;
}

# --- sampling -----------------------------------------------------------------
# Groups of processes, found anew at each sample (a restarted worker is
# a new pid in the same group).
sub groups {
	my %g;
	if (my $n = pid_of("$stack/nginx/nginx.pid")) {
		$g{'nginx master'} = [ $n ];
		$g{'nginx workers'} = [ children_of($n) ];
	}
	if (my $a = pid_of("$stack/api.pid")) {
		$g{'api master'} = [ $a ];
		$g{'api workers'} = [ children_of($a) ];
	}
	$g{daemon} = [ grep { defined } pid_of("$stack/daemon.pid") ];
	$g{redis} = [ grep { defined } pid_of("$stack/redis/redis.pid") ];
	my ($pm, @backends) = postgres_pids($stack);
	$g{'postgres postmaster'} = [ $pm ] if $pm;
	$g{'postgres children'} = \@backends;
	$g{'stand-in'} = [ grep { defined } pid_of("$stack/standin.pid") ];
	return \%g;
}

my $stamp = strftime('%Y%m%d-%H%M%S', localtime);
my $csv = "$o{results}/soak-$stamp.csv";
open my $cfh, '>', $csv or die "$csv: $!\n";
$cfh->autoflush(1);
print $cfh "time_s,group,procs,rss_kb,fds,rows_total,rows_done\n";
my (%series, %pids_seen, @lost);
my $next = time;
my $end = $T0 + $duration;
printf "soak: %d s of load (%s POST/s, %s GET/s), a sample every %d s; CSV %s\n",
    $duration, $post_rate, $poll_rate, $interval, $csv;
my $prev_daemon;
while (1) {
	my $t = time - $T0;
	my $g = groups();
	my $rows = psql_rows($env->{DATABASE_URL}, q{SELECT count(*),
	    count(*) FILTER (WHERE status IN ('completed', 'failed'))
	    FROM image_generations}, 5);
	my ($total, $done) = $rows ? @{ $rows->[0] } : ('', '');
	my @line;
	for my $name (sort keys %$g) {
		my ($rss, $fds, $n) = (0, 0, 0);
		for my $p (@{ $g->{$name} }) {
			my $r = proc_rss_kb($p);
			my $f = proc_fds($p);
			next unless defined $r && defined $f;
			$rss += $r;
			$fds += $f;
			$n++;
			$pids_seen{$name}{$p} = 1;
		}
		push @{ $series{$name} }, [ $t, $n, $rss, $fds ];
		printf $cfh "%.0f,%s,%d,%d,%d,%s,%s\n", $t, $name, $n, $rss, $fds, $total, $done;
		push @line, sprintf '%s %d/%.1fM/%d', $name, $n, $rss / 1024, $fds;
	}
	my $d = $g->{daemon}[0];
	push @lost, sprintf('daemon pid changed %s -> %s at %.0f s', $prev_daemon, $d // 'none', $t)
	    if defined $prev_daemon && ($d // 0) != $prev_daemon;
	$prev_daemon = $d // 0;
	printf "[%5.0f s] rows %s/%s done | %s\n", $t, $done, $total, join(', ', @line);
	last if time >= $end;
	$next += $interval;
	sleep($next - time) if $next > time;
}
{ open my $s, '>', $stop; close $s }
waitpid($_, 0) for @kids;
@kids = ();
close $cfh;

# --- settle and totals ----------------------------------------------------------
my $settle_end = time + 120;
my $open = '?';
while (time < $settle_end) {
	my $r = psql_rows($env->{DATABASE_URL},
	    "SELECT count(*) FROM image_generations WHERE status IN ('pending', 'in_progress')", 5);
	$open = $r ? $r->[0][0] : '?';
	last if $r && $open == 0;
	sleep 1;
}
my $st = psql_rows($env->{DATABASE_URL},
    'SELECT status, count(*) FROM image_generations GROUP BY 1 ORDER BY 1', 10) // [];
my %answers;
for my $w (qw(post poll)) {
	my $l = read_from("$work/$w.out");
	chomp $l;
	$answers{$w} = $l;
}

# --- verdict ----------------------------------------------------------------
sub mean { @_ ? sum(@_) / @_ : 0 }
# descriptors: the median, so that one sample of a PostgreSQL backend
# holding relation files open for a moment does not count as growth
sub median { my @v = sort { $a <=> $b } @_; @v ? ($v[$#v / 2] + $v[@v / 2]) / 2 : 0 }
print "\n== processes (RSS in MiB: means, fds = open descriptors: medians, over thirds of the run)\n";
printf "  %-20s %5s %8s %8s %8s %8s %6s %6s %6s %6s  %s\n", 'group', 'procs',
    'rss-1st', 'rss-mid', 'rss-last', 'rss-max', 'fd-1st', 'fd-mid', 'fd-last', 'fd-max', 'verdict';
my $grow = 0;
for my $name (sort keys %series) {
	my @s = @{ $series{$name} };
	my $k = int(@s / 3) || 1;
	my @first = @s[0 .. $k - 1];
	my @mid = @s[$k .. min(2 * $k - 1, $#s)];
	my @last = @s[max(0, @s - $k) .. $#s];
	my ($r1, $r2, $r3) = map { mean(map { $_->[2] } @$_) } \@first, \@mid, \@last;
	my ($f1, $f2, $f3) = map { median(map { $_->[3] } @$_) } \@first, \@mid, \@last;
	my $procs = max(map { $_->[1] } @s);
	my $rmax = max(map { $_->[2] } @s);
	my $fmax = max(map { $_->[3] } @s);
	my @why;
	push @why, sprintf('RSS +%.0f%%', 100 * ($r3 - $r2) / $r2)
	    if $r2 > 0 && $r3 > $r2 * 1.10 && $r3 - $r2 > 1024;
	push @why, sprintf('fds +%.1f', $f3 - $f2) if $f3 > $f2 + 2 + 0.5 * $procs;
	my ($nmid, $nlast) = map { mean(map { $_->[1] } @$_) } \@mid, \@last;
	push @why, sprintf('procs %.1f -> %.1f', $nmid, $nlast) if $nlast > $nmid + 0.5;
	# The stand-in (a test tool) is shown, not judged; PostgreSQL's RSS
	# grows as its backends touch more shared buffers: its processes
	# and descriptors are judged, not its RSS.
	@why = grep { !/^RSS/ } @why if $name =~ /^postgres/;
	my $judged = $name ne 'stand-in';
	my $verdict = @why ? 'GROWING (' . join(', ', @why) . ')' : 'flat';
	$verdict .= sprintf ' [%d pids over the run]', scalar keys %{ $pids_seen{$name} }
	    if keys %{ $pids_seen{$name} // {} } > $procs;
	$grow++ if @why && $judged;
	$verdict .= ' (not judged)' if !$judged;
	printf "  %-20s %5d %8.1f %8.1f %8.1f %8.1f %6.1f %6.1f %6.1f %6d  %s\n", $name, $procs,
	    $r1 / 1024, $r2 / 1024, $r3 / 1024, $rmax / 1024, $f1, $f2, $f3, $fmax, $verdict;
}
print "\n== load\n";
print "  POST answers: $answers{post}\n  GET status answers: $answers{poll}\n";
print "  rows: ", join(', ', map { "$_->[0] $_->[1]" } @$st), "; $open unfinished after the settle\n";
print "  $_\n" for @lost;
my $dead = grep { !$series{$_}[-1][1] } grep { /^(daemon|api master|redis|nginx master)$/ } keys %series;
printf "\n== soak verdict: %s (CSV %s)\n",
    $grow || $dead || @lost ? 'GROWING or unstable' : 'flat', $csv;
exit($grow || $dead || @lost ? 1 : 0);
