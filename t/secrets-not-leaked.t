#!/usr/bin/perl
# The JWT secret (SUPABASE_JWT_SECRET) and the ModelsLab API key (the
# stand-in's "standin-key", what the daemon sends) never appear in: the
# stack's log files, any HTTP answer (error bodies included, and files
# nginx serves), /proc/<pid>/cmdline of a scenegen process (world-readable),
# or /proc/<pid>/environ where avoidable: the API gets the secret as a file
# (SUPABASE_JWT_SECRET_FILE), so its environment must not hold it. Files
# of the stack that hold the secret are not readable by other users.
use strict;
use warnings;
use Test::More;
use File::Find ();
use HTTP::Tiny;
use Time::HiRes qw(time);
use Scenegen::Test qw(stack_env new_chapter make_token scene_path
    api_pids);

plan skip_all => 'needs root (/proc of other users, runuser)' if $> != 0;

my $env = stack_env();
my $dir = $env->{STACK_DIR};
my $secret = $env->{SUPABASE_JWT_SECRET};
my $key = $ENV{MODELSLAB_API_KEY} // 'standin-key';
if (!ok(defined $secret && length $secret >= 16, 'the stack has a JWT secret')) {
	done_testing();
	exit;
}

my ($user, $chapter, $token) = new_chapter();
my %needles = (
	'the JWT secret' => $secret,
	'the ModelsLab API key' => $key,
);

# Which needles occur in $text.
sub leaks {
	my ($text) = @_;
	return grep { index($text, $needles{$_}) >= 0 } sort keys %needles;
}

# --- HTTP answers -------------------------------------------------------------

