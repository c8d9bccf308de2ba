package Scenegen::Raw;
# Raw-socket HTTP for the hostile-* tests: send exact bytes to the stack's
# nginx, split what comes back into answers, and judge each hostile
# exchange (no hang, no 5xx, a JSON {"detail", "code"} error or a close).
# Every answer is also searched for the JWT secret and the API key:
# no_leaks_ok() at the end of a file checks that none held either.
use strict;
use warnings;
use Exporter 'import';
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Test::More;
use Time::HiRes qw(time);
use Scenegen::Test qw(stack_env);

our @EXPORT_OK = qw($TIMEOUT esc parse_answers exchange hostile_ok
    json_error_ok no_leaks_ok api_log_mark no_worker_died_ok
    no_sanitizer_report_ok);

our $TIMEOUT = 5;    # seconds an exchange may take in all
my $json = JSON::PP->new;
my @LEAKED;    # requests whose answer held a secret

# Host and port of nginx, from the stack's BASE_URL.
my ($HOST, $PORT);
sub target {
	return ($HOST, $PORT) if defined $PORT;
	my $env = stack_env();
	($HOST, $PORT) = $env->{BASE_URL} =~ m{^https?://([^/:]+):(\d+)}
	    or die "BASE_URL $env->{BASE_URL}?\n";
	return ($HOST, $PORT);
}

# Printable form of bytes for diagnostics (first $max bytes).
sub esc {
	my ($s, $max) = @_;
	$max //= 300;
	my $more = length($s) > $max ? '...(' . length($s) . ' bytes)' : '';
	$s = substr($s, 0, $max);
	$s =~ s/([^\x20-\x7e])/sprintf('\\x%02x', ord $1)/ge;
	return $s . $more;
}

# Split what nginx sent into answers: [{ status, headers, body }], the
# status undef for an HTTP/0.9 answer (a body and nothing else).
sub parse_answers {
	my ($raw) = @_;
	my @a;
	while (length $raw) {
		if ($raw !~ m{^HTTP/\d\.\d \d{3}}) {
			push @a, { status => undef, headers => {}, body => $raw };
			last;
		}
		my $end = index($raw, "\r\n\r\n");
		if ($end < 0) {
			push @a, { status => undef, headers => {}, body => $raw,
			    truncated => 1 };
			last;
		}
		my $head = substr($raw, 0, $end);
		$raw = substr($raw, $end + 4);
		my ($first, @lines) = split /\r\n/, $head;
		my %h;
		for (@lines) {
			my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
			$h{lc $k} = $v;
		}
		my ($status) = $first =~ m{^HTTP/\d\.\d (\d{3})};
		my $body;
		if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
			$body = '';
			while ($raw =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
				my $n = hex $1;
				$body .= substr($raw, 0, $n, '');
				$raw =~ s/^\r\n//;
				last if $n == 0;
			}
			$raw =~ s/^(?:[^\r\n]+\r\n)*\r\n//;
		} elsif (defined $h{'content-length'} && $status !~ /^(1|204|304)/) {
			$body = substr($raw, 0, $h{'content-length'}, '');
		} elsif ($status =~ /^(1|204|304)/) {
			$body = '';
		} else {
			($body, $raw) = ($raw, '');
		}
		# Interim answers (100 Continue) are not the answer.
		push @a, { status => $status, headers => \%h, body => $body }
		    unless $status =~ /^1/;
	}
	return \@a;
}

# Send $bytes to nginx and read until it closes, $TIMEOUT s at most in all.
# half_close => 1 shuts our sending side after the bytes.
sub exchange {
	my ($bytes, %o) = @_;
	local $SIG{PIPE} = 'IGNORE';
	my %r = (raw => '', timeout => 0, request => $bytes);
	my ($host, $port) = target();
	my $env = stack_env();
	my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
	    Proto => 'tcp', Timeout => $TIMEOUT);
	if (!$s) {
		$r{error} = "connect: $!";
		$r{answers} = [];
		return \%r;
	}
	binmode $s;
	$s->blocking(0);
	my $sel = IO::Select->new($s);
	my $deadline = time + $TIMEOUT;
	my $off = 0;
	while ($off < length $bytes) {
		my $left = $deadline - time;
		if ($left <= 0 || !$sel->can_write($left)) {
			$r{timeout} = 1;
			last;
		}
		my $n = syswrite($s, $bytes, 65536, $off);
		if (!defined $n) {
			next if $!{EAGAIN} || $!{EINTR};
			$r{write_error} = "$!";	# nginx answered and closed early
			last;
		}
		$off += $n;
	}
	shutdown($s, 1) if $o{half_close};
	while (!$r{timeout}) {
		my $left = $deadline - time;
		if ($left <= 0 || !$sel->can_read($left)) {
			$r{timeout} = 1;
			last;
		}
		my $n = sysread($s, my $buf, 65536);
		if (!defined $n) {
			next if $!{EAGAIN} || $!{EINTR};
			$r{read_error} = "$!";
			last;
		}
		last if $n == 0;
		$r{raw} .= $buf;
	}
	close $s;
	$r{answers} = parse_answers($r{raw});
	# No answer, error or not, may carry the JWT secret or the API key.
	for my $needle ($env->{SUPABASE_JWT_SECRET}, 'standin-key') {
		push @LEAKED, esc($bytes, 120) if defined $needle
		    && length $needle && index($r{raw}, $needle) >= 0;
	}
	return \%r;
}

