#!/usr/bin/perl
# The dashboard in a real browser: headless Chromium (Debian package
# chromium) logs in with the operator token, opens the overview, filters
# the records by user and status, follows "retry the failed ones",
# confirms the count it is shown, and finds the audit row of what it did;
# a record's page shows its history. A screenshot of each page goes to
# SCENEGEN_SHOTS_DIR (default: a temporary folder). The pages carry no
# script; the test drives them the way a person would, by filling fields
# and pressing buttons. Skips, saying why, only if Chromium cannot start.
use strict;
use warnings;
use File::Temp qw(tempdir);
use Test::More;
use Scenegen::Test qw(stack_env sql1);
use Scenegen::Admin qw(insert_failed);
use Scenegen::Browser;

my $e = stack_env();
plan skip_all => 'the stack has no ADMIN_TOKEN' unless $e->{ADMIN_TOKEN};
my $tmp = tempdir('scenegen-browser.XXXXXX', TMPDIR => 1, CLEANUP => 1);
my ($b, $why) = Scenegen::Browser->start($tmp);
plan skip_all => "Chromium cannot start: $why" unless $b;
note 'browser: ' . $b->version;
my $shots = $ENV{SCENEGEN_SHOTS_DIR} // $tmp;
mkdir $shots;

sub shot {
	my ($name) = @_;
	my $size = $b->screenshot("$shots/$name.png");
	ok($size && $size > 1000, "screenshot $name.png ($size bytes)");
}

my $n = 4;
my ($user, $chapter, @ids) = insert_failed($n, 'Browser test: timed out');
my $base = $e->{BASE_URL};

ok($b->open_url("$base/admin/"), 'open /admin/');
like($b->url, qr{/admin/login$}, 'without a session: the login form');
shot('01-login');
my $tok = $e->{ADMIN_TOKEN};
ok($b->act("document.getElementById('token').value = '$tok';"
    . "document.getElementById('login').click()"), 'log in');
like($b->url, qr{/admin/$}, 'on the overview');
my $html = $b->html;
like($html, qr/Queue by tier/, 'it shows the queue by tier');
like($html, qr/Browser test: timed out/, 'and the error class');
shot('02-overview');

ok($b->act("document.querySelector('a[href=\"/admin/records\"]').click()"),
    'to the records');
ok($b->act("document.getElementById('f-user').value = '$user';"
    . "document.getElementById('f-status').value = 'failed';"
    . "document.getElementById('apply').click()"), 'filter: user, failed');
like($b->url, qr/status=failed/, 'the filter is in the URL');
$html = $b->html;
my @listed = $html =~ m{href="/admin/records/([0-9a-f-]{36})"}g;
is_deeply([sort @listed], [sort @ids], "the $n records of the filter");
shot('03-records');

ok($b->act("document.getElementById('bulk-retry').click()"),
    'retry the failed ones');
$html = $b->html;
like($html, qr/data-count="$n"/, "the confirm page counts $n");
shot('04-confirm');
ok($b->act("document.getElementById('confirm').click()"), 'confirm');
$html = $b->html;
like($html, qr/retry: $n record\(s\) changed, $n queued/, 'done');
shot('05-done');
my $in = join ',', map { "'$_'" } @ids;
is(sql1("SELECT count(*) FROM image_generations WHERE id IN ($in) AND "
    . "status <> 'failed'"), $n, "the $n records are no longer failed");

ok($b->act("document.querySelector('a[href=\"/admin/audit\"]').click()"),
    'to the audit');
$html = $b->html;
like($html, qr/\Q$user\E/, 'the audit row names the filter');
like($html, qr{<td>retry</td>.*?<td>$n</td><td>$n</td>}s,
    "retry, $n confirmed, $n changed");
shot('06-audit');

ok($b->open_url("$base/admin/records/$ids[0]"), 'a record');
$html = $b->html;
like($html, qr/Webhook deliveries/, 'with its history');
shot('07-record');

$b->stop;
done_testing();
