#!/usr/bin/perl
# Who may enter the dashboard (/admin/) and do what: no user token of any
# role (authenticated, service_role; as a bearer token or as the cookie)
# opens a page; the operator token logs in (session cookie HttpOnly,
# SameSite=Strict, limited to /admin/, expiring, not Secure on loopback);
# a wrong token is a 401; a read-only operator sees pages but cannot act
# (403, nothing changed); a POST without the session's CSRF token is a
# 403; bad input is a 4xx; the audit table refuses UPDATE and DELETE.
use strict;
use warnings;
use Test::More;
use Scenegen::Test qw(stack_env make_token sql1 new_uuid);
use Scenegen::Admin qw(admin_login admin_get admin_post csrf_of
    insert_failed);

my $e = stack_env();
plan skip_all => 'the stack has no ADMIN_TOKEN (stack.sh too old)'
    unless $e->{ADMIN_TOKEN};

# No user JWT opens it, whatever its role, wherever it is put.
for my $role (qw(authenticated service_role anon)) {
	my $jwt = make_token(claims => { role => $role });
	for my $path ('/admin/', '/admin/records', '/admin/audit') {
		my $r = admin_get($path, undef, Authorization => "Bearer $jwt");
		is($r->{status}, 303, "$role JWT as bearer: $path is 303")
		    or diag $r->{content};
		is($r->{headers}{location}, '/admin/login', '... to the login');
	}
	my $r = admin_get('/admin/', $jwt);
	is($r->{status}, 303, "$role JWT as the cookie: 303");
	$r = admin_post('/admin/login', undef, { token => $jwt });
	is($r->{status}, 401, "$role JWT as the login token: 401");
}

