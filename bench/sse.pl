#!/usr/bin/perl
# Live status fan-out: for each of RECORDS records in turn, SUBSCRIBERS
# Server-Sent Events streams (through nginx and nchan, opened by its
# events_url) while a daemon runs it through the stand-in
# ([standin:mode=processing;eta=ETA], whatever mode the stand-in runs
# in: a run in success mode answers at once). For each change of the row
# after every stream had
# its first event (its time the row's updated_at, read by a 20 ms poller
# on the same host), the time to the event's arrival at each subscriber,
# as this one-process reader sees it (an upper bound). Prints
# "last_p50_ms last_p99_ms all_p50_ms all_p99_ms changes subscribers":
# last_* over the changes, of the time to the LAST subscriber; all_* over
# every (change, subscriber) delivery.
# usage: sse.pl BASE_URL CHAPTER TOKEN DATABASE_URL [SUBSCRIBERS] [ETA]
#     [RECORDS]
use strict;
use warnings;
use HTTP::Tiny;
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(time sleep);

my ($base, $chapter, $token, $db, $n, $eta, $records) = @ARGV;
$n //= 1000;
$eta //= 3;
$records //= 5;
my $http = HTTP::Tiny->new(timeout => 10);
my %auth = (Authorization => "Bearer $token");
my ($host, $port) = $base =~ m{^https?://([^/:]+):(\d+)};

# A child that prints "epoch status progress" per change of row $id.
sub poller {
	my ($id) = @_;
	pipe(my $rd, my $wr) or die "pipe: $!";
	my $pid = fork // die "fork: $!";
	return ($pid, $rd) if $pid;
	close $rd;
	$wr->autoflush(1);
	my $reader = open my $psql, '-|', 'perl', '-e', q{
	    my ($db, $id) = @ARGV;
	    open my $p, '|-', 'psql', '-X', '-q', '-t', '-A', '-F', ' ',
		'-d', $db or die;
	    $p->autoflush(1);
	    for (1 .. 3000) {
		print $p "SELECT extract(epoch FROM updated_at), status, "
		    . "progress FROM image_generations WHERE id = '$id';\n";
		select undef, undef, undef, 0.02;
	    }
	    close $p;
	}, $db, $id or die;
	my $last = '';
	while (my $line = <$psql>) {
		chomp $line;
		my ($t, $st, $p) = split / /, $line;
		next unless defined $p;
		next if "$st $p" eq $last;
		$last = "$st $p";
		print $wr "$t $st $p\n";
		last if $st =~ /^(completed|failed|canceled)$/;
	}
	kill 'TERM', $reader;
	close $psql;
	exit 0;
}

# One record: its delays [last subscriber per change], [every delivery].
sub one_record {
	my ($scene) = @_;
	my $r = $http->post(
	    "$base/api/v1/chapters/$chapter/images/scenes/$scene", {
	    headers => { %auth, 'Content-Type' => 'application/json' },
	    content => encode_json({ scene_description =>
		"live status bench [standin:mode=processing;eta=$eta]" }) });
	die "POST: $r->{status} $r->{content}\n" unless $r->{status} == 202;
	my $id = decode_json($r->{content})->{record_id};
	$r = $http->get("$base/api/v1/records/$id", { headers => \%auth });
	my $url = decode_json($r->{content})->{events_url};
	my ($pid, $rd) = poller($id);
	my (@socks, %buf, %first, %seen, %code);
	my $sel = IO::Select->new;
	for (1 .. $n) {
		my $s = IO::Socket::INET->new(PeerAddr => $host,
		    PeerPort => $port, Timeout => 10) or last;
		$s->blocking(0);
		syswrite $s, "GET $url HTTP/1.0\r\nHost: localhost\r\n"
		    . "Accept: text/event-stream\r\n\r\n";
		push @socks, $s;
		$sel->add($s);
		$buf{ fileno $s } = '';
	}
	my $end = time + $eta * 4 + 30;
	my ($final, $nfirst, $ready) = (0, 0, 0);
	while (time < $end && $final < @socks) {
		for my $s ($sel->can_read(0.2)) {
			my $t = time;
			my $f = fileno $s;
			my $k = sysread $s, $buf{$f}, 65536, length $buf{$f};
			if (!$k) {
				$sel->remove($s);
				next;
			}
			$code{$f} //= $1 if $buf{$f} =~ m{^HTTP/\d\.\d (\d{3})};
			while ($buf{$f} =~ s/^.*?\ndata: ([^\n]*)\n\n//s) {
				# No JSON decoding here: the reader must keep up.
				my $d = $1;
				my ($st) = $d =~ /"status":"(\w+)"/ or next;
				my ($p) = $d =~ /"progress":(\d+)/ or next;
				$seen{"$st $p"}{$f} //= $t;
				$ready = $t if !$first{$f}++ && ++$nfirst == @socks;
				$final++ if $st =~ /^(completed|failed)$/;
			}
		}
	}
	close $_ for @socks;
	my (@last, @all);
	while (my $line = <$rd>) {
		chomp $line;
		my ($t, $st, $p) = split / /, $line;
		# A change while the streams were still opening reaches the
		# late ones as their first event: not a delivery delay.
		next if !$ready || $t < $ready;
		my $arr = $seen{"$st $p"} or next;
		next unless keys %$arr == @socks;
		my @d = map { ($_ - $t) * 1000 } values %$arr;
		push @all, @d;
		push @last, (sort { $b <=> $a } @d)[0];
	}
	waitpid $pid, 0;
	# What a run without figures needs to be understood.
	printf STDERR "sse.pl: record %s: %d streams (%d answered other than"
	    . " 200), %d with a first event, %d saw the end, %d changes"
	    . " timed\n", $id, scalar @socks,
	    scalar(grep { $_ != 200 } values %code), $nfirst, $final,
	    scalar @last;
	return (\@last, \@all, scalar @socks);
}

my (@last, @all, $subs);
for my $i (1 .. $records) {
	my ($l, $a, $s) = one_record(9000 + $i);
	push @last, @$l;
	push @all, @$a;
	$subs = $s if !defined $subs || $s < $subs;
}
@last = sort { $a <=> $b } @last;
@all = sort { $a <=> $b } @all;
printf "%.1f %.1f %.1f %.1f %d %d\n",
    @last ? $last[int($#last * 0.5 + 0.5)] : -1,
    @last ? $last[int($#last * 0.99 + 0.5)] : -1,
    @all ? $all[int($#all * 0.5 + 0.5)] : -1,
    @all ? $all[int($#all * 0.99 + 0.5)] : -1,
    scalar @last, $subs // 0;
