package Scenegen::Browser;
# A headless Chromium driven over the DevTools protocol on a pipe
# (--remote-debugging-pipe: commands on fd 3, answers on fd 4, each a JSON
# text ending in a NUL byte). Enough for the dashboard's test: open a
# page, wait for it to load, run an expression, take a screenshot.
use strict;
use warnings;
use IO::Handle;
use IO::Select;
use JSON::PP;
use MIME::Base64 qw(decode_base64);
use POSIX ();
use Time::HiRes qw(time);

my $json = JSON::PP->new->canonical;

# Start Chromium with a profile in $dir. undef and the reason when it
# cannot start (not installed, or no answer).
sub start {
	my ($class, $dir) = @_;
	my ($bin) = grep { -x } qw(/usr/bin/chromium /usr/bin/chromium-browser);
	return (undef, 'chromium is not installed (make deps installs it)')
	    unless $bin;
	pipe(my $cmd_r, my $cmd_w) or return (undef, "pipe: $!");
	pipe(my $ans_r, my $ans_w) or return (undef, "pipe: $!");
	my $pid = fork;
	return (undef, "fork: $!") unless defined $pid;
	if ($pid == 0) {
		close $cmd_w;
		close $ans_r;
		# Through high descriptors, so that 3 and 4 do not clobber
		# each other.
		my $a = POSIX::dup2(fileno $cmd_r, 20);
		my $b = POSIX::dup2(fileno $ans_w, 21);
		POSIX::dup2(20, 3);
		POSIX::dup2(21, 4);
		POSIX::close(20);
		POSIX::close(21);
		open STDOUT, '>', "$dir/chromium.log";
		open STDERR, '>&', \*STDOUT;
		no warnings 'exec';
		exec $bin, '--headless', '--no-sandbox', '--disable-gpu',
		    '--disable-dev-shm-usage', '--no-first-run',
		    '--no-default-browser-check', '--remote-debugging-pipe',
		    "--user-data-dir=$dir/profile", '--window-size=1200,900',
		    'about:blank';
		POSIX::_exit(127);
	}
	close $cmd_r;
	close $ans_w;
	$cmd_w->autoflush(1);
	my $self = bless { pid => $pid, w => $cmd_w, r => $ans_r, id => 0,
	    buf => '', events => [], dir => $dir }, $class;
	my $v = eval { $self->call('Browser.getVersion', {}, undef, 30) };
	unless ($v) {
		$self->stop;
		my $log = '';
		if (open my $fh, '<', "$dir/chromium.log") {
			local $/;
			$log = <$fh> // '';
		}
		$log =~ s/\s+/ /g;
		return (undef, 'chromium did not answer: ' . ($@ || '')
		    . substr($log, 0, 300));
	}
	$self->{version} = $v->{product};
	my $t = $self->call('Target.createTarget', { url => 'about:blank' });
	my $s = $self->call('Target.attachToTarget',
	    { targetId => $t->{targetId}, flatten => JSON::PP::true });
	$self->{session} = $s->{sessionId};
	$self->call('Page.enable', {}, $self->{session});
	return ($self, undef);
}

sub version { $_[0]{version} }

# One message from Chromium, or undef after $timeout seconds.
sub _read {
	my ($self, $timeout) = @_;
	my $end = time + $timeout;
	my $sel = IO::Select->new($self->{r});
	while (1) {
		my $i = index $self->{buf}, "\0";
		if ($i >= 0) {
			my $m = substr $self->{buf}, 0, $i;
			substr($self->{buf}, 0, $i + 1) = '';
			return $json->decode($m);
		}
		my $left = $end - time;
		return undef if $left <= 0;
		next unless $sel->can_read($left);
		my $n = sysread $self->{r}, my $chunk, 1 << 20;
		die "chromium closed its pipe\n" unless $n;
		$self->{buf} .= $chunk;
	}
}

# Send a command and wait for its answer; dies on an error answer.
sub call {
	my ($self, $method, $params, $session, $timeout) = @_;
	my $id = ++$self->{id};
	my %m = (id => $id, method => $method, params => $params // {});
	$m{sessionId} = $session if defined $session;
	print { $self->{w} } $json->encode(\%m), "\0";
	while (1) {
		my $m = $self->_read($timeout // 20);
		die "no answer to $method\n" unless $m;
		if (!defined $m->{id}) {
			push @{ $self->{events} }, $m;
			next;
		}
		next unless $m->{id} == $id;
		die "$method: $m->{error}{message}\n" if $m->{error};
		return $m->{result};
	}
}

# Wait for event $name (after any already queued); true when it came.
sub wait_event {
	my ($self, $name, $timeout) = @_;
	my $end = time + ($timeout // 20);
	while (1) {
		while (my $ev = shift @{ $self->{events} }) {
			return 1 if ($ev->{method} // '') eq $name;
		}
		my $left = $end - time;
		return 0 if $left <= 0;
		my $m = $self->_read($left) or return 0;
		push @{ $self->{events} }, $m unless defined $m->{id};
	}
}

# Run a JavaScript expression in the page; its value.
sub eval_js {
	my ($self, $expr) = @_;
	my $r = $self->call('Runtime.evaluate', { expression => $expr,
	    returnByValue => JSON::PP::true }, $self->{session});
	return $r->{result}{value};
}

# Open $url and wait for its load event.
sub open_url {
	my ($self, $url) = @_;
	$self->{events} = [];
	$self->call('Page.navigate', { url => $url }, $self->{session});
	return $self->wait_event('Page.loadEventFired');
}

# Run $expr (which makes the page go elsewhere: a click, a submit) and
# wait for the next page's load event.
sub act {
	my ($self, $expr) = @_;
	$self->{events} = [];
	$self->eval_js($expr);
	return $self->wait_event('Page.loadEventFired');
}

sub html { $_[0]->eval_js('document.documentElement.outerHTML') }
sub url { $_[0]->eval_js('location.href') }

# A PNG of the whole page to $file; its size in bytes.
sub screenshot {
	my ($self, $file) = @_;
	my $r = $self->call('Page.captureScreenshot', { format => 'png',
	    captureBeyondViewport => JSON::PP::true }, $self->{session}, 30);
	open my $fh, '>:raw', $file or die "$file: $!";
	print $fh decode_base64($r->{data});
	close $fh;
	return -s $file;
}

sub stop {
	my ($self) = @_;
	return unless $self->{pid};
	eval {
		print { $self->{w} } $json->encode({ id => ++$self->{id},
		    method => 'Browser.close', params => {} }), "\0";
	};
	close $self->{w};
	my $end = time + 5;
	while (time < $end) {
		last if waitpid($self->{pid}, POSIX::WNOHANG()) > 0;
		select undef, undef, undef, 0.1;
	}
	if (kill 0, $self->{pid}) {
		kill 'KILL', $self->{pid};
		waitpid $self->{pid}, 0;
	}
	$self->{pid} = 0;
}

sub DESTROY { $_[0]->stop }

1;