# The verdict on one hostile exchange: no hang, and every answer a 4xx with
# a JSON {"detail", "code"} body (or one of the statuses in allow), or no
# answer at all (closed). want => N demands exactly status N.
sub hostile_ok {
	my ($name, $r, %o) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $ok = 1;
	my $why = sub {
		diag "$name\n  sent: " . esc($r->{request}) . "\n  got:  "
		    . esc($r->{raw}, 600)
		    . ($r->{timeout} ? "\n  (no answer or close within ${TIMEOUT} s)" : '');
	};
	$ok &= ok(!$r->{timeout} && !$r->{error},
	    "$name: answered or closed within ${TIMEOUT} s")
	    or $why->();
	my @a = @{ $r->{answers} };
	if (!@a) {
		if (defined $o{want}) {
			$ok &= fail("$name: answered $o{want}");
			$why->();
		} else {
			pass("$name: closed without an answer");
		}
		return $ok;
	}
	for my $i (0 .. $#a) {
		my $a = $a[$i];
		my $label = @a > 1 ? "$name (answer " . ($i + 1) . ')' : $name;
		my $st = $a->{status};
		if (!defined $st) {
			# HTTP/0.9: no status line can be sent; the body alone
			# must still be one of our JSON answers, never a page.
			my $j = eval { $json->decode($a->{body}) };
			$ok &= ok(ref $j eq 'HASH', "$label: the HTTP/0.9 answer "
			    . 'is a JSON object') or $why->();
			if (ref $j eq 'HASH' && exists $j->{detail}) {
				$ok &= ok(defined $j->{code} && length $j->{code},
				    "$label: the HTTP/0.9 error has a code");
			}
			next;
		}
		my @allow = @{ $o{allow} // [] };
		if (defined $o{want}) {
			$ok &= is($st, $o{want}, "$label: status $o{want}")
			    or $why->();
		} else {
			$ok &= ok(($st >= 400 && $st < 500) || grep({ $_ == $st } @allow),
			    "$label: 4xx" . (@allow ? " or @allow" : '') . " (got $st)")
			    or $why->();
		}
		next if $st < 400;
		$ok &= json_error_ok($label, $a) or $why->();
	}
	return $ok;
}

# A JSON error answer: JSON Content-Type, an object with detail and code.
sub json_error_ok {
	my ($label, $a) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $ok = 1;
	$ok &= like($a->{headers}{'content-type'} // '',
	    qr{^application/json\b}i, "$label: JSON Content-Type");
	my $j = eval { $json->decode($a->{body}) };
	$ok &= ok(ref $j eq 'HASH' && defined $j->{detail} && !ref $j->{detail}
	    && length $j->{detail} && defined $j->{code} && !ref $j->{code}
	    && length $j->{code}, "$label: body is JSON with detail and code");
	return $ok;
}

# Test: no answer of exchange() so far carried the JWT secret or the API key.
sub no_leaks_ok {
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $ok = is(scalar @LEAKED, 0, 'no answer held the JWT secret or the API key')
	    or diag join "\n", @LEAKED;
	return $ok;
}

# Where the stack's api.log ends now, for no_worker_died_ok().
sub api_log_mark {
	my $log = stack_env()->{STACK_DIR} . '/api.log';
	return { log => $log, start => -s $log // 0 };
}

# Test: api.log, since $mark, tells of no worker killed or failed (the pool
# logs every abnormal worker exit).
sub no_worker_died_ok {
	my ($mark) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $log_text = '';
	if (open my $fh, '<', $mark->{log}) {
		binmode $fh;
		seek $fh, $mark->{start}, 0;
		local $/;
		$log_text = <$fh> // '';
	}
	my @deaths = grep { /worker \d+ (killed by signal|exited with status)/ }
	    split /\n/, $log_text;
	my $ok = is(scalar @deaths, 0, 'no worker died during the test (api.log)')
	    or diag join "\n", @deaths;
	return $ok;
}

# Test, in a sanitizer build that writes its reports to files
# (ASAN_OPTIONS log_path): no report written since $t0.
sub no_sanitizer_report_ok {
	my ($t0) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	if (($ENV{ASAN_OPTIONS} // '') =~ /(?:^|:)log_path=([^:]+)/) {
		my @reports = grep { (stat $_)[9] >= int($t0) } glob("$1.*");
		my $ok = is(scalar @reports, 0, 'no sanitizer report') or diag "@reports";
		return $ok;
	}
	return 1;
}

1;
