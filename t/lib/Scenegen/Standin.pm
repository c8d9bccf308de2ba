package Scenegen::Standin;
# The ModelsLab stand-in on its own, for the standin-* tests: start one on
# a free port with the given arguments, stop it, and at exit (END) stop
# every one still running. The binary is $SCENEGEN_BUILD/modelslab-standin,
# else build/ beside the test's folder; a missing binary bails out.
use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempdir);
use FindBin;
use Test::More;
use Time::HiRes qw(sleep time);

our @EXPORT_OK = qw(start_standin stop_standin);

my $BIN = ($ENV{SCENEGEN_BUILD} // "$FindBin::Bin/../build")
    . '/modelslab-standin';

my @children;

# Starts the stand-in with @args; returns its pid and port.
sub start_standin {
	my @args = @_;
	BAIL_OUT("$BIN is not built (make)") unless -x $BIN;
	my $dir = tempdir(CLEANUP => 1);
	my $pid = fork // die "fork: $!";
	if ($pid == 0) {
		open(STDERR, '>', "$dir/stderr") or die;
		exec($BIN, '-l', '127.0.0.1:0', '-p', "$dir/port", @args);
		exit 127;
	}
	push @children, $pid;
	my $until = time + 5;
	sleep 0.02 until -s "$dir/port" || time > $until;
	open(my $fh, '<', "$dir/port") or die "stand-in did not start: $!";
	my $port = <$fh>;
	chomp $port;
	return ($pid, $port);
}

# Stops the stand-in of $pid (SIGTERM); returns its wait status.
sub stop_standin {
	my ($pid) = @_;
	kill 'TERM', $pid;
	waitpid($pid, 0);
	@children = grep { $_ != $pid } @children;
	return $?;
}

END {
	kill 'TERM', @children if @children;
	waitpid($_, 0) for @children;
}

1;
