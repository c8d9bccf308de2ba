package Scenegen::Test;
# Shared helpers for the TAP tests: the running test stack (its env file),
# HTTP through nginx, tokens, SQL through psql, Redis through redis-cli.
# Every test file makes its own user and chapter, so files do not collide.
use strict;
use warnings;
use Exporter 'import';
use Digest::SHA qw(hmac_sha256);
use HTTP::Tiny;
use IPC::Open2 ();
use JSON::PP;
use MIME::Base64 qw(encode_base64url);
use Time::HiRes qw(sleep time);

our @EXPORT_OK = qw(stack_env http_req api_post api_status make_token
    new_uuid new_chapter sql sql_rows redis stack_part wait_until json
    project_dir build_dir);

my $json = JSON::PP->new->canonical->allow_nonref;
sub json { $json }

sub project_dir {
	my $d = __FILE__;
	$d =~ s{/t/lib/Scenegen/Test\.pm$}{};
	return $d eq __FILE__ ? '.' : $d;
}

sub build_dir { $ENV{SCENEGEN_BUILD} // project_dir() . '/build' }

my %env;
# The settings of the running stack (run/env or the suite's), as a hash.
sub stack_env {
	return \%env if %env;
	my $file = $ENV{SCENEGEN_ENV} // project_dir() . '/run/env';
	open my $fh, '<', $file or die "no stack env $file: start the stack "
	    . "(make run, or make test)\n";
	while (<$fh>) {
		chomp;
		next unless /^([A-Z_]+)=(.*)$/;
		my ($k, $v) = ($1, $2);
		$v =~ s/^'(.*)'$/$1/;
		$env{$k} = $v;
	}
	return \%env;
}

sub new_uuid {
	open my $fh, '<', '/proc/sys/kernel/random/uuid' or die $!;
	my $u = <$fh>;
	chomp $u;
	return $u;
}

# HS256 token; %o overrides claims (undef deletes), header, secret, alg.
sub make_token {
	my (%o) = @_;
	my $e = stack_env();
	my $now = time;
	my %claims = (
		sub => $o{sub} // $e->{DEMO_USER_ID}, aud => 'authenticated',
		role => 'authenticated', iat => int($now),
		exp => int($now) + 3600,
	);
	for my $k (keys %{ $o{claims} // {} }) {
		if (defined $o{claims}{$k}) { $claims{$k} = $o{claims}{$k} }
		else { delete $claims{$k} }
	}
	my $header = $o{header} // { alg => 'HS256', typ => 'JWT' };
	my $h = encode_base64url($json->encode($header));
	my $b = encode_base64url($json->encode(\%claims));
	my $secret = $o{secret} // $e->{SUPABASE_JWT_SECRET};
	my $sig = exists $o{signature} ? $o{signature}
	    : encode_base64url(hmac_sha256("$h.$b", $secret));
	return "$h.$b.$sig";
}

my $http = HTTP::Tiny->new(timeout => 30, keep_alive => 0);
# One HTTP request through nginx; returns { status, headers, content, json }.
sub http_req {
	my ($method, $path, %o) = @_;
	my $url = $path =~ m{^https?://} ? $path : stack_env()->{BASE_URL} . $path;
	my %args = (headers => $o{headers} // {});
	$args{content} = $o{body} if defined $o{body};
	my $r = $http->request($method, $url, \%args);
	my $decoded = eval { $json->decode($r->{content}) };
	$r->{json} = $decoded;
	return $r;
}

sub scene_path {
	my ($chapter, $scene) = @_;
	return "/api/v1/chapters/$chapter/images/scenes/$scene";
}

# POST a scene request with a token; body may be a hashref or raw text.
sub api_post {
	my (%o) = @_;
	my $body = ref $o{body} ? $json->encode($o{body}) : $o{body};
	my %h = ('Content-Type' => 'application/json');
	$h{Authorization} = "Bearer $o{token}" if defined $o{token};
	%h = (%h, %{ $o{headers} // {} });
	return http_req('POST', scene_path($o{chapter}, $o{scene} // 1),
	    headers => \%h, body => $body);
}

sub api_status {
	my (%o) = @_;
	my %h = %{ $o{headers} // {} };
	$h{Authorization} = "Bearer $o{token}" if defined $o{token};
	return http_req('GET', scene_path($o{chapter}, $o{scene} // 1) . '/status',
	    headers => \%h);
}

# Run SQL through psql; %vars become psql variables (:'name' in the query
# is quoted by psql). Returns the unaligned, tab-separated output.
sub sql {
	my ($query, %vars) = @_;
	my @v = map { ('-v', "$_=$vars{$_}") } sort keys %vars;
	my $pid = IPC::Open2::open2(my $out, my $in, 'psql', '-X', '-q', '-t',
	    '-A', '-F', "\t", '-v', 'ON_ERROR_STOP=1', @v,
	    '-d', stack_env()->{DATABASE_URL});
	print $in $query;
	close $in;
	local $/;
	my $text = <$out> // '';
	close $out;
	waitpid $pid, 0;
	die "psql failed ($?): $query\n" if $?;
	chomp $text;
	return $text;
}

# Rows of a query as arrays of fields.
sub sql_rows {
	my $out = sql(@_);
	return [ map { [ split /\t/, $_, -1 ] } grep { length } split /\n/, $out ];
}

# A fresh user and a chapter they own: ($user_id, $chapter_id, $token).
sub new_chapter {
	my $user = new_uuid();
	my $chapter = new_uuid();
	sql("INSERT INTO chapters (id, user_id, title) VALUES (:'c', :'u', 'test')",
	    c => $chapter, u => $user);
	return ($user, $chapter, make_token(sub => $user));
}

sub redis {
	my @args = @_;
	my $sock = stack_env()->{REDIS_SOCKET};
	open my $fh, '-|', 'redis-cli', '-s', $sock, @args or die "redis-cli: $!";
	local $/;
	my $out = <$fh> // '';
	close $fh;
	chomp $out;
	return $out;
}

# Start or stop one part of the stack (postgres, redis, api, daemon, ...).
sub stack_part {
	my ($action, $part) = @_;
	my $dir = stack_env()->{STACK_DIR};
	system(project_dir() . "/scripts/stack.sh", "$action-part", $dir, $part) == 0
	    or die "stack.sh $action-part $part failed\n";
}

# Poll $cond every 50 ms until true or $timeout seconds; returns its value.
sub wait_until {
	my ($cond, $timeout) = @_;
	my $end = time + ($timeout // 10);
	while (time < $end) {
		my $v = $cond->();
		return $v if $v;
		sleep 0.05;
	}
	return $cond->();
}

1;
