package Scenegen::Pg;
# Server-wide PostgreSQL settings a test changes for a while (ALTER SYSTEM
# and a reload, as a superuser), each put back when the test ends,
# whether it passes, fails or dies.
use strict;
use warnings;
use Exporter 'import';
use Scenegen::Test qw(sql1 sql_on pg_admin_url wait_until);

our @EXPORT_OK = qw(pg_system_set pg_read_only);

my %original;	# name => what SHOW said before the test changed it

# Set the server's setting $name to $value (undef: back to what it was)
# for every session; true once a new session sees it.
sub pg_system_set {
	my ($name, $value) = @_;
	$original{$name} //= sql1('SELECT current_setting(:\'n\')', n => $name);
	my $want = $value // $original{$name};
	# The session itself may write even while writes are refused.
	sql_on(pg_admin_url('postgres'),
	    "SET default_transaction_read_only = off;\n"
	    . (defined $value ? "ALTER SYSTEM SET :\"n\" = :'v';\n"
	    : "ALTER SYSTEM RESET :\"n\";\n")
	    . "SELECT pg_reload_conf();\n", n => $name,
	    (defined $value ? (v => $value) : ()));
	delete $original{$name} unless defined $value;
	return wait_until(sub {
	    sql1('SELECT current_setting(:\'n\')', n => $name) eq $want }, 10);
}

# Make PostgreSQL refuse writes (default_transaction_read_only: SQLSTATE
# 25006, what a standby answers) or take them again.
sub pg_read_only {
	my ($on) = @_;
	return pg_system_set('default_transaction_read_only',
	    $on ? 'on' : undef);
}

END {
	local $?;
	for my $name (sort keys %original) {
		eval { pg_system_set($name, undef) };
		warn "could not restore $name: $@" if $@;
	}
}

1;
