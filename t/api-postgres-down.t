#!/usr/bin/perl
# PostgreSQL down: POST answers 503 `unavailable` with Retry-After and never
# 202, status 503 too, /healthz 503. PostgreSQL back: without restarting the
# API, POST answers 202 again and the rows exist.
use strict;
use warnings;
use Test::More;
use Scenegen::Test qw(api_post api_status http_req new_chapter part_down
    part_up wait_until wait_healthy is_api_error count_rows sql1 part_running
    api_pids api_same_ok);

my ($user, $chapter, $token) = new_chapter();
ok(wait_healthy(10), 'healthy before the test');

sub post {
	return api_post(token => $token, chapter => $chapter, scene => 1,
	    body => { scene_description => 'A wizard in the dark' });
}

# Warm every API worker's connection first, so that they all lose one.
post() for 1 .. 4;
my ($api_pid, $workers) = api_pids();
ok(@$workers > 0, 'the API has worker processes: ' . join(' ', @$workers));
my $rows = count_rows(chapter => $chapter);
is($rows, 4, 'four rows before the outage');

part_down('postgres');

my %seen;
for my $i (1 .. 6) {
	my $r = post();
	$seen{$r->{status}}++;
	if ($i <= 2 || $r->{status} != 503) {
		is_api_error($r, 503, 'unavailable', "POST with PostgreSQL down (#$i)");
		like($r->{headers}{'retry-after'} // '', qr/\A[1-9][0-9]*\z/,
		    "POST with PostgreSQL down (#$i): Retry-After seconds");
	}
}
is($seen{202} // 0, 0, 'no 202 while PostgreSQL is down');
is($seen{503} // 0, 6, 'every POST answered 503')
    or diag explain \%seen;

my $s = api_status(token => $token, chapter => $chapter, scene => 1);
is_api_error($s, 503, 'unavailable', 'GET status with PostgreSQL down');
like($s->{headers}{'retry-after'} // '', qr/\A[1-9][0-9]*\z/,
    'GET status with PostgreSQL down: Retry-After');

my $h = http_req('GET', '/healthz');
is($h->{status}, 503, '/healthz 503 with PostgreSQL down');
ok(ref $h->{json} eq 'HASH', '/healthz: a JSON body') or diag $h->{content};

part_up('postgres');
ok(wait_healthy(30), '/healthz 200 again once PostgreSQL is back');

# The API reconnects by itself: no restart, every request answered.
my (@after, @ids);
my $first_202 = wait_until(sub { my $r = post(); push @after, $r->{status};
    push @ids, $r->{json}{record_id} if $r->{status} == 202;
    $r->{status} == 202 }, 15);
ok($first_202, 'POST answers 202 again without restarting the API');
is(scalar(grep { $_ != 202 } @after), 0,
    'no request failed after PostgreSQL was back')
    or diag 'answers after recovery: ' . join(' ', @after);
for my $i (1 .. 8) {
	my $r = post();
	push @after, $r->{status};
	push @ids, $r->{json}{record_id} if $r->{status} == 202;
}
is(scalar(grep { $_ == 202 } @after), scalar @after,
    'every POST after recovery answered 202')
    or diag join(' ', @after);
api_same_ok($api_pid, $workers);
ok(part_running('api'), 'the API is still running');
my $found = sql1("SELECT count(*) FROM image_generations WHERE id = ANY(:'ids')",
    ids => '{' . join(',', @ids) . '}');
is($found, scalar @ids, 'every 202 after recovery has its row');
is(count_rows(chapter => $chapter), 4 + @ids,
    'rows = the 202s (none made during the outage)');
is(api_status(token => $token, chapter => $chapter, scene => 1)->{status}, 200,
    'GET status 200 again');

done_testing();
