package Chaos;
# Helpers shared by chaos/chaos.pl and chaos/soak.pl: the stack's settings,
# SQL through psql, the stack's parts, extra daemons, and /proc readings
# (process trees, VmRSS, open descriptors). Everything is bounded in time.
use strict;
use warnings;
use Exporter 'import';
use File::Basename qw(dirname);
use POSIX qw(:sys_wait_h setsid);
use Time::HiRes qw(sleep time);

our @EXPORT = qw(project_dir read_env psql_rows stack_part pid_of
    proc_alive proc_state children_of proc_rss_kb proc_fds proc_comm
    start_extra_daemon stop_pid file_size read_from
    postgres_pids say_ts);

sub project_dir {
	my $d = dirname(__FILE__);	# chaos/lib
	return Cwd::abs_path("$d/../..") // "$d/../..";
}
require Cwd;

# KEY=VALUE lines of a stack's env file, as a hash.
sub read_env {
	my ($file) = @_;
	my %e;
	open my $fh, '<', $file or die "no $file: $!\n";
	while (<$fh>) {
		chomp;
		next unless /^([A-Z_]+)=(.*)$/;
		my ($k, $v) = ($1, $2);
		$v =~ s/^'(.*)'$/$1/;
		$e{$k} = $v;
	}
	return \%e;
}

sub say_ts {
	my ($t0, @msg) = @_;
	printf "[%6.1f] %s\n", time - $t0, join('', @msg);
}

# Rows of a query (tab-separated fields) or undef when psql failed (the
# database down); never waits more than ~$timeout seconds.
sub psql_rows {
	my ($url, $query, $timeout) = @_;
	$timeout //= 15;
	my $u = $url . ($url =~ /\?/ ? '&' : '?') . 'connect_timeout=3';
	local $ENV{PGOPTIONS} = "-c statement_timeout=${timeout}s";
	my $pid = open(my $fh, '-|') // return undef;
	if (!$pid) {
		open STDERR, '>', '/dev/null';
		exec 'psql', '-X', '-q', '-t', '-A', '-F', "\t", '-v',
		    'ON_ERROR_STOP=1', '-d', $u, '-c', $query;
		exit 127;
	}
	my @rows;
	my $ok = eval {
		local $SIG{ALRM} = sub { die "timeout\n" };
		alarm($timeout + 5);
		while (my $l = <$fh>) {
			chomp $l;
			next unless length $l;
			push @rows, [ split /\t/, $l, -1 ];
		}
		alarm 0;
		1;
	};
	alarm 0;
	if (!$ok) {
		kill 'KILL', $pid;
	}
	close $fh;
	return undef if !$ok || $?;
	return \@rows;
}

# stack.sh start-part|stop-part; returns true on success.
sub stack_part {
	my ($stack, $action, $part) = @_;
	my $rc = system(project_dir() . '/scripts/stack.sh', "$action-part",
	    $stack, $part);
	return $rc == 0;
}

sub pid_of {
	my ($file) = @_;
	open my $fh, '<', $file or return undef;
	my $p = <$fh> // '';
	close $fh;
	return $p =~ /^(\d+)/ ? $1 : undef;
}

# One letter of /proc/PID/stat (R, S, T, Z, ...) or '' when gone.
sub proc_state {
	my ($pid) = @_;
	open my $fh, '<', "/proc/$pid/stat" or return '';
	my $l = <$fh> // '';
	close $fh;
	return $l =~ /\)\s+(\S)/ ? $1 : '';
}

sub proc_alive {
	my ($pid) = @_;
	return 0 unless $pid;
	my $s = proc_state($pid);
	return $s ne '' && $s ne 'Z' && $s ne 'X';
}

sub proc_comm {
	my ($pid) = @_;
	open my $fh, '<', "/proc/$pid/comm" or return '';
	my $c = <$fh> // '';
	chomp $c;
	return $c;
}

# Pids whose parent is $ppid.
sub children_of {
	my ($ppid) = @_;
	my @kids;
	opendir my $dh, '/proc' or return ();
	for my $p (grep { /^\d+$/ } readdir $dh) {
		open my $st, '<', "/proc/$p/stat" or next;
		my $line = <$st> // '';
		close $st;
		push @kids, $p if $line =~ /\)\s+\S+\s+(\d+)/ && $1 == $ppid;
	}
	closedir $dh;
	return sort { $a <=> $b } @kids;
}

sub proc_rss_kb {
	my ($pid) = @_;
	open my $fh, '<', "/proc/$pid/status" or return undef;
	while (<$fh>) {
		return $1 if /^VmRSS:\s+(\d+)/;
	}
	return undef;
}

sub proc_fds {
	my ($pid) = @_;
	opendir my $dh, "/proc/$pid/fd" or return undef;
	my $n = grep { !/^\./ } readdir $dh;
	closedir $dh;
	return $n;
}

# The postmaster (first line of postmaster.pid) and its children.
sub postgres_pids {
	my ($stack) = @_;
	my $pm = pid_of("$stack/pg/data/postmaster.pid") or return ();
	return ($pm, children_of($pm));
}

sub file_size { return -s $_[0] // 0 }

# Bytes of a file from offset $from (to $to if given).
sub read_from {
	my ($file, $from, $to) = @_;
	open my $fh, '<', $file or return '';
	seek $fh, $from // 0, 0;
	local $/;
	my $text = <$fh> // '';
	close $fh;
	$text = substr($text, 0, $to - ($from // 0)) if defined $to && $to > ($from // 0);
	return $text;
}

# Another scenegend on the same stack, consumer $name, log $log; its pid
# goes to $pidfile. The SCENEGEN_* tuning comes from our environment.
sub start_extra_daemon {
	my (%o) = @_;
	my $e = $o{env};
	my $pid = fork // die "fork: $!\n";
	if (!$pid) {
		setsid();
		open STDIN, '<', '/dev/null';
		open STDOUT, '>>', $o{log} or exit 127;
		open STDERR, '>&', \*STDOUT;
		$ENV{DATABASE_URL} = $e->{DATABASE_URL};
		$ENV{REDIS_URL} = $e->{REDIS_URL};
		$ENV{MODELSLAB_API_KEY} = 'standin-key';
		$ENV{MODELSLAB_BASE_URL} = $e->{STANDIN_URL};
		$ENV{MODELSLAB_MAX_QUEUED} //= 1000;
		$ENV{SCENEGEN_IMAGE_DIR} = $e->{SCENEGEN_IMAGE_DIR};
		$ENV{SCENEGEN_IMAGE_BASE_URL} = "$e->{BASE_URL}/images";
		$ENV{SCENEGEN_CONSUMER} = $o{name};
		exec "$o{build}/scenegend";
		exit 127;
	}
	if ($o{pidfile}) {
		open my $fh, '>', $o{pidfile} or die "$o{pidfile}: $!\n";
		print $fh "$pid\n";
		close $fh;
	}
	return $pid;
}

# SIGTERM (SIGCONT first), wait up to $wait seconds, then SIGKILL; reaps
# our own children. Returns how it ended: 'term' or 'kill'.
sub stop_pid {
	my ($pid, $wait) = @_;
	return 'gone' unless $pid;
	kill 'CONT', $pid;
	kill 'TERM', $pid;
	my $end = time + ($wait // 10);
	while (time < $end) {
		waitpid($pid, WNOHANG);
		return 'term' unless proc_alive($pid);
		sleep 0.05;
	}
	kill 'KILL', $pid;
	waitpid($pid, 0) if waitpid($pid, WNOHANG) == 0;
	return 'kill';
}

1;
