#!/usr/bin/perl
# Pickup latency: COUNT single POSTs at light load; for each, the time from
# the client receiving its 202 to the daemon's claim (last_attempted_at, the
# start of the claiming transaction). Prints "p50_ms p99_ms n".
# usage: pickup.pl BASE_URL CHAPTER TOKEN DATABASE_URL [COUNT]
use strict;
use warnings;
use HTTP::Tiny;
use JSON::PP;
use Time::HiRes qw(time sleep);

my ($base, $chapter, $token, $db, $count) = @ARGV;
$count //= 200;
my $http = HTTP::Tiny->new(keep_alive => 1, timeout => 10);
my %accepted;
for my $i (1 .. $count) {
	my $r = $http->post("$base/api/v1/chapters/$chapter/images/scenes/$i", {
	    headers => { Authorization => "Bearer $token",
		'Content-Type' => 'application/json' },
	    content => '{"scene_description": "A quiet harbour at dawn"}' });
	my $t = time;
	next unless $r->{status} == 202;
	$accepted{ decode_json($r->{content})->{record_id} } = $t;
	sleep 0.02;
}
sleep 1;
my $ids = join ',', map { "'$_'" } keys %accepted;
my @rows = `psql -X -q -t -A -F ' ' -d '$db' -c "SELECT id, extract(epoch FROM last_attempted_at) FROM image_generations WHERE id IN ($ids) AND last_attempted_at IS NOT NULL"`;
my @d;
for (@rows) {
	chomp;
	my ($id, $claimed) = split / /;
	next unless defined $claimed && exists $accepted{$id};
	push @d, ($claimed - $accepted{$id}) * 1000;
}
@d = sort { $a <=> $b } @d;
my $pct = sub { @d ? $d[int(($#d) * $_[0] + 0.5)] : -1 };
printf "%.2f %.2f %d\n", $pct->(0.5), $pct->(0.99), scalar @d;
