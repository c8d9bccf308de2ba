package Scenegen::Receiver;
# A webhook receiver for the tests: an HTTP/1.1 server on 127.0.0.1 in a
# child process that records every request (one JSON line each: path,
# webhook headers, body, the status it answered, the time) and answers by
# path:
#   /ok/...        200
#   /fail-once/... 500 to the first request of a webhook-id, then 200
#   /redirect/...  301 to /target/... (which answers 200)
#   /gone/...      410
#   /hold/...      503 with Retry-After: 2 until the file named by
#                  hold_file exists, then 200
#   /fail/...      500
use strict;
use warnings;
use IO::Socket::INET;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(time);

my $json = JSON::PP->new->canonical;

# Start it; returns { pid, port, url, log, hold_file }.
sub start {
	my (%o) = @_;
	my $dir = $o{dir} // die "dir\n";
	my $srv = IO::Socket::INET->new(Listen => 32, LocalAddr => '127.0.0.1',
	    LocalPort => 0, ReuseAddr => 1) or die "listen: $!\n";
	my $r = { port => $srv->sockport, log => "$dir/receiver.log",
	    hold_file => "$dir/receiver.release" };
	$r->{url} = "http://127.0.0.1:$r->{port}";
	my $pid = fork // die "fork: $!\n";
	if ($pid) {
		close $srv;
		$r->{pid} = $pid;
		return $r;
	}
	my %seen;
	while (my $c = $srv->accept) {
		serve($c, $r, \%seen);
	}
	POSIX::_exit(0);
}

sub serve {
	my ($c, $r, $seen) = @_;
	local $SIG{ALRM} = sub { die "timeout\n" };
	alarm 20;
	eval {
		while (1) {
			my $line = <$c>;
			last unless defined $line;
			my ($method, $path) = $line =~ /^(\S+) (\S+)/ or last;
			my %h;
			while (my $l = <$c>) {
				$l =~ s/\r?\n\z//;
				last if $l eq '';
				my ($k, $v) = split /:\s*/, $l, 2;
				$h{lc $k} = $v;
			}
			my $body = '';
			read($c, $body, $h{'content-length'}) if $h{'content-length'};
			my ($status, $extra) = (200, '');
			my $id = $h{'webhook-id'} // '';
			if ($path =~ m{^/fail-once/}) {
				$status = $seen->{$id}++ ? 200 : 500;
			} elsif ($path =~ m{^/redirect/(.*)}) {
				($status, $extra) = (301, "Location: /target/$1\r\n");
			} elsif ($path =~ m{^/gone/}) {
				$status = 410;
			} elsif ($path =~ m{^/fail/}) {
				$status = 500;
			} elsif ($path =~ m{^/hold/}) {
				($status, $extra) = -e $r->{hold_file} ? (200, '')
				    : (503, "Retry-After: 2\r\n");
			}
			open my $fh, '>>', $r->{log} or die;
			print $fh $json->encode({ method => $method, path => $path,
			    id => $id, timestamp => $h{'webhook-timestamp'},
			    signature => $h{'webhook-signature'},
			    content_type => $h{'content-type'}, body => $body,
			    status => $status, time => time }), "\n";
			close $fh;
			print $c "HTTP/1.1 $status X\r\n${extra}Content-Length: 0\r\n"
			    . "Connection: close\r\n\r\n";
			last;
		}
	};
	alarm 0;
	close $c;
}

# Every request recorded so far, oldest first.
sub requests {
	my ($r) = @_;
	open my $fh, '<', $r->{log} or return [];
	my @q = map { $json->decode($_) } grep { /\S/ } <$fh>;
	return \@q;
}

# Restart the stack's API with SCENEGEN_WEBHOOK_ALLOW_PRIVATE=1, so that
# it takes the receiver's loopback URLs; at exit it is restarted as it was.
my $api_changed;
my $api_pid = $$;
sub api_allow_private {
	require Scenegen::Test;
	$ENV{SCENEGEN_WEBHOOK_ALLOW_PRIVATE} = 1;
	Scenegen::Test::stack_part('stop', 'api');
	Scenegen::Test::stack_part('start', 'api');
	$api_changed = 1;
}
END {
	if ($api_changed && $$ == $api_pid) {
		local $?;
		delete $ENV{SCENEGEN_WEBHOOK_ALLOW_PRIVATE};
		eval {
			Scenegen::Test::stack_part('stop', 'api');
			Scenegen::Test::stack_part('start', 'api');
		};
	}
}

sub stop {
	my ($r) = @_;
	return unless $r->{pid};
	local $?;	# called from END: keep the test's exit status
	kill 'TERM', $r->{pid};
	waitpid $r->{pid}, 0;
	delete $r->{pid};
}

1;
