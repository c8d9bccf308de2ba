#!/usr/bin/perl
# MODELSLAB_MAX_QUEUED bounds what one daemon holds at the provider: with
# a limit of 3 and 20 jobs of ETA 1 s, the stand-in (itself limited to 3
# queued requests, as a real account is) never sees more than 3
# generations processing at once, never answers 429 (no create beyond
# one per record, no retry), and all 20 complete.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep time);
use Scenegen::Test qw(daemons_sanitizer_clean stack_env new_chapter sql1 sql_rows daemon_takeover
    daemon_start daemon_stop daemon_wait_ready daemon_log standin_req
    standin_creates_all insert_jobs wait_all_final id_list row_states);

my $env = stack_env();
plan skip_all => 'no stand-in in this stack' unless $env->{STANDIN_URL};

daemon_takeover();
# The reset (and so the queue limit) only lasts for this file: the END
# block resets the stand-in again to its start-up settings.
standin_req('/_standin/reset', '');
END { eval { standin_req('/_standin/reset', '') } }
my $cfg = standin_req('/_standin/config', { queue_limit => 3 });
is($cfg->{queue_limit}, 3, 'stand-in limited to 3 queued requests');

my ($user, $chapter) = new_chapter();
my $t0 = time;
my @ids = insert_jobs($user, $chapter, 20,
    prompt => 'max queued %d [standin:eta=1]');
my $d = daemon_start(name => 'maxq', MODELSLAB_MAX_QUEUED => 3,
    SCENEGEN_POLL_MIN_SECONDS => 0.25);
ok(daemon_wait_ready($d), 'daemon ready') or diag daemon_log($d);

my ($peak, $now_max) = (0, 0);
my $done = wait_until_peak();
sub wait_until_peak {
	my $end = time + 45;
	my $in = id_list(@ids);
	while (time < $end) {
		my $s = standin_req('/_standin/stats');
		$now_max = $s->{processing_now} if $s->{processing_now} > $now_max;
		return 1 if sql1("SELECT count(*) FROM image_generations WHERE id"
		    . " IN ($in) AND status IN ('completed', 'failed')") == 20;
		sleep 0.1;
	}
	return 0;
}
my $took = time - $t0;
ok($done, sprintf('all 20 final in %.1f s', $took))
    or diag explain row_states(\@ids);
is_deeply(row_states(\@ids), { completed => 20 }, 'all 20 completed');

my $stats = standin_req('/_standin/stats');
cmp_ok($stats->{processing_peak}, '<=', 3,
    "stand-in processing peak $stats->{processing_peak} <= 3");
cmp_ok($now_max, '<=', 3, "processing_now sampled max $now_max <= 3");
ok($stats->{processing_peak} >= 2,
    "the daemon did use its slots (peak $stats->{processing_peak})");
is($stats->{creates_total}, 20, 'exactly 20 creates: no 429 answered and '
    . 'retried');
my $all = standin_creates_all();
my @not1 = grep { ($all->{$_} // 0) != 1 } @ids;
is_deeply(\@not1, [], 'one create per record') or diag explain
    { map { $_ => $all->{$_} } @not1 };
my $in = id_list(@ids);
is(sql1("SELECT count(*) FROM image_generations WHERE id IN ($in)
    AND (retry_count <> 0 OR attempts <> 1)"), 0,
    'no retry, one attempt each')
    or diag explain sql_rows("SELECT id, attempts, retry_count,
	error_message FROM image_generations WHERE id IN ($in)
	AND (retry_count <> 0 OR attempts <> 1)");
unlike(daemon_log($d), qr/\bHTTP 429\b|\b429\b(?! *[0-9])|[Rr]ate limit/,
    'the daemon log shows no rate limit answer');
# 20 jobs of ETA 1 s, 3 at a time: at least 6 rounds of one second.
cmp_ok($took, '>=', 6, sprintf('took %.1f s: the limit was kept, not '
    . 'bypassed', $took));

is(daemon_stop($d), 0, 'daemon exits 0 on SIGTERM');
daemons_sanitizer_clean();
done_testing();
