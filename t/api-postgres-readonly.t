#!/usr/bin/perl
# PostgreSQL up but refusing writes (SQLSTATE 25006, what a standby
# answers during a failover; here `default_transaction_read_only` through
# ALTER SYSTEM): POST answers 503 `unavailable` with Retry-After, not 500,
# and makes no row; reads still answer 200. Writes allowed again: POST
# answers 202 without restarting the API. The setting is restored
# whatever happens to the test.
use strict;
use warnings;
use Test::More;
use Scenegen::Pg qw(pg_read_only);
use Scenegen::Test qw(api_post api_status new_chapter wait_until
    wait_healthy is_api_error count_rows sql1 api_pids
    api_same_ok part_running);

my ($user, $chapter, $token) = new_chapter();
ok(wait_healthy(10), 'healthy before the test');

sub post {
	return api_post(token => $token, chapter => $chapter, scene => 1,
	    body => { scene_description => 'A lighthouse at dawn' });
}

# Warm every API worker's connection first, so that each meets the refusal
# on a connection it already holds.
my @warm = map { post()->{status} } 1 .. 4;
is(scalar(grep { $_ == 202 } @warm), 4, 'four POSTs answered 202 before');
my ($api_pid, $workers) = api_pids();
my $rows = count_rows(chapter => $chapter);

ok(pg_read_only(1), 'PostgreSQL refuses writes');
my %seen;
for my $i (1 .. 6) {
	my $r = post();
	$seen{$r->{status}}++;
	if ($i <= 2 || $r->{status} != 503) {
		is_api_error($r, 503, 'unavailable',
		    "POST while PostgreSQL refuses writes (#$i)");
		like($r->{headers}{'retry-after'} // '', qr/\A[1-9][0-9]*\z/,
		    "POST while PostgreSQL refuses writes (#$i): Retry-After");
	}
}
is($seen{503} // 0, 6, 'every POST answered 503') or diag explain \%seen;
is($seen{500} // 0, 0, 'none answered 500');
is(count_rows(chapter => $chapter), $rows, 'no row made during the window');
is(api_status(token => $token, chapter => $chapter, scene => 1)->{status},
    200, 'GET status still answers 200 (reads work)');

ok(pg_read_only(0), 'PostgreSQL takes writes again');
my @after;
ok(wait_until(sub { my $r = post(); push @after, $r->{status};
    $r->{status} == 202 }, 15), 'POST answers 202 again')
    or diag join(' ', @after);
is(scalar(grep { $_ != 202 && $_ != 503 } @after), 0,
    'nothing but 503 until then') or diag join(' ', @after);
api_same_ok($api_pid, $workers);
ok(part_running('api'), 'the API is still running');

done_testing();