my $http = HTTP::Tiny->new(timeout => 5, keep_alive => 0);
my $path = scene_path($chapter, 1);
my $json_h = { 'Content-Type' => 'application/json' };
my @requests = (
	['GET', '/healthz'],
	['GET', "$path/status", { Authorization => "Bearer $token" }],
	['POST', $path, { %$json_h, Authorization => "Bearer $token" },
	    '{"scene_description": "A lighthouse"}'],
	['POST', $path, $json_h, '{"scene_description": "no token"}'],
	['POST', $path, { %$json_h, Authorization => 'Bearer '
	    . make_token(sub => $user, secret => 'wrong') }, '{}'],
	['POST', $path, { %$json_h, Authorization => 'Bearer '
	    . make_token(sub => $user, header => { alg => 'none' },
	    signature => '') }, '{}'],
	['POST', $path, { %$json_h, Authorization => 'Bearer '
	    . make_token(sub => $user, claims => { exp => 1 }) }, '{}'],
	['POST', $path, { %$json_h, Authorization => 'Bearer '
	    . make_token(sub => $user, claims => { role => 'service_role' }) },
	    '{}'],
	['POST', $path, { %$json_h, Authorization => 'Bearer x.y.z' }, '{}'],
	['POST', $path, { %$json_h, Authorization => "Bearer $token" },
	    "{\"scene_description\": \"\xff\"}"],
	['POST', $path, { %$json_h, Authorization => "Bearer $token" },
	    '{"scene_description": ' . '[' x 100 . ']' x 100 . '}'],
	['POST', $path, { %$json_h, Authorization => "Bearer $token" },
	    '{"scene_description": "x", "aspect_ratio": "bad"}'],
	['POST', $path, { Authorization => "Bearer $token",
	    'Content-Type' => 'text/plain' }, 'x'],
	['POST', $path, { %$json_h, Authorization => "Bearer $token" },
	    '{' . ' ' x 17000 . '}'],
	['POST', $path, { %$json_h, Authorization => "Bearer $token",
	    'Idempotency-Key' => "\x01" }, '{}'],
	['DELETE', $path, { Authorization => "Bearer $token" }],
	['GET', '/api/v1/nothing'],
	['GET', '/api/v1/chapters/not-a-uuid/images/scenes/1/status',
	    { Authorization => "Bearer $token" }],
	['GET', '/api/v1/chapters/%00/images/scenes/1/status'],
	# What nginx serves from the stack folder: only images/.
	map({ ['GET', $_] } '/images/../env', '/images/../stack.conf',
	    '/images/../secrets/jwt_secret', '/images/..%2fenv',
	    '/images/..%2fsecrets%2fjwt_secret', '/images/%2e%2e/env',
	    '/images../env', '/images/./../env', '//images/../env',
	    '/images/..;/env', '/env', '/stack.conf', '/secrets/jwt_secret',
	    '/api/../env', '/images/'),
);
my $answers = 0;
for my $q (@requests) {
	my ($method, $p, $headers, $body) = @$q;
	my $r = $http->request($method, $env->{BASE_URL} . $p, {
	    headers => $headers // {}, defined $body ? (content => $body) : () });
	my $all = join("\n", map({ "$_: $r->{headers}{$_}" }
	    keys %{ $r->{headers} }), $r->{content} // '');
	my @l = leaks($all);
	ok(!@l, "$method $p (answered $r->{status}): holds no secret")
	    or diag "it holds @l";
	$answers++ if $r->{status} != 599;
	if ($p =~ m{^/images\b.*(env|stack\.conf|jwt_secret)$}) {
		isnt($r->{status}, 200, "$method $p is not served");
	}
}
cmp_ok($answers, '>=', @requests - 1, 'nginx answered the requests');

# --- log files -------------------------------------------------------------------

my @logs;
File::Find::find({ no_chdir => 1, wanted => sub {
	if (-d $_ && $_ =~ m{/(pg/data|images|nginx/tmp)$}) {
		$File::Find::prune = 1;
		return;
	}
	push @logs, $_ if -f $_ && /\.log(\.\d+)?$/;
} }, $dir);
ok(scalar(grep { m{/api\.log$} } @logs), 'found the API log')
    or diag "logs: @logs";
ok(scalar(grep { m{/nginx/(access|error)\.log$} } @logs), 'found the nginx logs');
my %log_needles = (%needles, 'a bearer token of this test' => $token);
for my $log (sort @logs) {
	open my $fh, '<', $log or do { fail("read $log: $!"); next };
	binmode $fh;
	my $text = do { local $/; <$fh> } // '';
	my @l = grep { index($text, $log_needles{$_}) >= 0 } sort keys %log_needles;
	(my $short = $log) =~ s{^\Q$dir\E/}{};
	ok(!@l, "$short holds no secret") or diag "$log holds @l";
}

# --- processes: cmdline and environ ---------------------------------------------

sub slurp_proc {
	my ($pid, $what) = @_;
	open my $fh, '<', "/proc/$pid/$what" or return undef;
	binmode $fh;
	local $/;
	my $t = <$fh>;
	return $t // '';
}

sub pidfile {
	my ($f) = @_;
	open my $fh, '<', "$dir/$f" or return;
	my $p = <$fh> // '';
	return $p =~ /^(\d+)/ && kill(0, $1) ? $1 : ();
}

sub children {
	my ($parent) = @_;
	my @kids;
	opendir my $dh, '/proc' or return;
	for my $p (grep { /^\d+$/ } readdir $dh) {
		my $stat = slurp_proc($p, 'stat') // next;
		push @kids, $p if $stat =~ /\)\s+\S+\s+(\d+)/ && $1 == $parent;
	}
	return @kids;
}

# Every scenegen process: the API parent and workers, the daemon (when
# built), and any other process running one of our binaries.
my ($api_parent, $api_workers) = api_pids();
my %proc;
$proc{$api_parent} = 'scenegen-api (parent)' if $api_parent;
$proc{$_} = 'scenegen-api (worker)' for @$api_workers;
for my $d (pidfile('daemon.pid')) {
	$proc{$d} = 'scenegend';
	$proc{$_} //= 'scenegend (child)' for children($d);
}
opendir my $pd, '/proc' or die "/proc: $!";
for my $p (grep { /^\d+$/ } readdir $pd) {
	next if $proc{$p};
	my $exe = readlink("/proc/$p/exe") // next;
	next unless $exe =~ m{/(scenegen-api|scenegend|scenegenctl)(?: \(deleted\))?$};
	my $name = $1;
	# Only this stack's (other stacks may run on the host): its settings
	# name the stack folder.
	my $environ = slurp_proc($p, 'environ') // next;
	$proc{$p} = $name if index($environ, "=$dir/") >= 0
	    || index($environ, "host=$dir/") >= 0;
}
closedir $pd;
ok($api_parent && @$api_workers, 'found the API parent and its workers');
my $daemon = (grep { $proc{$_} eq 'scenegend' } keys %proc)[0];
note $daemon ? "scenegend is running as $daemon"
    : 'scenegend is not running (not built?): its checks are skipped';

for my $p (sort { $a <=> $b } keys %proc) {
	my $cmd = slurp_proc($p, 'cmdline');
	next unless defined $cmd;    # gone meanwhile
	my @l = leaks($cmd);
	ok(!@l, "$proc{$p} $p: cmdline holds no secret") or diag "it holds @l";
}

for my $p (sort { $a <=> $b } keys %proc) {
	my $environ = slurp_proc($p, 'environ');
	next unless defined $environ;
	my @vars = split /\0/, $environ;
	ok(index($environ, $secret) < 0,
	    "$proc{$p} $p: environ does not hold the JWT secret")
	    or diag join "\n", grep { index($_, $secret) >= 0 } @vars;
	if ($proc{$p} =~ /^scenegend/) {
		# the key reaches it as a file (MODELSLAB_API_KEY_FILE)
		ok(index($environ, $key) < 0,
		    "$proc{$p} $p: environ does not hold the API key")
		    or diag join "\n", map { s/=.*/=<hidden>/r }
		    grep { index($_, $key) >= 0 } @vars;
	} else {
		ok(index($environ, $key) < 0,
		    "$proc{$p} $p: environ does not hold the API key (not its to have)");
	}
}
ok(scalar(grep { /^SUPABASE_JWT_SECRET_FILE=/ }
    split /\0/, slurp_proc($api_parent, 'environ') // ''),
    'the API gets the secret as a file (SUPABASE_JWT_SECRET_FILE)');

# Other processes of the stack (nginx, Redis, PostgreSQL, the stand-in) have
# no use for the JWT secret either.
for my $f ('nginx/nginx.pid', 'redis/redis.pid', 'standin.pid',
    'pg/data/postmaster.pid') {
	for my $p (pidfile($f)) {
		for my $q ($p, children($p)) {
			my $environ = slurp_proc($q, 'environ') // next;
			my $cmd = slurp_proc($q, 'cmdline') // '';
			ok(index($environ . "\0" . $cmd, $secret) < 0,
			    "$f process $q: no JWT secret in environ or cmdline");
		}
	}
}

# --- files of the stack -------------------------------------------------------

# Every file under the stack folder that holds the secret: another local
# user cannot read it.
my @holders;
File::Find::find({ no_chdir => 1, wanted => sub {
	if (-d $_ && $_ =~ m{/(pg/data|images|nginx/tmp)$}) {
		$File::Find::prune = 1;
		return;
	}
	return unless -f $_ && -s _ < 1_000_000;
	open my $fh, '<', $_ or return;
	binmode $fh;
	my $t = do { local $/; <$fh> } // '';
	push @holders, $_ if index($t, $secret) >= 0;
} }, $dir);
ok(scalar(grep { m{/secrets/} } @holders), 'the secret file is in secrets/')
    or diag "holders: @holders";
for my $f (sort @holders) {
	my $pid = open(my $fh, '-|');
	die "fork: $!" unless defined $pid;
	if (!$pid) {
		open STDERR, '>', '/dev/null';
		exec 'timeout', '5', 'runuser', '-u', 'nobody', '--', 'cat', $f;
		exit 127;
	}
	my $got = do { local $/; <$fh> } // '';
	close $fh;
	(my $short = $f) =~ s{^\Q$dir\E/}{};
	ok(index($got, $secret) < 0, "$short (holds the secret) is not "
	    . 'readable by nobody')
	    or diag sprintf('%s: mode %04o', $f, (stat $f)[2] & 07777);
}

done_testing();
