package Scenegen::Ops;
# Helpers of the operations tests (t/ops-*.t, t/ctl-*.t): run a command and
# keep its output, install into a DESTDIR, run scenegenctl with the test
# stack's settings.
use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempfile tempdir);

our @EXPORT_OK = qw(ops_project_dir ops_build_dir run_cmd install_tree
    run_cmd_split install_build ctl ctl_env stack_settings have_tool
    fcgi_request fcgi_kept sqlv redisv daemon_running scratch psql_on);

sub ops_project_dir {
	my $d = __FILE__;
	$d =~ s{/t/lib/Scenegen/Ops\.pm$}{};
	$d = '.' if $d eq __FILE__;
	return $d;
}

sub ops_build_dir {
	my $b = $ENV{SCENEGEN_BUILD} // ops_project_dir() . '/build';
	$b = ops_project_dir() . "/$b" unless $b =~ m{^/};
	return $b;
}

sub have_tool {
	my ($tool) = @_;
	return scalar grep { -x "$_/$tool" } split /:/, $ENV{PATH} // '';
}

# Run a command; returns (exit status, stdout, stderr). %o: env => {...}
# added to the environment, stdin => text.
sub run_cmd_split {
	my ($cmd, %o) = @_;
	my ($efh, $efile) = tempfile(UNLINK => 1);
	my ($ifh, $ifile) = tempfile(UNLINK => 1);
	print $ifh $o{stdin} if defined $o{stdin};
	close $ifh;
	my $pid = open(my $out, '-|');
	die "fork: $!" unless defined $pid;
	if ($pid == 0) {
		%ENV = (%ENV, %{ $o{env} // {} });
		delete $ENV{$_}
		    for grep { !exists $o{env}{$_} } @{ $o{unset} // [] };
		open STDERR, '>&', $efh or die $!;
		open STDIN, '<', $ifile or die $!;
		exec @$cmd or die "exec $cmd->[0]: $!";
	}
	local $/;
	my $stdout = <$out> // '';
	close $out;
	my $rc = $? >> 8;
	$rc = 128 + ($? & 127) if $? & 127;
	open my $e, '<', $efile or die $!;
	my $stderr = <$e> // '';
	return ($rc, $stdout, $stderr);
}

# Run a command; returns (exit status, stdout and stderr together).
sub run_cmd {
	my (@cmd) = @_;
	my ($rc, $out, $err) = run_cmd_split(\@cmd);
	return ($rc, $err . $out);
}

# A build folder with the three programs: the real one when it has them
# all, else (the packaging tests do not need working programs) one with
# the real programs that exist and tiny stand-in ELF programs for the rest.
sub install_build {
	my $build = ops_build_dir();
	my @p = qw(scenegen-api scenegend scenegenctl);
	return ($build, []) unless grep { !-x "$build/$_" } @p;
	my $dir = tempdir('scenegen-build.XXXXXX', TMPDIR => 1, CLEANUP => 1);
	my @stubbed;
	for my $p (@p) {
		if (-x "$build/$p") {
			system('cp', "$build/$p", "$dir/$p") == 0 or die "cp $p";
			next;
		}
		open my $c, '>', "$dir/stub.c" or die $!;
		print $c "int main(void) { return 0; }\n";
		close $c;
		system('cc', '-o', "$dir/$p", "$dir/stub.c") == 0
		    or die "cc stub $p";
		push @stubbed, $p;
	}
	return ($dir, \@stubbed);
}

# deploy/install.sh DESTDIR PREFIX BUILD; dies on failure; returns DESTDIR.
sub install_tree {
	my ($destdir, $prefix) = @_;
	my ($build, $stubbed) = install_build();
	Test::More::note("no $_ built yet: installing a stand-in program")
	    for @$stubbed;
	my ($rc, $out) = run_cmd(ops_project_dir() . '/deploy/install.sh',
	    $destdir, $prefix, $build);
	die "install.sh failed ($rc): $out" if $rc != 0;
	return $destdir;
}

# The test stack's database, Redis and token settings (from its env
# file), as scenegen-api and scenegenctl take them: a list of pairs.
sub stack_settings {
	require Scenegen::Test;
	my $e = Scenegen::Test::stack_env();
	return (
		DATABASE_URL => $e->{DATABASE_URL},
		REDIS_URL => $e->{REDIS_URL},
		SUPABASE_JWT_SECRET => $e->{SUPABASE_JWT_SECRET},
		JWT_AUDIENCE => $e->{JWT_AUDIENCE} // 'authenticated',
	);
}

# The settings scenegenctl needs, from the test stack's env file.
sub ctl_env {
	return { stack_settings(),
	    SCENEGEN_SQL_DIR => ops_project_dir() . '/sql' };
}

# Run scenegenctl with the stack's settings (and no /etc file); returns
# (exit status, stdout, stderr). Leading hash ref: more environment.
sub ctl {
	my (@args) = @_;
	my $env = ref $args[0] eq 'HASH' ? shift @args : {};
	return run_cmd_split([ ops_build_dir() . '/scenegenctl', '-f',
	    '/dev/null', @args ], env => { %{ ctl_env() }, %$env },
	    unset => [ qw(SUPABASE_JWT_SECRET_FILE JWT_ISSUER
	    CREDENTIALS_DIRECTORY) ]);
}

# Scenegen::Test::sql() without trailing newlines: one value, or rows.
sub sqlv {
	require Scenegen::Test;
	my $out = Scenegen::Test::sql(@_);
	$out =~ s/\n+\z//;
	return $out;
}

# Scenegen::Test::redis() without trailing newlines.
sub redisv {
	require Scenegen::Test;
	my $out = Scenegen::Test::redis(@_);
	$out =~ s/\n+\z//;
	return $out;
}

# psql on a connection URL; returns the output without trailing newlines.
sub psql_on {
	my ($url, $query) = @_;
	my ($rc, $out, $err) = run_cmd_split([ 'psql', '-X', '-q', '-t', '-A',
	    '-F', "\t", '-v', 'ON_ERROR_STOP=1', '-d', $url ], stdin => $query);
	die "psql: $err" if $rc != 0;
	$out =~ s/\n+\z//;
	return $out;
}

# A scratch world beside the stack that no daemon serves: a fresh
# database (migrated unless $bare) on the stack's PostgreSQL and a Redis
# logical database of its own on the stack's Redis, both emptied at exit.
# Returns { DATABASE_URL, REDIS_URL, redis => sub (redis-cli args) }.
my @scratch_cleanup;
END { local $?; $_->() for @scratch_cleanup }
sub scratch {
	my ($name, $bare) = @_;
	require Scenegen::Test;
	my $e = Scenegen::Test::stack_env();
	my $admin = "postgresql:///postgres?host=$e->{PG_SOCKET_DIR}&user=postgres";
	my $db = "scenegen_${name}_$$";
	my $url = "postgresql:///$db?host=$e->{PG_SOCKET_DIR}&user=postgres";
	my $rdb = 9;	# the stack and its daemon use 0
	my $redis = sub {
		my ($rc, $out) = run_cmd_split([ 'redis-cli', '-s',
		    $e->{REDIS_SOCKET}, '-n', $rdb, @_ ]);
		$out =~ s/\n+\z//;
		return $out;
	};
	psql_on($admin, "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db;");
	$redis->('FLUSHDB');
	push @scratch_cleanup, sub {
		eval { psql_on($admin, "DROP DATABASE IF EXISTS $db") };
		$redis->('FLUSHDB');
	};
	my $w = { DATABASE_URL => $url, redis => $redis,
	    REDIS_URL => "unix://$e->{REDIS_SOCKET}?db=$rdb" };
	unless ($bare) {
		my ($rc, $out, $err) = ctl({ DATABASE_URL => $url,
		    REDIS_URL => $w->{REDIS_URL} }, 'migrate');
		die "migrate $db: $err" if $rc != 0;
	}
	return $w;
}

# 1 if the test stack's scenegend runs.
sub daemon_running {
	require Scenegen::Test;
	my $dir = Scenegen::Test::stack_env()->{STACK_DIR} // return 0;
	open my $fh, '<', "$dir/daemon.pid" or return 0;
	my $pid = <$fh>;
	return defined $pid && $pid =~ /^(\d+)/ && kill(0, $1) ? 1 : 0;
}

# One FastCGI request (responder role) over the unix socket at $path.
# %params are the CGI variables; $body goes as FCGI_STDIN. Returns
# { status, headers => { lower-case name => value }, body, stderr } or
# dies naming what failed. $timeout bounds the whole exchange.
sub fcgi_request {
	my ($path, $params, $body, $timeout) = @_;
	require IO::Socket::UNIX;
	require IO::Select;
	$body //= '';
	$timeout //= 10;
	my $s = IO::Socket::UNIX->new(Type => IO::Socket::UNIX::SOCK_STREAM(),
	    Peer => $path) or die "connect $path: $!";
	my $id = 1;
	my $rec = sub {
		my ($type, $content) = @_;
		my $pad = (8 - length($content) % 8) % 8;
		return pack('CCnnCC', 1, $type, $id, length $content, $pad, 0)
		    . $content . ("\0" x $pad);
	};
	my $len = sub {
		my ($n) = @_;
		return $n < 128 ? pack('C', $n) : pack('N', $n | 0x80000000);
	};
	my $p = '';
	for my $k (sort keys %$params) {
		my $v = $params->{$k} // '';
		$p .= $len->(length $k) . $len->(length $v) . $k . $v;
	}
	my $out = $rec->(1, pack('nCx5', 1, 0));	# BEGIN_REQUEST, RESPONDER
	$out .= $rec->(4, $p) if length $p;
	$out .= $rec->(4, '');
	for (my $i = 0; $i < length $body; $i += 65535) {
		$out .= $rec->(5, substr($body, $i, 65535));
	}
	$out .= $rec->(5, '');
	my $sel = IO::Select->new($s);
	my $end = time + $timeout;
	while (length $out) {
		die "FastCGI: timed out writing\n"
		    unless $sel->can_write($end - time);
		my $n = syswrite($s, $out);
		die "FastCGI write: $!" unless defined $n;
		substr($out, 0, $n, '');
	}
	my ($in, $stdout, $stderr, $done) = ('', '', '', 0);
	while (!$done) {
		die "FastCGI: no answer within $timeout s\n"
		    unless $sel->can_read($end - time);
		my $n = sysread($s, $in, 65536, length $in);
		die "FastCGI read: $!" unless defined $n;
		die "FastCGI: connection closed before END_REQUEST\n"
		    if $n == 0;
		while (length $in >= 8) {
			my ($ver, $type, $rid, $clen, $plen) =
			    unpack('CCnnC', $in);
			last if length $in < 8 + $clen + $plen;
			my $c = substr($in, 8, $clen);
			substr($in, 0, 8 + $clen + $plen, '');
			if ($type == 6) { $stdout .= $c }
			elsif ($type == 7) { $stderr .= $c }
			elsif ($type == 3) { $done = 1; last }
		}
	}
	close $s;
	my ($head, $rest) = split /\r?\n\r?\n/, $stdout, 2;
	my %h;
	for (split /\r?\n/, $head // '') {
		$h{lc $1} = $2 if /^([^:]+):\s*(.*)$/;
	}
	my ($status) = ($h{status} // '200') =~ /^(\d+)/;
	return { status => $status, headers => \%h, body => $rest // '',
	    stderr => $stderr };
}

# One GET of $uri as nginx sends it on a kept connection (FCGI_KEEP_CONN)
# over the connected unix socket $s, which stays open for the next.
# Returns the answer's status, or undef if the connection was closed or
# nothing came within $timeout seconds.
sub fcgi_kept {
	my ($s, $uri, $timeout) = @_;
	require IO::Select;
	require Time::HiRes;
	my $rec = sub {
		my ($type, $content) = @_;
		my $pad = (8 - length($content) % 8) % 8;
		return pack('CCnnCC', 1, $type, 1, length $content, $pad, 0)
		    . $content . ("\0" x $pad);
	};
	my $p = '';
	my %params = (REQUEST_METHOD => 'GET', REQUEST_URI => $uri,
	    SCRIPT_NAME => '/scenegen');
	for my $k (sort keys %params) {
		$p .= pack('CC', length $k, length $params{$k}) . $k . $params{$k};
	}
	my $out = $rec->(1, pack('nCx5', 1, 1))	# RESPONDER, FCGI_KEEP_CONN
	    . $rec->(4, $p) . $rec->(4, '') . $rec->(5, '');
	return undef unless defined syswrite($s, $out);
	my $sel = IO::Select->new($s);
	my ($in, $stdout, $end) = ('', '', Time::HiRes::time() + $timeout);
	for (;;) {
		return undef
		    unless $sel->can_read($end - Time::HiRes::time());
		my $n = sysread($s, $in, 65536, length $in);
		return undef unless $n;
		while (length $in >= 8) {
			my (undef, $type, undef, $clen, $plen) = unpack('CCnnC', $in);
			last if length $in < 8 + $clen + $plen;
			$stdout .= substr($in, 8, $clen) if $type == 6;
			substr($in, 0, 8 + $clen + $plen, '');
			if ($type == 3) {
				my ($status) = $stdout =~ /^Status:\s*(\d+)/mi;
				return $status // 200;
			}
		}
	}
}

1;
