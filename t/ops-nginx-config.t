#!/usr/bin/perl
# The shipped nginx files, as installed (deploy/install.sh into a DESTDIR),
# pass `nginx -t`: the site file with both snippets, as Debian's nginx.conf
# would include it (inside http { }), and again with its optional per-client
# limit_req lines enabled. Then a few things the site must route, and,
# with a test stack running, a real nginx on the site file in front of the
# stack's scenegen-api: /healthz, /openapi.json, /images/ and JSON 404s.
use strict;
use warnings;
use File::Temp qw(tempdir);
use FindBin;
use Test::More;
use lib "$FindBin::Bin/lib";
use Scenegen::Ops qw(have_tool install_tree run_cmd);

plan skip_all => 'nginx not installed' unless have_tool('nginx');

my $tmp = tempdir('scenegen-nginx.XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $root = install_tree("$tmp/root", '/usr');
my $site = "$root/etc/nginx/sites-available/scenegen";
ok(-f $site, 'site installed as sites-available/scenegen');
ok(-f "$root/etc/nginx/snippets/$_", "snippet $_ installed")
    for qw(scenegen-api.conf scenegen-errors.conf
	scenegen-events-publisher.conf scenegen-admin.conf);

# A main nginx.conf of our own whose conf folder holds what Debian's has
# (fastcgi_params, mime.types); the site's absolute snippet paths are
# pointed into the DESTDIR.
my $conf = "$tmp/conf";
mkdir $conf or die $!;
for my $f (qw(fastcgi_params mime.types)) {
	system('cp', "/etc/nginx/$f", "$conf/$f") == 0 or die "cp $f";
}

# Copy the installed site file to $conf/$name, its absolute snippet paths
# pointed into the DESTDIR. $edit, if given, may change each line (in $_)
# and returns false to leave the line out.
sub site_copy {
	my ($name, $edit) = @_;
	open my $in, '<', $site or die $!;
	open my $out, '>', "$conf/$name" or die $!;
	local $_;
	while (<$in>) {
		s{/etc/nginx/snippets/}{$root/etc/nginx/snippets/}g;
		# nginx -t binds unix sockets: the publisher's folder is made
		# by tmpfiles.d on a real host.
		s{unix:/run/scenegen-events/}{unix:$tmp/};
		next if $edit && !$edit->();
		print $out $_;
	}
	close $out;
}

# Write $conf/nginx.conf, a main file around the site copy $name with every
# path of nginx's own under $tmp; user => the worker processes' user.
sub nginx_conf {
	my ($name, %o) = @_;
	open my $fh, '>', "$conf/nginx.conf" or die $!;
	print $fh "user $o{user};\n" if $o{user};
	# As Debian's nginx.conf: the modules of libnginx-mod-* (nchan).
	print $fh "include /etc/nginx/modules-enabled/*.conf;\n";
	print $fh <<CONF;
pid $tmp/nginx.pid;
error_log $tmp/error.log;
events { }
http {
	include mime.types;
	access_log off;
	client_body_temp_path $tmp/body;
	fastcgi_temp_path $tmp/fastcgi;
	proxy_temp_path $tmp/proxy;
	uwsgi_temp_path $tmp/uwsgi;
	scgi_temp_path $tmp/scgi;
	include $conf/$name;
}
CONF
	close $fh;
}

sub nginx_t {
	my ($name) = @_;
	nginx_conf($name);
	return run_cmd('nginx', '-t', '-c', "$conf/nginx.conf");
}

site_copy('site.conf');
my ($rc, $out) = nginx_t('site.conf');
is($rc, 0, 'nginx -t: site with both snippets') or diag $out;
like($out, qr/test is successful/, 'nginx says the test is successful');

site_copy('site-limit.conf', sub { s/^(\s*)#(limit_req\S*\s)/$1$2/; 1 });
open my $fh, '<', "$conf/site-limit.conf" or die $!;
my $text = join '', <$fh>;
my $n = () = $text =~ /^\s*limit_req/mg;
is($n, 3, 'three limit_req lines ready to enable');
($rc, $out) = nginx_t('site-limit.conf');
is($rc, 0, 'nginx -t: site with limit_req enabled') or diag $out;

# The dashboard: off as shipped, one line to enable.
open $fh, '<', $site or die $!;
$text = join '', <$fh>;
like($text, qr{^\s*#include /etc/nginx/snippets/scenegen-admin\.conf;}m,
    'the /admin/ snippet is off as shipped');
site_copy('site-admin.conf',
    sub { s/^(\s*)#(include \S*scenegen-admin\.conf;)/$1$2/; 1 });
($rc, $out) = nginx_t('site-admin.conf');
is($rc, 0, 'nginx -t: site with the dashboard enabled') or diag $out;

# What the site routes, as written.
open $fh, '<', $site or die $!;
$text = join '', <$fh>;
like($text, qr{upstream scenegen_api \{\s*server unix:/run/scenegen/api\.sock;},
    'upstream scenegen_api on /run/scenegen/api.sock');
like($text, qr{location /images/ \{\s*alias /var/lib/scenegen/images/;},
    '/images/ served from /var/lib/scenegen/images');
like($text, qr{location = /openapi\.json \{\s*alias /usr/share/scenegen/openapi\.json;},
    '/openapi.json served from PREFIX/share/scenegen');
like($text, qr{^\s*listen 80;}m, 'listens on port 80');

# --- the site served for real, in front of the test stack's API ----------
my $e = eval { require Scenegen::Test; Scenegen::Test::stack_env() };
SKIP: {
	skip 'no test stack running (SCENEGEN_ENV)', 1 unless $e;
	skip 'the stack has no API socket', 1 unless -S "$e->{STACK_DIR}/api.sock";
	require IO::Socket::INET;
	require HTTP::Tiny;
	my $port = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
	    LocalPort => 0, ReuseAddr => 1)->sockport;
	my $images = $e->{SCENEGEN_IMAGE_DIR} // "$e->{STACK_DIR}/images";
	chmod 0755, $tmp, $root;
	site_copy('served.conf', sub {
		s{unix:/run/scenegen/api\.sock}{unix:$e->{STACK_DIR}/api.sock};
		s{^(\s*)listen 80;}{$1listen 127.0.0.1:$port;};
		s{alias /var/lib/scenegen/images/;}{alias $images/;};
		s{alias /usr/share/scenegen/}{alias $root/usr/share/scenegen/};
		return !/listen \[::\]:80;/;
	});
	nginx_conf('served.conf', user => 'www-data');
	($rc, $out) = run_cmd('nginx', '-c', "$conf/nginx.conf");
	is($rc, 0, 'nginx starts on the site file') or diag $out;
	my $pid;
	for (1 .. 50) {
		if (open my $pf, '<', "$tmp/nginx.pid") {
			$pid = <$pf>;
			last if defined $pid;
		}
		select undef, undef, undef, 0.1;
	}
	chomp $pid if defined $pid;
	my $image = "ops-site-$$.png";
	open my $img, '>', "$images/$image" or die "$images/$image: $!";
	print $img "\x89PNG\r\n\x1a\nnot really";
	close $img;
	chmod 0644, "$images/$image";

	my $http = HTTP::Tiny->new(timeout => 10);
	my $base = "http://127.0.0.1:$port";
	my $r = $http->get("$base/healthz");
	is($r->{status}, 200, 'GET /healthz through the site: 200')
	    or diag "$r->{status} $r->{content}";
	$r = $http->get("$base/openapi.json");
	is($r->{status}, 200, 'GET /openapi.json: 200');
	like($r->{headers}{'content-type'} // '', qr{^application/json},
	    'served as JSON');
	like($r->{content}, qr/"openapi": "3\./, 'the OpenAPI document');
	$r = $http->get("$base/images/$image");
	is($r->{status}, 200, 'GET /images/FILE: 200');
	like($r->{headers}{'content-type'} // '', qr{^image/png}, 'image/png');
	like($r->{headers}{'cache-control'} // '', qr/immutable/, 'cached for good');
	$r = $http->get("$base/images/");
	is($r->{status}, 403, 'no directory listing of /images/');
	$r = $http->get("$base/elsewhere");
	is($r->{status}, 404, 'an unknown path: 404');
	like($r->{content}, qr/"code":"not_found"/, 'as JSON');
	$r = $http->get("$base/api/v1/nothing");
	like($r->{content}, qr/"code":"not_found"/, 'an unknown API path: JSON 404');

	unlink "$images/$image";
	kill 'QUIT', $pid if $pid;
	for (1 .. 50) {
		last unless $pid && kill 0, $pid;
		select undef, undef, undef, 0.1;
	}
}

done_testing();
