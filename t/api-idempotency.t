#!/usr/bin/perl
# Idempotency-Key: the same key from the same user returns the original
# record (same record_id, 202), makes no second row and no second job; a
# different key or no key makes a new record; the same key from another user
# is independent of it; several requests with one key at once make one row.
use strict;
use warnings;
use Test::More;
use Scenegen::Test qw(api_post new_chapter new_uuid count_rows sql1
    redis_monitor_start redis_monitor_stop stream_has_job);

my ($user, $chapter, $token) = new_chapter();
my ($user2, $chapter2, $token2) = new_chapter();
my $key = 'idem-' . new_uuid();
my $body = { scene_description => 'A young wizard discovering magic',
    style => 'cinematic', aspect_ratio => '16:9' };

sub post_key {
	my ($tok, $chap, $k, %o) = @_;
	return api_post(token => $tok, chapter => $chap, scene => $o{scene} // 2,
	    body => $o{body} // $body,
	    headers => defined $k ? { 'Idempotency-Key' => $k } : {});
}
sub rid { (($_[0]{json} // {})->{record_id}) // '' }

my $mon = redis_monitor_start();
my $a1 = post_key($token, $chapter, $key);
is($a1->{status}, 202, 'first request with a key: 202') or diag $a1->{content};
my $id = rid($a1);
my $a2 = post_key($token, $chapter, $key);
is($a2->{status}, 202, 'same key again: 202') or diag $a2->{content};
is(rid($a2), $id, 'same key again: the same record_id');
is(($a2->{json} // {})->{scene_number}, 2, 'same key again: the same scene_number');
is(($a2->{json} // {})->{status}, 'queued', 'same key again: status queued');
my $a3 = post_key($token, $chapter, $key);
is(rid($a3), $id, 'a third time: still the same record_id');
my $cmds = redis_monitor_stop($mon);
is(count_rows(chapter => $chapter, user => $user), 1, 'one row for the key');
is(stream_has_job($id, $cmds), 1, 'one job enqueued for it (XADD seen once)')
    or diag join("\n", grep { /XADD/i } @$cmds);
ok(stream_has_job($id) <= 1, 'at most one entry for it in the stream');

# Different key, or none: new records.
my $b = post_key($token, $chapter, "$key-other");
is($b->{status}, 202, 'a different key: 202');
isnt(rid($b), $id, 'a different key: a new record_id');
my $c = post_key($token, $chapter, undef);
is($c->{status}, 202, 'no key: 202');
ok(rid($c) ne $id && rid($c) ne rid($b), 'no key: a new record_id');
is(count_rows(chapter => $chapter, user => $user), 3, 'three rows now');

# Another user with the same key: their own record.
my $o1 = post_key($token2, $chapter2, $key);
is($o1->{status}, 202, 'same key, another user: 202') or diag $o1->{content};
my $oid = rid($o1);
ok($oid ne '' && $oid ne $id, 'same key, another user: a record of their own');
is(sql1("SELECT user_id || ' ' || chapter_id FROM image_generations "
    . "WHERE id = :'id'", id => $oid || new_uuid()), "$user2 $chapter2",
    'that record is theirs, in their chapter');
is(count_rows(user => $user2), 1, 'another user: one row');

# Keys stay per user.
is(rid(post_key($token2, $chapter2, $key)), $oid,
    'the other user repeating the key gets their record');
is(rid(post_key($token, $chapter, $key)), $id,
    'the first user repeating the key still gets theirs');
is(count_rows(chapter => $chapter, user => $user), 3, 'first user: still 3 rows');
is(count_rows(user => $user2), 1, 'other user: still 1 row');

# A key is remembered for 24 h: once the original is older, the key makes
# a new record (the old one stays).
{
	my $k = 'old-' . new_uuid();
	my $first = post_key($token, $chapter, $k, scene => 7);
	is($first->{status}, 202, 'a key used now: 202');
	my $old = rid($first);
	sql1("UPDATE image_generations SET created_at = now() - interval '25 hours' "
	    . "WHERE id = :'id'", id => $old || new_uuid());
	my $later = post_key($token, $chapter, $k, scene => 7);
	is($later->{status}, 202, 'the same key 25 h later: 202')
	    or diag $later->{content};
	ok(rid($later) ne '' && rid($later) ne $old,
	    'the same key 25 h later: a new record_id');
	is(sql1("SELECT count(*) FROM image_generations WHERE chapter_id = :'c' "
	    . "AND scene_number = 7", c => $chapter), 2,
	    'the old record is kept, the new one added');
	is(rid(post_key($token, $chapter, $k, scene => 7)), rid($later),
	    'and the key now stands for the new record');
}

# Several at once with a fresh key: one record, every answer 202 with it.
{
	my $k = 'race-' . new_uuid();
	my $n = 8;
	my @kids;
	for my $i (1 .. $n) {
		pipe my $rd, my $wr or die "pipe: $!";
		my $pid = fork // die "fork: $!";
		if (!$pid) {
			close $rd;
			my $r = post_key($token, $chapter, $k, scene => 5);
			print $wr "$r->{status} " . rid($r) . "\n";
			close $wr;
			require POSIX;
			POSIX::_exit(0);
		}
		close $wr;
		push @kids, [$pid, $rd];
	}
	my @answers;
	for my $kid (@kids) {
		my $fh = $kid->[1];
		my $line = <$fh> // '';
		chomp $line;
		push @answers, $line;
		waitpid $kid->[0], 0;
	}
	my %statuses = map { (split / /)[0] => 1 } @answers;
	my %ids = map { ((split / /)[1] // '') => 1 } @answers;
	is_deeply([ sort keys %statuses ], [202],
	    "$n concurrent requests with one key: all 202")
	    or diag join("\n", @answers);
	is(scalar keys %ids, 1, "$n concurrent requests: one record_id")
	    or diag join("\n", @answers);
	is(sql1("SELECT count(*) FROM image_generations WHERE chapter_id = :'c' "
	    . "AND scene_number = 5", c => $chapter), 1,
	    "$n concurrent requests: one row");
}

done_testing();