# Login with the operator token.
my ($cookie, $r) = admin_login($e->{ADMIN_TOKEN});
is($r->{status}, 303, 'operator login: 303');
is($r->{headers}{location}, '/admin/', '... to /admin/');
ok($cookie, 'a session cookie');
my $sc = $r->{headers}{'set-cookie'};
$sc = join ', ', @$sc if ref $sc;
like($sc, qr/HttpOnly/, 'HttpOnly');
like($sc, qr/SameSite=Strict/, 'SameSite=Strict');
like($sc, qr/Path=\/admin\//, 'Path=/admin/');
like($sc, qr/Max-Age=\d+/, 'expiring');
unlike($sc, qr/Secure/, 'not Secure over plain HTTP from loopback');
$r = admin_get('/admin/', $cookie);
is($r->{status}, 200, 'the overview opens');
like($r->{headers}{'content-type'}, qr{^text/html; charset=utf-8}, 'HTML');
like($r->{headers}{'content-security-policy'} // '', qr/default-src 'none'/,
    'no script allowed by its CSP');
like($r->{content}, qr/Queue by tier/, 'shows the queue by tier');
like($r->{content}, qr/id="slots"/, 'and the provider slots');
like($r->{content}, qr/<svg/, 'and the chart');
my $csrf = csrf_of($r->{content});
ok($csrf, 'the page has a CSRF token');

# A tampered or expired cookie is no session.
(my $forged = $cookie) =~ s/^o\.(\d+)/'o.' . ($1 + 60)/e;
is(admin_get('/admin/', $forged)->{status}, 303, 'a forged expiry: 303');
(my $as_ro = $cookie) =~ s/^o\./r./;
is(admin_get('/admin/', $as_ro)->{status}, 303, 'a role swapped: 303');
is(admin_get('/admin/', 'o.1.' . ('A' x 43))->{status}, 303,
    'an expired one: 303');

# A wrong token.
(undef, $r) = admin_login('not-the-token-at-all-0123456789');
is($r->{status}, 401, 'a wrong token: 401');
like($r->{content}, qr/name="token"/, '... with the form again');

# CSRF: every POST needs the session's token.
my ($user, $chapter, @ids) = insert_failed(2);
$r = admin_post("/admin/records/$ids[0]/act", $cookie, { action => 'retry' });
is($r->{status}, 403, 'retry without a CSRF token: 403');
$r = admin_post("/admin/records/$ids[0]/act", $cookie,
    { action => 'retry', csrf => 'A' x 43 });
is($r->{status}, 403, 'with a wrong CSRF token: 403');
$r = admin_post('/admin/bulk', $cookie,
    { action => 'retry', user => $user, status => 'failed', expected => 2 });
is($r->{status}, 403, 'bulk without a CSRF token: 403');
$r = admin_post('/admin/logout', $cookie, {});
is($r->{status}, 403, 'logout without a CSRF token: 403');
is(sql1("SELECT count(*) FROM image_generations WHERE user_id = :'u' "
    . "AND status = 'failed'", u => $user), 2, 'nothing retried');

# The read-only operator: sees, cannot act.
my ($ro) = admin_login($e->{ADMIN_READONLY_TOKEN});
ok($ro, 'read-only login');
$r = admin_get("/admin/records?user=$user", $ro);
is($r->{status}, 200, 'read-only sees the records');
like($r->{content}, qr/\Q$ids[0]\E/, '... the filtered ones');
my $ro_csrf = csrf_of($r->{content});
$r = admin_get("/admin/records/$ids[0]", $ro);
is($r->{status}, 200, 'and a record');
unlike($r->{content}, qr/id="do-retry"/, 'without an action button');
$r = admin_post("/admin/records/$ids[0]/act", $ro,
    { action => 'retry', csrf => $ro_csrf });
is($r->{status}, 403, 'read-only retry of one record: 403');
$r = admin_get("/admin/bulk?action=retry&user=$user", $ro);
is($r->{status}, 403, 'read-only bulk confirm page: 403');
$r = admin_post('/admin/bulk', $ro, { action => 'retry', user => $user,
    expected => 2, csrf => $ro_csrf });
is($r->{status}, 403, 'read-only bulk retry: 403');
is(sql1("SELECT count(*) FROM image_generations WHERE user_id = :'u' "
    . "AND status = 'failed'", u => $user), 2, 'still nothing retried');

# One record, by the operator, audited.
my $before = sql1('SELECT count(*) FROM admin_audit');
$r = admin_post("/admin/records/$ids[0]/act", $cookie,
    { action => 'retry', csrf => $csrf });
is($r->{status}, 200, 'operator retry of one record: 200');
isnt(sql1("SELECT status FROM image_generations WHERE id = :'id'",
    id => $ids[0]), 'failed', 'it is no longer failed');
is(sql1("SELECT concat_ws(' ', role, action, affected, record_id) FROM "
    . "admin_audit WHERE id > (SELECT max(id) FROM admin_audit) - 1"),
    "operator retry 1 $ids[0]", 'one audit row says who, what, how many');
is(sql1('SELECT count(*) FROM admin_audit'), $before + 1, 'exactly one');
$r = admin_post("/admin/records/$ids[0]/act", $cookie,
    { action => 'retry', csrf => $csrf });
is($r->{status}, 409, 'retry of a record that is not failed: 409');

# Cancel: the unfinished records of a filter, confirmed, audited.
my ($puser, $pchapter) = Scenegen::Test::new_chapter();
Scenegen::Test::insert_jobs($puser, $pchapter, 3, no_xadd => 1,
    prompt => 'scene %d [standin:eta=60]');
# (The sweeper may hand them to the daemon meanwhile: no status filter,
# pending and in flight are both canceled.)
$r = admin_get("/admin/bulk?action=cancel&user=$puser", $cookie);
like($r->{content}, qr/data-count="3"/, 'cancel confirm page: 3 unfinished');
$r = admin_post('/admin/bulk', $cookie, { action => 'cancel',
    user => $puser, expected => 3, csrf => $csrf });
is($r->{status}, 200, 'bulk cancel: 200');
is(sql1("SELECT count(*) FROM image_generations WHERE user_id = :'u' AND "
    . "status = 'canceled'", u => $puser), 3, 'the 3 are canceled');
is(sql1("SELECT concat_ws(' ', action, expected, affected, "
    . "filter->>'user') FROM admin_audit ORDER BY id DESC LIMIT 1"),
    "cancel 3 3 $puser", 'audited');

# A login posted from another site.
$r = admin_post('/admin/login', undef, { token => $e->{ADMIN_TOKEN} },
    Origin => 'https://evil.example');
is($r->{status}, 403, 'a login with a foreign Origin: 403');
ok(!$r->{headers}{'set-cookie'}, '... and no cookie');

# Bad input: 4xx, never a crash.
for my $case (['/admin/records?status=nope', 400, 'an unknown status'],
    ['/admin/records?user=x', 400, 'a user that is not a UUID'],
    ['/admin/records?what=1', 400, 'an unknown parameter'],
    ['/admin/records?status=failed&status=failed', 400, 'a repeated one'],
    ['/admin/records?class=%ZZ', 400, 'a bad escape'],
    ['/admin/records?class=%00', 400, 'a NUL'],
    ['/admin/records?class=%C3', 400, 'not UTF-8'],
    ['/admin/records/' . new_uuid(), 404, 'no such record'],
    ['/admin/bulk?status=failed', 400, 'bulk without an action'],
    ['/admin/nothing', 404, 'no such page']) {
	my ($path, $want, $name) = @$case;
	$r = admin_get($path, $cookie);
	is($r->{status}, $want, "$name: $want");
}
$r = admin_post("/admin/records/$ids[1]/act", $cookie,
    { action => 'explode', csrf => $csrf });
is($r->{status}, 400, 'an unknown action: 400');
$r = HTTP::Tiny->new(max_redirect => 0)->request('POST',
    "$e->{BASE_URL}/admin/records/$ids[1]/act", { headers => {
	Cookie => "scenegen_admin=$cookie",
	'Content-Type' => 'application/json' },
    content => '{"action":"retry"}' });
is($r->{status}, 415, 'a JSON body: 415');
is(admin_get('/healthz')->{status}, 200, 'the API is still well');

# The audit is append-only, for its owner too.
my $dbu = $e->{DATABASE_URL};
for my $sql ('UPDATE admin_audit SET affected = 0',
    'DELETE FROM admin_audit', 'TRUNCATE admin_audit') {
	my $out = `psql -X -q -d '$dbu' -c '$sql' 2>&1`;
	isnt($?, 0, "$sql: refused");
	like($out, qr/append-only/, '... saying why');
}
cmp_ok(sql1('SELECT count(*) FROM admin_audit'), '>=', 1, 'rows kept');

# Logout clears the cookie.
$r = admin_post('/admin/logout', $cookie, { csrf => $csrf });
is($r->{status}, 303, 'logout: 303');
my $out = $r->{headers}{'set-cookie'} // '';
like($out, qr/scenegen_admin=;.*Max-Age=0/, 'the cookie cleared');

done_testing();
