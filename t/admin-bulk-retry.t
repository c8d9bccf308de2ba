#!/usr/bin/perl
# A bulk retry from the dashboard: the confirm page counts the failed
# records matching the filter (N), the POST with that filter and N resets
# exactly those N (and no other failed record, not even the same user's
# in another chapter or another class), writes one audit row (who, the
# filter, N confirmed, N changed) and queues them: the daemon generates
# them again. A POST whose N no longer matches changes nothing (409, the
# count again) and writes no audit row.
use strict;
use warnings;
use Test::More;
use Scenegen::Test qw(stack_env sql sql1 new_uuid wait_until);
use Scenegen::Admin qw(admin_login admin_get admin_post csrf_of
    insert_failed);

my $e = stack_env();
plan skip_all => 'the stack has no ADMIN_TOKEN' unless $e->{ADMIN_TOKEN};

my $n = 7;
my ($user, $chapter, @ids) = insert_failed($n, 'Provider said 503 at 12:04');
# The same user's failures outside the filter: another chapter, another
# class of error.
my $other_chapter = new_uuid();
sql("INSERT INTO chapters (id, user_id, title) VALUES (:'c', :'u', 'x')",
    c => $other_chapter, u => $user);
my @outside = grep { length } split /\n/, sql(qq{INSERT INTO
    image_generations (id, user_id, chapter_id, scene_number, image_type,
    status, progress, error_message, prompt, tier) SELECT
    gen_random_uuid(), :'u', :'c', g, 'scene', 'failed', 0,
    'Provider said 503 at 12:04', 'p', 'free' FROM generate_series(1, 3) g
    RETURNING id}, u => $user, c => $other_chapter);
push @outside, grep { length } split /\n/, sql(qq{INSERT INTO
    image_generations (id, user_id, chapter_id, scene_number, image_type,
    status, progress, error_message, prompt, tier) VALUES
    (gen_random_uuid(), :'u', :'c', 99, 'scene', 'failed', 0,
    'Content policy refused the prompt', 'p', 'free') RETURNING id},
    u => $user, c => $chapter);

my ($cookie) = admin_login($e->{ADMIN_TOKEN});
ok($cookie, 'logged in');
my $class = 'Provider said N at N:N';
my $overview = admin_get('/admin/', $cookie)->{content};
like($overview, qr/\Q$class\E/, 'the overview lists the error class');

my %filter = (status => 'failed', class => $class, user => $user,
    chapter => $chapter);
my $q = join '&', map {
	(my $v = $filter{$_}) =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
	"$_=$v" } sort keys %filter;
my $r = admin_get("/admin/records?$q", $cookie);
is($r->{status}, 200, 'the filtered list');
my @listed = $r->{content} =~ m{<a href="/admin/records/([0-9a-f-]{36})"}g;
is_deeply([sort @listed], [sort @ids], 'lists exactly the N records');

$r = admin_get("/admin/bulk?action=retry&$q", $cookie);
is($r->{status}, 200, 'the confirm page');
like($r->{content}, qr/data-count="$n"/, "shows the count: $n");
like($r->{content}, qr/name="expected" value="$n"/, 'and posts it back');
my $csrf = csrf_of($r->{content});

# A stale count: nothing happens.
my $audits = sql1('SELECT count(*) FROM admin_audit');
$r = admin_post('/admin/bulk', $cookie,
    { %filter, action => 'retry', expected => $n - 1, csrf => $csrf });
is($r->{status}, 409, 'a count that no longer matches: 409');
like($r->{content}, qr/data-count="$n"/, '... with the count now');
is(sql1("SELECT count(*) FROM image_generations WHERE user_id = :'u' AND "
    . "status = 'failed'", u => $user), $n + 4, 'nothing changed');
is(sql1('SELECT count(*) FROM admin_audit'), $audits, 'no audit row');

# The confirmed count.
$r = admin_post('/admin/bulk', $cookie,
    { %filter, action => 'retry', expected => $n, csrf => $csrf });
is($r->{status}, 200, 'bulk retry: 200');
like($r->{content}, qr/retry: $n record\(s\) changed, $n queued/,
    "$n changed, $n queued");
my $in = join ',', map { "'$_'" } @ids;
is(sql1("SELECT count(*) FROM image_generations WHERE id IN ($in) AND "
    . "status <> 'failed' AND retry_count = 0 AND error_message IS NULL"),
    $n, "the $n records are reset");
my $out = join ',', map { "'$_'" } @outside;
is(sql1("SELECT count(*) FROM image_generations WHERE id IN ($out) AND "
    . "status = 'failed'"), scalar @outside,
    'every failed record outside the filter is untouched');
is(sql1('SELECT count(*) FROM admin_audit'), $audits + 1,
    'one audit row');
my $row = sql1("SELECT concat_ws('|', role, length(token_fp), action, "
    . "record_id IS NULL, filter->>'user', filter->>'class', expected, "
    . "affected) FROM admin_audit ORDER BY id DESC LIMIT 1");
is($row, "operator|16|retry|t|$user|$class|$n|$n",
    'it says who, what, the filter, confirmed and changed');
ok(wait_until(sub { sql1("SELECT count(*) FROM image_generations WHERE "
    . "id IN ($in) AND status = 'completed'") == $n }, 40),
    'the daemon generates all of them again') or diag sql(
    "SELECT status, count(*) FROM image_generations WHERE id IN ($in) "
    . "GROUP BY 1");

# The audit page shows it.
$r = admin_get('/admin/audit', $cookie);
like($r->{content}, qr/\Q$user\E/, 'the audit page shows the row');

done_testing();
