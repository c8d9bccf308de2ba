#!/usr/bin/perl
# PostgreSQL down for longer than a lease while creates are on the wire,
# with two daemons. Each daemon's create is accepted by the provider but
# its id cannot be recorded, and no lease can be renewed: every lease
# lapses. When PostgreSQL is back, the holders must land their ids before
# the other daemon takes the records over (taking over would pay the
# provider again): a daemon back from losing PostgreSQL gives lapsed
# leases one lease time, and renews its own first. Every record is
# created exactly once at the stand-in and completes with one attempt.
use strict;
use warnings;
use Test::More;
use Scenegen::Test qw(daemon_test_setup daemon_start daemon_wait_ready
    daemon_log daemon_stop insert_jobs id_list sql sql1 part_down part_up
    wait_until wait_all_final row_states daemons_sanitizer_clean
    standin_req standin_creates_all);

my ($user, $chapter) = daemon_test_setup();
standin_req('/_standin/reset', '');
END { eval { standin_req('/_standin/reset', '') } }

my $lease = 3;
my @d = map { daemon_start(name => "outage-$_",
    SCENEGEN_LEASE_SECONDS => $lease) } 1 .. 2;
ok(daemon_wait_ready($_), "daemon $_->{name} ready") or diag daemon_log($_)
    for @d;
sub logs { join "\n", map { daemon_log($_) } @d }

# Creates answered after 3 s: long enough to stop PostgreSQL meanwhile.
is(standin_req('/_standin/config', { delay_ms => 3000 })->{delay_ms}, 3000,
    'the stand-in answers after 3 s');
my @ids = insert_jobs($user, $chapter, 6,
    prompt => 'outage %d [standin:eta=0.5]');
my $in = id_list(@ids);
ok(wait_until(sub { sql1("SELECT count(*) FROM image_generations WHERE id"
    . " IN ($in) AND status = 'in_progress'") == @ids }, 20),
    'every job claimed, its create on the wire') or diag logs();
is(sql1("SELECT count(*) FROM image_generations WHERE id IN ($in) AND"
    . ' provider_request_id IS NOT NULL'), 0, 'no provider id recorded yet');

part_down('postgres');
standin_req('/_standin/config', { delay_ms => 0 });
# Down past a lease: the ids cannot be written, no lease renewed.
sleep($lease + 2);
part_up('postgres');

ok(wait_all_final(\@ids, 90), 'every job reached a final state')
    or diag explain row_states(\@ids);
is_deeply(row_states(\@ids), { completed => scalar @ids },
    'every job completed');
my $creates = standin_creates_all();
my @twice = grep { ($creates->{$_} // 0) != 1 } @ids;
is(scalar @twice, 0, 'each record was created once at the provider')
    or diag explain { map { $_ => $creates->{$_} } @twice };
my $attempts = sql("SELECT id, attempts FROM image_generations WHERE id IN"
    . " ($in) ORDER BY id");
my @again = grep { (split /\t/)[1] != 1 } split /\n/, $attempts;
is(scalar @again, 0, 'no record was claimed a second time') or diag $attempts;
like(logs(), qr/database unavailable; trying again|trying again/,
    'a holder retried its write while PostgreSQL was down');

is(daemon_stop($_), 0, "daemon $_->{name} stops cleanly") for @d;
daemons_sanitizer_clean();
done_testing();
