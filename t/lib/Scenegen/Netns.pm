package Scenegen::Netns;
# Several "hosts" on one machine, for the multi-host tests: a network
# namespace per host, each with its own address on a bridge of its own,
# and a stack of the test's own (scripts/stack.sh parts in a temporary
# folder: PostgreSQL, Redis, the stand-in, the API and nginx) whose
# PostgreSQL, Redis and stand-in listen on the bridge's address over TCP
# (STACK_LISTEN_ADDR). The daemons run inside the namespaces and reach
# them only over the bridge; the test reaches them through the usual
# helpers of Scenegen::Test, pointed at this stack's env file.
#
# Everything is named sgh<pid>... (bridge sgh<pid>br, namespaces
# sgh<pid>ns<i>, links sgh<pid>h<i> on the host side, sgh<pid>n<i> inside)
# on a 10.213.N.0/24 that no interface or route here uses, so two runs, or
# other tests, do not collide. At exit (END, also after a failed assertion,
# a die or SIGTERM/SIGINT/HUP) the daemons started here are killed, the
# namespaces and links deleted, the stack stopped and its folder removed
# (its logs kept when the test failed).
use strict;
use warnings;
use Exporter 'import';
use File::Path ();
use File::Temp ();
use Scenegen::Test qw(project_dir daemon_start daemon_stop stack_env
    wait_until);

our @EXPORT_OK = qw(netns_setup netns_daemon_start netns_link
    netns_identify);

my $owner_pid = $$;
my $net;	# the one set-up of this process

# Run ip with @args; returns its output, or dies with it unless it
# succeeds.
sub ip {
	my (@args) = @_;
	my $pid = open my $fh, '-|';
	die "fork: $!\n" unless defined $pid;
	if (!$pid) {
		open STDERR, '>&', \*STDOUT;
		exec 'ip', @args;
		exit 127;
	}
	local $/;
	my $out = <$fh> // '';
	close $fh;
	die "ip @args: $out" if $?;
	return $out;
}

# A third octet N such that nothing here uses 10.213.N.0/24.
sub free_subnet {
	my $used = join "\n", ip('-4', '-o', 'addr', 'show'),
	    ip('-4', '-o', 'route', 'show', 'table', 'all');
	my @n = map { 1 + ($$ + $_) % 250 } 0 .. 249;
	for my $n (@n) {
		return $n unless $used =~ /\b10\.213\.\Q$n\E\./;
	}
	die "no free 10.213.N.0/24 subnet\n";
}

