#!/usr/bin/perl
# The FastCGI socket is the API's back door: whoever connects to it speaks
# FastCGI and sets any parameter (REMOTE_USER, HTTP_AUTHORIZATION, ...)
# with nginx out of the way. It must be mode 0660 or stricter, group
# www-data (nginx's user), and another local user must not connect.
use strict;
use warnings;
use Test::More;
use Scenegen::Test qw(stack_env);

plan skip_all => 'needs root (runuser)' if $> != 0;

my $env = stack_env();
my $dir = $env->{STACK_DIR};
my $sock = "$dir/api.sock";

my @st = lstat $sock;
if (!ok(@st && -S _, "$sock is a socket")) {
	done_testing();
	exit;
}
my $mode = $st[2] & 07777;
ok(($mode & 0007) == 0, sprintf('no permission bits for others (mode %04o)',
    $mode));
ok(($mode & ~0660 & 07777) == 0, sprintf('mode %04o is 0660 or stricter',
    $mode));
my $group = getgrgid($st[5]) // $st[5];
is($group, 'www-data', 'its group is www-data');
my $owner = getpwuid($st[4]) // $st[4];
isnt($owner, 'nobody', "its owner ($owner) is not nobody");

# Nobody may swap the socket for another: its folder is not writable by
# others (or is sticky).
my @dst = stat $dir;
my $dmode = $dst[2] & 07777;
ok(($dmode & 0002) == 0 || ($dmode & 01000),
    sprintf('%s (mode %04o) is not writable by others', $dir, $dmode));

# connect() as another user, in a child with a time limit: prints the
# errno name, exits 0 when connected.
sub connect_as {
	my ($user) = @_;
	my $code = 'use IO::Socket::UNIX; use Socket; use Errno;'
	    . ' my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM,'
	    . ' Peer => $ARGV[0]); if ($s) { print "connected"; exit 0 }'
	    . ' my ($e) = grep { $!{$_} } keys %!;'
	    . ' print $e // "error $!"; exit 1';
	my $pid = open(my $fh, '-|');
	die "fork: $!" unless defined $pid;
	if (!$pid) {
		open STDERR, '>&', \*STDOUT;
		exec 'timeout', '5', 'runuser', '-u', $user, '--', 'perl', '-e',
		    $code, $sock;
		exit 127;
	}
	local $/;
	my $out = <$fh> // '';
	close $fh;
	chomp $out;
	return ($? >> 8, $out);
}

my ($rc, $out) = connect_as('nobody');
isnt($rc, 0, 'nobody cannot connect to the FastCGI socket') or diag $out;
like($out, qr/\bEACCES\b/, 'the refusal is "permission denied"')
    or diag "got: $out";

# The control: nginx's user can connect (so the refusal above is the mode,
# not a broken test).
($rc, $out) = connect_as('www-data');
is($rc, 0, 'www-data can connect (nginx reaches the API)') or diag $out;

done_testing();
