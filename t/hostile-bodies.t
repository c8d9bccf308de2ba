#!/usr/bin/perl
# Hostile POST bodies: NUL bytes and invalid UTF-8 (overlong forms,
# surrogates, truncated sequences) in scene_description and elsewhere,
# nesting far past any sane depth (inside and above the 16 KiB limit),
# huge numbers, duplicate keys, byte order marks, UTF-16/32 bodies,
# "\u0000" and lone surrogate escapes. DESIGN.md promise 3: each gets a 4xx
# JSON error (or 202 where the body is genuinely valid per SPEC.md), never a
# 5xx or a hang; no row unless 202, and what a 202 stored is what was
# validated (no duplicate-key split, no truncation at a NUL).
use strict;
use warnings;
use Test::More;
use JSON::PP;
use Time::HiRes qw(time);
use Scenegen::Test qw(new_chapter count_rows sql1 api_pids);
use Scenegen::Raw qw(esc exchange hostile_ok
    no_leaks_ok api_log_mark no_worker_died_ok no_sanitizer_report_ok);

my $json = JSON::PP->new;
my $t0 = time;

# --- the requests ------------------------------------------------------------

my ($user, $chapter, $token) = new_chapter();
my $P = "/api/v1/chapters/$chapter/images/scenes/1";
my $rows = 0;

sub post {
	my ($body, %o) = @_;
	my $ct = $o{content_type} // 'application/json';
	return exchange("POST $P HTTP/1.1\r\nHost: localhost\r\n"
	    . "Connection: close\r\nAuthorization: Bearer $token\r\n"
	    . "Content-Type: $ct\r\nContent-Length: " . length($body)
	    . "\r\n\r\n" . $body);
}

# The stored row of a 202 answer: {prompt, style, aspect_ratio, script_id}.
sub stored {
	my ($a) = @_;
	my $j = eval { $json->decode($a->{body}) } // {};
	my $id = $j->{record_id} // return {};
	my %r;
	for my $col (qw(prompt style aspect_ratio script_id)) {
		$r{$col} = sql1("SELECT coalesce(${col}::text, '<null>') FROM "
		    . "image_generations WHERE id = :'id'", id => $id);
	}
	return \%r;
}