# Set up $o{hosts} (default 3) namespaces and the stack they share;
# skips the test file (plan skip_all) without root or network
# namespaces. Call it before anything reads stack_env(). Returns
# { addr, dir, db_url, redis_url, standin_url, hosts => [ { ns, addr,
# link, peer } ... ] }: db_url, redis_url and standin_url are the TCP
# addresses for the daemons; link is the host-side end of a host's cable.
sub netns_setup {
	my (%o) = @_;
	require Test::More;
	die "netns_setup: once per test\n" if $net;
	Test::More::plan(skip_all => 'network namespaces need root')
	    unless $> == 0;
	my $p = "sgh$$";
	$net = { prefix => $p, bridge => "${p}br", hosts => [], made => [],
	    daemons => [] };
	# From here on, END cleans up whatever exists.
	$SIG{TERM} = $SIG{INT} = $SIG{HUP} = sub {
		warn "killed by SIG$_[0]\n";
		exit 1;
	};
	eval { ip('link', 'add', $net->{bridge}, 'type', 'bridge') };
	if ($@) {
		(my $why = $@) =~ s/\s+\z//;
		Test::More::plan(skip_all => "no bridge for the namespaces: $why");
	}
	push @{ $net->{made} }, [ 'link', $net->{bridge} ];
	my $n = free_subnet();
	$net->{addr} = "10.213.$n.1";
	ip('addr', 'add', "$net->{addr}/24", 'dev', $net->{bridge});
	ip('link', 'set', $net->{bridge}, 'up');
	for my $i (1 .. ($o{hosts} // 3)) {
		my %h = (ns => "${p}ns$i", link => "${p}h$i", peer => "${p}n$i",
		    addr => "10.213.$n." . (10 + $i));
		eval { ip('netns', 'add', $h{ns}) };
		if ($@ && $i == 1) {
			(my $why = $@) =~ s/\s+\z//;
			Test::More::plan(skip_all => "no network namespaces: $why");
		}
		die $@ if $@;
		push @{ $net->{made} }, [ 'netns', $h{ns} ];
		ip('link', 'add', $h{link}, 'type', 'veth', 'peer', 'name',
		    $h{peer}, 'netns', $h{ns});
		push @{ $net->{made} }, [ 'link', $h{link} ];
		ip('link', 'set', $h{link}, 'master', $net->{bridge}, 'up');
		ip('-n', $h{ns}, 'addr', 'add', "$h{addr}/24", 'dev', $h{peer});
		ip('-n', $h{ns}, 'link', 'set', $h{peer}, 'up');
		ip('-n', $h{ns}, 'link', 'set', 'lo', 'up');
		push @{ $net->{hosts} }, \%h;
	}
	start_stack();
	return $net;
}

# The test's own stack, its servers on the bridge's address.
sub start_stack {
	my $base = $ENV{SCENEGEN_TEST_DIR} // '/tmp';
	my $dir = File::Temp::tempdir("scenegen-netns.XXXXXX", DIR => $base,
	    CLEANUP => 0);
	chmod 0755, $dir;	# PostgreSQL runs as postgres
	$net->{dir} = $dir;
	my $stack = project_dir() . '/scripts/stack.sh';
	{
		local $ENV{STACK_LISTEN_ADDR} = $net->{addr};
		local $ENV{PORT} = 0;
		# the folder's own paths, not those of a stack started earlier
		local @ENV{qw(MODELSLAB_API_KEY SCENEGEN_IMAGE_DIR
		    SCENEGEN_IMAGE_BASE_URL SCENEGEN_API_SOCKET)};
		delete @ENV{qw(MODELSLAB_API_KEY SCENEGEN_IMAGE_DIR
		    SCENEGEN_IMAGE_BASE_URL SCENEGEN_API_SOCKET)};
		for my $part (qw(postgres redis standin api nginx)) {
			system($stack, 'start-part', "$dir/stack", $part) == 0
			    or die "stack.sh start-part $part failed\n";
		}
		system($stack, 'write-env', "$dir/stack") == 0
		    or die "stack.sh write-env failed\n";
	}
	$net->{started} = 1;
	$ENV{SCENEGEN_ENV} = "$dir/stack/env";
	my $e = stack_env();
	die "netns_setup: stack_env() was read before it\n"
	    unless $e->{STACK_DIR} eq "$dir/stack";
	$net->{db_url} = "postgresql://scenegen\@$net->{addr}:5432/scenegen";
	$net->{redis_url} = "redis://$net->{addr}:6379";
	$net->{standin_url} = $e->{STANDIN_URL};
	die "the stand-in does not listen on $net->{addr}\n"
	    unless $net->{standin_url} =~ m{^http://\Q$net->{addr}\E:\d+$};
}

# Start a daemon in host $i's namespace (0-based), with the TCP
# addresses of the stack and %o (as daemon_start); returns its handle.
sub netns_daemon_start {
	my ($n, $i, %o) = @_;
	my $h = $n->{hosts}[$i] or die "no host $i\n";
	my $d = daemon_start(DATABASE_URL => $n->{db_url},
	    REDIS_URL => $n->{redis_url}, MODELSLAB_BASE_URL => $n->{standin_url},
	    %o, wrap => [ 'ip', 'netns', 'exec', $h->{ns} ]);
	$d->{host} = $h;
	push @{ $n->{daemons} }, $d;
	return $d;
}

# Host $h's cable (its link on the bridge): 'down' or 'up'.
sub netns_link {
	my ($h, $state) = @_;
	ip('link', 'set', $h->{link}, $state);
	return 1;
}

# The namespace process $pid runs in ('' if none of ip netns's).
sub netns_identify {
	my ($pid) = @_;
	my $out = eval { ip('netns', 'identify', $pid) } // '';
	$out =~ s/\s+\z//;
	return $out;
}

END {
	if ($net && $$ == $owner_pid) {
		my $rc = $?;
		eval { cleanup($rc) };
		warn "netns clean-up: $@" if $@;
		$? = $rc;
	}
}

sub cleanup {
	my ($rc) = @_;
	# the daemons first (kills them, reaps them: Scenegen::Test's END
	# then leaves them alone), then anything else left in the namespaces
	for my $d (@{ $net->{daemons} }) {
		eval { daemon_stop($d, 'KILL', 5) };
	}
	for my $h (@{ $net->{hosts} }) {
		my $pids = eval { ip('netns', 'pids', $h->{ns}) } // '';
		for my $pid (grep { /^\d+$/ } split /\s+/, $pids) {
			kill 'CONT', $pid;
			kill 'KILL', $pid;
		}
	}
	for my $m (reverse @{ $net->{made} }) {
		my ($kind, $name) = @$m;
		if ($kind eq 'netns') {
			eval { ip('netns', 'del', $name) };
		} else {
			# a veth goes with its namespace; ask only if still there
			eval { ip('link', 'del', $name) }
			    if eval { ip('link', 'show', $name); 1 };
		}
	}
	return unless $net->{dir};
	my $dir = $net->{dir};
	my $stack = project_dir() . '/scripts/stack.sh';
	for my $part (qw(nginx api standin redis postgres)) {
		system("$stack stop-part '$dir/stack' $part >/dev/null 2>&1");
	}
	my $tb = Test::Builder->can('new') && Test::Builder->new;
	if ($rc == 0 && $tb && $tb->is_passing) {
		File::Path::remove_tree($dir);
	} else {
		# the logs stay, not the database's files
		File::Path::remove_tree("$dir/stack/pg/data", "$dir/stack/images");
		print STDERR "# netns stack logs in $dir\n";
	}
}

1;
