#!/usr/bin/perl
# The load and the tally of chaos/valgrind.sh.
#
#   valgrind.pl enqueue --stack DIR --work DIR --jobs N [--clients N]
#       POSTs N jobs through nginx (the stack's token and chapter), each
#       with a stand-in fault marker from the mix below or none, from
#       --clients parallel keep-alive clients; one line per job in
#       WORK/jobs-K.tsv (seq, HTTP status, record id, class, marker).
#       Exits 1 unless every POST got its 202.
#   valgrind.pl report --stack DIR --work DIR
#       One line per fault class: jobs, completed, failed, unfinished.
use strict;
use warnings;
use Getopt::Long;
use HTTP::Tiny;
use JSON::PP;
use List::Util qw(sum);
use POSIX ();
use Time::HiRes qw(sleep time);
use Chaos;

$| = 1;
my $cmd = shift // '';
my %o = (jobs => 3000, clients => 4);
GetOptions(\%o, 'stack=s', 'work=s', 'jobs=i', 'clients=i') or exit 2;
my $stack = $o{stack} or die "--stack\n";
my $work = $o{work} or die "--work\n";
my $env = read_env("$stack/env");
my $json = JSON::PP->new->canonical;

# The mix: [class, weight, marker generator]. Markers ride in the scene
# description into the prompt (faults.h); times=N makes a fault hit only
# the first N creates of that record, so the retry gets through.
sub one { $_[rand @_] }
my @mix = (
	[ success_at_once => 10, sub { 'mode=success' } ],
	[ processing => 24, sub { sprintf 'eta=%.1f', 0.2 + rand 1.3 } ],
	[ odd_spelling => 3, sub { 'fault=' . one('messege', 'string_id',
	    'messege,string_id') } ],
	[ http_5xx => 10, sub { 'fault=' . one(qw(http500 http502 http503
	    http504)) . ';times=' . one(1, 2) } ],
	[ http_429 => 6, sub { sprintf 'fault=http429;retry_after=%d;times=%d',
	    1 + int rand 20, one(1, 2) } ],
	[ error_200 => 4, sub { 'fault=' . one(qw(ratelimit200 error200))
	    . ';times=1' } ],
	[ timeout => 3, sub { 'fault=hang;times=1' } ],
	[ dropped => 3, sub { 'fault=drop;times=1' } ],
	[ bad_json => 6, sub { 'fault=' . one(qw(malformed truncated short))
	    . ';times=' . one(1, 2) } ],
	[ oversized => 2, sub { 'fault=oversized;size=1100000;times=1' } ],
	[ fetch_fault => 7, sub { 'fault=' . one(qw(http503 http429 malformed
	    truncated drop hang error200)) . ';at=fetch;times=' . one(1, 2) } ],
	[ gen_failed_once => 4, sub { 'fault=failed;times=1' } ],
	[ gen_failed => 2, sub { 'fault=failed' } ],
	[ download_404 => 4, sub { 'fault=expire;times=' . one(1, 2) } ],
	[ fatal => 6, sub { 'fault=' . one(qw(http400 http401 http402 http403
	    error200_fatal)) } ],
	[ poison => 3, sub { 'fault=' . one(qw(http503 drop malformed
	    ratelimit200)) . ';times=9' } ],
);
my $wsum = sum(map { $_->[1] } @mix);

sub pick {
	my $r = rand $wsum;
	for my $c (@mix) {
		return ($c->[0], $c->[2]->()) if ($r -= $c->[1]) < 0;
	}
	return ('processing', '');
}