# One hostile body. $expect: 'json' (400 invalid_json), 'field' (400
# invalid_field), 'reject' (400, either code), 'accept' (202), 'either'
# (202, or a 4xx JSON error), 'large' (413). $check gets the stored row of
# a 202 and returns a list of [ok, name] pairs.
sub body_case {
	my ($name, $body, $expect, %o) = @_;
	my $r = post($body, %o);
	my $a = $r->{answers}[0] // {};
	my $st = $a->{status} // 0;
	my %want = (json => 400, field => 400, reject => 400, accept => 202,
	    large => 413);
	if ($expect eq 'either') {
		hostile_ok($name, $r, allow => [202]);
	} else {
		hostile_ok($name, $r, want => $want{$expect});
	}
	if ($expect eq 'json' || $expect eq 'field') {
		my $code = $expect eq 'json' ? 'invalid_json' : 'invalid_field';
		my $j = eval { $json->decode($a->{body} // '') } // {};
		is(ref $j eq 'HASH' ? $j->{code} : undef, $code, "$name: code $code");
	}
	my $added = $st == 202 ? 1 : 0;
	$rows += $added;
	is(count_rows(user => $user), $rows,
	    "$name: " . ($added ? 'one row created' : 'no row created'));
	if ($added && $o{check}) {
		my $row = stored($a);
		for my $c ($o{check}->($row)) {
			ok($c->[0], "$name: $c->[1]")
			    or diag 'stored: ' . join(', ', map { "$_=" . esc($row->{$_}, 80) }
			    sort keys %$row);
		}
	}
	return $st;
}

# A body around one JSON string value (raw bytes) for scene_description.
sub desc { '{"scene_description": "' . $_[0] . '", "style": "cinematic"}' }

my ($api_parent, $api_workers) = api_pids();
my $log_mark = api_log_mark();

# --- NUL bytes -----------------------------------------------------------------

body_case('a raw NUL inside scene_description', desc("A wizard\x00 DROP"), 'json');
body_case('a raw NUL at the start of the body', "\x00" . desc('A wizard'), 'json');
body_case('a raw NUL after the object', desc('A wizard') . "\x00", 'json');
body_case('a raw NUL after the object, then more', desc('A wizard')
    . "\x00{\"scene_description\": \"other\"}", 'json');
body_case('a raw NUL inside a key', '{"scene_\x00description": "A wizard"}', 'json');
body_case('a raw NUL inside an unknown value',
    '{"scene_description": "A wizard", "x": "a' . "\x00" . 'b"}', 'json');
body_case('a raw NUL between tokens', '{"scene_description":' . "\x00"
    . '"A wizard"}', 'json');
body_case('a body of NUL bytes', "\x00" x 1000, 'json');

# --- invalid UTF-8 -------------------------------------------------------------

my %bad_utf8 = (
	'overlong slash (C0 AF)' => "\xc0\xaf",
	'overlong NUL (C0 80, modified UTF-8)' => "\xc0\x80",
	'overlong 3-byte (E0 80 AF)' => "\xe0\x80\xaf",
	'overlong 4-byte (F0 80 80 AF)' => "\xf0\x80\x80\xaf",
	'overlong 3-byte NUL (E0 80 80)' => "\xe0\x80\x80",
	'encoded high surrogate (ED A0 80)' => "\xed\xa0\x80",
	'encoded low surrogate (ED BF BF)' => "\xed\xbf\xbf",
	'CESU-8 surrogate pair' => "\xed\xa0\xbd\xed\xb8\x80",
	'truncated 2-byte (C3)' => "\xc3",
	'truncated 3-byte (E2 82)' => "\xe2\x82",
	'truncated 4-byte (F0 9F 98)' => "\xf0\x9f\x98",
	'lone continuation (80)' => "\x80",
	'lone continuation (BF)' => "\xbf",
	'above U+10FFFF (F4 90 80 80)' => "\xf4\x90\x80\x80",
	'F5 lead byte' => "\xf5\x80\x80\x80",
	'5-byte form (F8 88 80 80 80)' => "\xf8\x88\x80\x80\x80",
	'FE and FF' => "\xfe\xff",
	'Latin-1 e-acute (E9)' => "caf\xe9",
	'a lead byte then ASCII' => "\xe2AB",
);
for my $name (sort keys %bad_utf8) {
	my $b = $bad_utf8{$name};
	body_case("invalid UTF-8 in scene_description: $name",
	    desc("A wizard $b here"), 'json');
}
body_case('invalid UTF-8 at the very end of the body',
    desc('A wizard') . "\xe2\x82", 'json');
body_case('invalid UTF-8 in a key', '{"scene_' . "\xc0\xaf" . '": 1, '
    . '"scene_description": "A wizard"}', 'json');
body_case('invalid UTF-8 in style', '{"scene_description": "A wizard", '
    . '"style": "' . "\xed\xa0\x80" . '"}', 'json');
body_case('invalid UTF-8 in an unknown field', '{"scene_description": '
    . '"A wizard", "extra": "' . "\xff\xfe" . '"}', 'json');
body_case('invalid UTF-8 between tokens', '{"scene_description":' . "\xa0"
    . '"A wizard"}', 'json');
body_case('16 KiB of FF bytes', "\xff" x 16384, 'json');

# Valid multi-byte text is accepted and stored byte for byte; the length
# limit counts characters, not bytes.
my $emoji = "\xf0\x9f\x98\x80";    # U+1F600, 4 bytes
body_case('valid 2- to 4-byte UTF-8 in scene_description',
    desc("Caf\xc3\xa9 \xe2\x82\xac $emoji"), 'accept',
    check => sub { [ $_[0]{prompt} eq "Caf\xc3\xa9 \xe2\x82\xac $emoji",
	'stored byte for byte' ] });
body_case('2000 four-byte characters (8000 bytes)', desc($emoji x 2000),
    'accept', check => sub { [ $_[0]{prompt} eq $emoji x 2000,
	'stored whole' ] });
body_case('2001 four-byte characters', desc($emoji x 2001), 'field');
body_case('U+FEFF inside the string', desc("\xef\xbb\xbfA wizard"), 'accept');

# --- deep nesting ----------------------------------------------------------

body_case('16000 [ (unclosed, 16 KiB)', '[' x 16000, 'json');
body_case('8000-deep [[...]] (16 KiB)', '[' x 8000 . ']' x 8000, 'json');
body_case('3200 {"a": (unclosed, 16 KiB)', '{"a":' x 3200, 'json');
body_case('8000-deep array in an unknown field (16 KiB)',
    '{"scene_description": "A wizard", "deep": ' . '[' x 8000 . ']' x 8000
    . '}', 'either');
body_case('2700-deep object in an unknown field (16 KiB)',
    '{"scene_description": "A wizard", "deep": ' . '{"a":' x 2700 . '1'
    . '}' x 2700 . '}', 'either');
body_case('8000-deep array as scene_description',
    '{"scene_description": ' . '[' x 8000 . ']' x 8000 . '}', 'reject');
body_case('30-deep array in an unknown field', '{"scene_description": '
    . '"A wizard", "deep": ' . '[' x 30 . '1' . ']' x 30 . '}', 'accept');
body_case('100000 [ (above 16 KiB)', '[' x 100000, 'large');
body_case('100000-deep [[...]] (above 16 KiB)', '[' x 100000 . ']' x 100000,
    'large');
body_case('100000 {"a": (above 16 KiB)', '{"a":' x 100000, 'large');

# --- huge and odd numbers ----------------------------------------------------

body_case('1e999999 in an unknown field', '{"scene_description": "A wizard", '
    . '"n": 1e999999}', 'either');
body_case('-1e999999 in an unknown field', '{"scene_description": '
    . '"A wizard", "n": -1e999999}', 'either');
body_case('a 15000-digit integer in an unknown field',
    '{"scene_description": "A wizard", "n": ' . ('9' x 15000) . '}', 'either');
body_case('a 15000-digit fraction in an unknown field',
    '{"scene_description": "A wizard", "n": 0.' . ('1' x 15000) . '}',
    'either');
body_case('1e999 as scene_description', '{"scene_description": 1e999}', 'field');
body_case('a 40-digit number as scene_description',
    '{"scene_description": ' . ('1' x 40) . '}', 'field');
body_case('-0.0e-99999 as style', '{"scene_description": "A wizard", '
    . '"style": -0.0e-99999}', 'field');
body_case('a 30-digit number as script_id', '{"scene_description": '
    . '"A wizard", "script_id": 123456789012345678901234567890}', 'field');
body_case('16e9 as aspect_ratio', '{"scene_description": "A wizard", '
    . '"aspect_ratio": 16e9}', 'field');
for my $n ('01', '1.', '.5', '+1', '0x10', 'NaN', 'Infinity', '-Infinity',
    '1e', '1e+', '--1', '1.2.3', "1\x{00}") {
	body_case("the non-JSON number " . esc($n), '{"scene_description": '
	    . '"A wizard", "n": ' . $n . '}', 'json');
}

# --- duplicate keys ----------------------------------------------------------
# RFC 8259 leaves duplicates to the parser: refusing them or taking one is
# fine, but what is stored must be the value that was validated.

body_case('scene_description twice', '{"scene_description": "first", '
    . '"scene_description": "second"}', 'either', check => sub {
	[ $_[0]{prompt} eq 'first' || $_[0]{prompt} eq 'second',
	'stored one of the two values' ] });
body_case('scene_description valid, then empty', '{"scene_description": '
    . '"A wizard", "scene_description": ""}', 'either', check => sub {
	[ $_[0]{prompt} eq 'A wizard', 'stored the valid value' ] });
body_case('scene_description empty, then valid', '{"scene_description": "", '
    . '"scene_description": "A wizard"}', 'either', check => sub {
	[ $_[0]{prompt} eq 'A wizard', 'stored the valid value' ] });
body_case('aspect_ratio valid, then not', '{"scene_description": "A wizard", '
    . '"aspect_ratio": "16:9", "aspect_ratio": "1:0\'; --"}', 'either',
    check => sub { [ $_[0]{aspect_ratio} eq '16:9',
	'stored the valid aspect_ratio' ] });
body_case('aspect_ratio not, then valid', '{"scene_description": "A wizard", '
    . '"aspect_ratio": "999:1", "aspect_ratio": "1:1"}', 'either',
    check => sub { [ $_[0]{aspect_ratio} eq '1:1',
	'stored the valid aspect_ratio' ] });
my $sid = lc sql1('SELECT gen_random_uuid()');
body_case('script_id valid, then not', '{"scene_description": "A wizard", '
    . qq("script_id": "$sid", "script_id": "x' OR '1'='1"}), 'either',
    check => sub { [ $_[0]{script_id} eq $sid, 'stored the valid script_id' ] });
body_case('style valid, then 65 characters', '{"scene_description": '
    . '"A wizard", "style": "noir", "style": "' . ('s' x 65) . '"}', 'either',
    check => sub { [ $_[0]{style} eq 'noir', 'stored the valid style' ] });
body_case('1000 duplicate unknown keys', '{"scene_description": "A wizard", '
    . join(', ', map { '"k": ' . $_ } 1 .. 1000) . '}', 'either');

# --- byte order marks and other encodings --------------------------------

body_case('a UTF-8 BOM before the object', "\xef\xbb\xbf" . desc('A wizard'),
    'either', check => sub { [ $_[0]{prompt} eq 'A wizard', 'stored the text' ] });
body_case('a UTF-8 BOM between tokens', '{"scene_description":'
    . "\xef\xbb\xbf" . '"A wizard"}', 'json');
body_case('two UTF-8 BOMs', "\xef\xbb\xbf\xef\xbb\xbf" . desc('A wizard'), 'json');
my $ascii = desc('A wizard');
(my $u16le = $ascii) =~ s/(.)/$1\x00/gs;
(my $u16be = $ascii) =~ s/(.)/\x00$1/gs;
(my $u32le = $ascii) =~ s/(.)/$1\x00\x00\x00/gs;
body_case('UTF-16LE with a BOM', "\xff\xfe" . $u16le, 'json');
body_case('UTF-16BE with a BOM', "\xfe\xff" . $u16be, 'json');
body_case('UTF-16LE without a BOM', $u16le, 'json');
body_case('UTF-16BE without a BOM', $u16be, 'json');
body_case('UTF-32LE with a BOM', "\xff\xfe\x00\x00" . $u32le, 'json');
my $r = post("\xff\xfe" . $u16le,
    content_type => 'application/json; charset=utf-16');
hostile_ok('UTF-16LE labelled charset=utf-16', $r);
is(count_rows(user => $user), $rows, 'UTF-16LE labelled: no row created');

# --- escapes -------------------------------------------------------------------

body_case('\u0000 in scene_description', desc('A wizard\u0000 DROP'), 'reject');
body_case('\u0000 alone as scene_description', desc('\u0000'), 'reject');
body_case('\u0000 in style', '{"scene_description": "A wizard", '
    . '"style": "noir\u0000"}', 'reject');
body_case('\u0000 in script_id', '{"scene_description": "A wizard", '
    . '"script_id": "' . $sid . '\u0000"}', 'reject');
body_case('\u0000 in an unknown field', '{"scene_description": "A wizard", '
    . '"x": "\u0000"}', 'either');
body_case('\u0000 in a key', '{"scene_description\u0000": "A wizard"}', 'either');
my %lone = (
	'a lone high surrogate \ud800' => 'A \ud800 B',
	'a lone low surrogate \udc00' => 'A \udc00 B',
	'a high surrogate at the end' => 'A wizard \ud83d',
	'a high surrogate then a letter' => 'A \ud800\u0041 B',
	'two high surrogates' => 'A \ud800\ud800 B',
	'a reversed pair' => 'A \ude00\ud83d B',
	'a high surrogate then a raw letter' => 'A \ud800x B',
	'a high surrogate, then \n' => 'A \ud800\n B',
	'a high surrogate then a raw emoji' => "A \\ud83d$emoji B",
	'upper-case hex lone surrogate' => 'A \uDBFF B',
);
for my $name (sort keys %lone) {
	body_case("$name in scene_description", desc($lone{$name}), 'json');
}
body_case('a lone surrogate in a key', '{"\udfff": 1, "scene_description": '
    . '"A wizard"}', 'json');
body_case('a lone surrogate in style', '{"scene_description": "A wizard", '
    . '"style": "\udfff"}', 'json');
body_case('a valid surrogate pair escape', desc('A \ud83d\ude00 wizard'),
    'accept', check => sub { [ $_[0]{prompt} eq "A $emoji wizard",
	'stored as U+1F600 in UTF-8' ] });
body_case('\u00e9 and \u20ac escapes', desc('caf\u00e9 \u20ac'), 'accept',
    check => sub { [ $_[0]{prompt} eq "caf\xc3\xa9 \xe2\x82\xac",
	'stored decoded' ] });
for my $e ('\x41', '\u12', '\u12G4', '\uZZZZ', '\U0041', "\\'", '\a', '\0',
    '\\', "\\\x{01}") {
	body_case('the bad escape ' . esc($e) . ' in scene_description',
	    desc("A $e B"), 'json');
}
for my $c ("\x01", "\x1f", "\t", "\n", "\r", "\x08") {
	body_case('a raw ' . esc($c) . ' inside a string', desc("A${c}B"), 'json');
}
body_case('an escaped BEL in style', '{"scene_description": "A wizard", '
    . '"style": "noir\u0007"}', 'field');
body_case('an escaped ESC sequence in scene_description',
    desc('A \u001b[31mred\u001b[0m wizard'), 'either', check => sub {
	[ $_[0]{prompt} eq "A \e[31mred\e[0m wizard", 'stored as sent' ] });

# --- SQL-shaped text is data ---------------------------------------------------

my $sqlish = q{'); DROP TABLE image_generations; --};
body_case('SQL in scene_description', desc($sqlish), 'accept', check => sub {
	[ $_[0]{prompt} eq $sqlish, 'stored as text' ] });
body_case('SQL in style', '{"scene_description": "A wizard", "style": '
    . '"x\'||pg_sleep(10)||\'"}', 'accept', check => sub {
	[ $_[0]{style} eq q{x'||pg_sleep(10)||'}, 'stored as text' ] });
is(sql1("SELECT to_regclass('image_generations') IS NOT NULL"), 't',
    'image_generations is still there');

# --- afterwards ----------------------------------------------------------------

{
	my $r = post(desc('A quiet harbour at dawn'));
	is($r->{answers}[0]{status}, 202, 'afterwards: a valid POST answers 202')
	    or diag esc($r->{raw});
	$rows++ if ($r->{answers}[0]{status} // 0) == 202;
	is(count_rows(user => $user), $rows, 'afterwards: rows match the 202s');
}
my ($parent_after, $workers_after) = api_pids();
is($parent_after, $api_parent, 'the API parent process is the same');
is(scalar @$workers_after, scalar @$api_workers, 'as many workers as before');
no_worker_died_ok($log_mark);
no_sanitizer_report_ok($t0);
# No bound on the whole file: each exchange has its own timeout.
note sprintf('the whole file ran in %.1f s', time - $t0);
no_leaks_ok();

done_testing();
