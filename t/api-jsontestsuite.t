#!/usr/bin/perl
# Every file of JSONTestSuite's test_parsing (y_ must parse, n_ must not, i_
# either way) POSTed as the body with a valid token: each answer is a 4xx or
# a 202 with a JSON body, never a 5xx; no n_ file is ever accepted; the rows
# of the chapter are exactly the 202s; the API still answers afterwards.
use strict;
use warnings;
use Test::More;
use JSON::PP;
use Scenegen::Test qw(api_post new_chapter count_rows project_dir http_req);

my $dir = project_dir() . '/../shared/testdata/JSONTestSuite/test_parsing';
opendir my $dh, $dir or plan skip_all => "no JSONTestSuite at $dir";
my @files = sort grep { /^[yni]_.*\.json\z/ } readdir $dh;
closedir $dh;
ok(@files > 300, scalar(@files) . ' JSONTestSuite files');

my ($user, $chapter, $token) = new_chapter();
my $strict = JSON::PP->new->utf8->allow_nonref;
my (%count, %status, $accepted, @bad);
for my $f (@files) {
	open my $fh, '<:raw', "$dir/$f" or die "$f: $!";
	local $/;
	my $body = <$fh> // '';
	close $fh;
	my $kind = substr $f, 0, 1;
	my $r = api_post(token => $token, chapter => $chapter, body => $body);
	my $st = $r->{status};
	$status{$st}++;
	$count{"$kind $st"}++;
	$accepted++ if $st == 202;
	my $ok_status = $st == 202 || ($st >= 400 && $st < 500);
	my $ok_json = ref $r->{json} eq 'HASH'
	    && ($st == 202 ? defined $r->{json}{record_id}
	    : defined $r->{json}{detail} && defined $r->{json}{code});
	if (!$ok_status || !$ok_json || ($kind eq 'n' && $st == 202)) {
		push @bad, sprintf '%s (%d bytes): %s %s', $f, length $body, $st,
		    substr($r->{content} // '', 0, 120);
	}
	ok($ok_status, "$f: 202 or 4xx") or diag "got $st";
	my $code = ref $r->{json} eq 'HASH' ? $r->{json}{code} // '' : '';
	if ($kind eq 'n' && $st == 400) {
		is($code, 'invalid_json', "$f: not JSON -> invalid_json");
	} elsif ($kind eq 'y' && $st != 202) {
		# valid JSON: an object lacks scene_description, anything else
		# is not the object the endpoint takes
		my $v = eval { $strict->decode($body) };
		my $want = ref $v eq 'HASH' ? 'invalid_field' : 'invalid_json';
		if ($body =~ /\\u0000/) {
			# U+0000 cannot be kept in PostgreSQL text (nor a C
			# string): refusing the text itself is fair too
			like($code, qr/\A(?:invalid_field|invalid_json)\z/,
			    "$f: valid JSON with U+0000 -> invalid_field or "
			    . 'invalid_json');
		} else {
			is($code, $want, "$f: valid JSON -> $want");
		}
	}
	ok($ok_json, "$f: a JSON answer") or diag substr($r->{content} // '', 0, 200);
	ok($st != 202, "$f: an n_ file is never accepted") if $kind eq 'n';
}
$accepted //= 0;
is(count_rows(chapter => $chapter, user => $user), $accepted,
    "rows for the chapter = number of 202s ($accepted)");
is($status{500} // 0, 0, 'no 500');
is(scalar(grep { $_ >= 500 } keys %status), 0, 'no 5xx at all');
diag 'answers: ' . join(', ', map { "$_: $status{$_}" } sort keys %status);
diag 'by kind: ' . join(', ', map { "$_ -> $count{$_}" } sort keys %count);
diag "not as they should be:\n  " . join("\n  ", @bad) if @bad;
is(http_req('GET', '/healthz')->{status}, 200, 'the API is healthy afterwards');
my $r = api_post(token => $token, chapter => $chapter,
    body => { scene_description => 'After the storm' });
is($r->{status}, 202, 'and still accepts a good request');

done_testing();