# Client $k of $n: jobs k, k+n, k+2n, ... up to $jobs.
sub client {
	my ($k, $n, $jobs) = @_;
	srand(($ENV{VALGRIND_SEED} // 1) * 1000 + $k);
	my $h = HTTP::Tiny->new(timeout => 30, keep_alive => 1);
	my $url = "$env->{BASE_URL}/api/v1/chapters/$env->{DEMO_CHAPTER_ID}"
	    . '/images/scenes/';
	my %hdr = ('Content-Type' => 'application/json',
	    Authorization => "Bearer $env->{DEMO_TOKEN}");
	open my $fh, '>', "$work/jobs-$k.tsv" or POSIX::_exit(2);
	$fh->autoflush(1);
	my $bad = 0;
	for (my $seq = $k; $seq <= $jobs; $seq += $n) {
		my ($class, $marker) = pick();
		my %post = (scene_description =>
		    "valgrind $seq: a lighthouse in a storm [standin:$marker]");
		# One job in four has a webhook of every event, to the
		# stand-in's receiver: delivered, retried after a 500, or gone.
		if ($seq % 4 == 0) {
			$post{webhook_url} = "$env->{STANDIN_URL}/_standin/hook/"
			    . $seq . '/' . one(qw(ok ok ok fail gone));
			$post{webhook_events} = [ qw(in_progress completed failed
			    canceled) ];
		}
		my $body = $json->encode(\%post);
		my ($r, $id);
		# a transport failure or a 5xx of the API: ask again (at
		# most three times); a record is made once (Idempotency-Key)
		for my $try (1 .. 3) {
			$r = $h->request('POST', $url . (1 + ($seq - 1) % 10000),
			    { headers => { %hdr, 'Idempotency-Key' =>
			    "valgrind-$seq" }, content => $body });
			last if $r->{status} < 500;
			sleep 0.5 * $try;
		}
		if ($r->{status} == 202) {
			my $j = eval { $json->decode($r->{content}) } // {};
			$id = $j->{record_id};
		}
		$bad++ unless $id;
		# One job in twenty is canceled by its owner at once: pending,
		# claimed, or with its provider request open.
		if ($id && $seq % 20 == 10) {
			my $c = $h->request('POST', "$env->{BASE_URL}"
			    . "/api/v1/records/$id/cancel", { headers => \%hdr });
			$bad++ unless $c->{status} == 200 || $c->{status} == 409;
		}
		print $fh join("\t", $seq, $r->{status}, $id // '-', $class,
		    $marker), "\n";
	}
	close $fh;
	POSIX::_exit($bad ? 1 : 0);
}

sub enqueue {
	my ($jobs, $n) = ($o{jobs}, $o{clients});
	$n = $jobs if $n > $jobs;
	my $t0 = time;
	my %kids;
	# stopped early (chaos/valgrind.sh's cleanup): stop the clients too
	$SIG{TERM} = $SIG{INT} = sub { kill 'TERM', keys %kids; exit 1 };
	for my $k (1 .. $n) {
		my $pid = fork // die "fork: $!\n";
		if (!$pid) {
			$SIG{TERM} = $SIG{INT} = 'DEFAULT';
			client($k, $n, $jobs);
		}
		$kids{$pid} = $k;
	}
	my $failed = 0;
	while ((my $pid = wait) > 0) {
		$failed++ if $?;
	}
	my ($ok, %codes) = (0);
	for my $k (1 .. $n) {
		open my $fh, '<', "$work/jobs-$k.tsv" or next;
		while (<$fh>) {
			my @f = split /\t/;
			$codes{$f[1]}++;
			$ok++ if $f[1] == 202 && $f[2] ne '-';
		}
	}
	printf "enqueued %d of %d jobs in %.1f s (%s)\n", $ok, $jobs,
	    time - $t0, join(', ', map { "HTTP $_: $codes{$_}" }
	    sort keys %codes);
	exit($ok == $jobs && !$failed ? 0 : 1);
}

sub report {
	my (%class_of, %t);
	for my $f (glob "$work/jobs-*.tsv") {
		open my $fh, '<', $f or next;
		while (<$fh>) {
			chomp;
			my ($seq, $code, $id, $class) = split /\t/;
			$class_of{$id} = $class if $id ne '-';
		}
	}
	my $rows = psql_rows($env->{DATABASE_URL},
	    'SELECT id, status FROM image_generations', 60)
	    or die "report: cannot read image_generations\n";
	for my $r (@$rows) {
		my $c = $class_of{$r->[0]} // 'unknown';
		my $s = $r->[1] =~ /^(completed|failed|canceled)$/ ? $r->[1] :
		    'unfinished';
		$t{$c}{$s}++;
		$t{$c}{jobs}++;
	}
	printf "  %-16s %6s %9s %6s %8s %10s\n", 'class', 'jobs',
	    'completed', 'failed', 'canceled', 'unfinished';
	for my $c (sort keys %t) {
		printf "  %-16s %6d %9d %6d %8d %10d\n", $c, $t{$c}{jobs},
		    $t{$c}{completed} // 0, $t{$c}{failed} // 0,
		    $t{$c}{canceled} // 0, $t{$c}{unfinished} // 0;
	}
}

if ($cmd eq 'enqueue') { enqueue() }
elsif ($cmd eq 'report') { report() }
else { die "usage: valgrind.pl enqueue|report --stack DIR --work DIR\n" }
