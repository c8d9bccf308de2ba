#!/usr/bin/perl
# Every make target works on a fresh Debian 12 machine: every external
# command the project's scripts run (scripts/, bench/, chaos/, fuzz/,
# deploy/, t/) comes from a package that `make deps` installs: one of the
# Makefile's DEB_PACKAGES* lists, or a package those depend on, or an
# Essential package (always there). The package of a command is what
# `dpkg -S` says of the file `command -v` finds. Commands are found in
# shell scripts in command position (heredocs skipped; shell functions,
# builtins and keywords left out) and in Perl in system/exec/open-pipe,
# backticks and the test helpers that run commands.
use strict;
use warnings;
use File::Basename qw(basename);
use FindBin;
use Test::More;
use lib "$FindBin::Bin/lib";
use Scenegen::Ops qw(have_tool ops_project_dir run_cmd_split);

plan skip_all => 'dpkg not installed' unless have_tool('dpkg-query');
my $here = ops_project_dir();

# ---- the package lists of the Makefile --------------------------------
my ($rc, $mk) = run_cmd_split([ 'make', '-s', '-C', $here, '--no-print-directory',
    'print-deb-packages' ]);
is($rc, 0, 'make print-deb-packages') or diag $mk;
my %list;	# package => list name
for (split /\n/, $mk) {
	my ($name, @p) = split;
	next unless $name && $name =~ /^DEB_PACKAGES/;
	$list{$_} //= $name for @p;
}
ok(scalar(keys %list) > 10, scalar(keys %list) . ' packages in the lists');
for my $t (qw(BENCH CHAOS SOAK VALGRIND FUZZ DEB TEST)) {
	like($mk, qr/^DEB_PACKAGES_$t\b/m, "a list for $t");
}

# ---- what those pull in: installed dependencies, recursively ----------
my (%deps, %provides, %essential);
{
	my ($r, $out) = run_cmd_split([ 'dpkg-query', '-W', '-f',
	    '${Package}\t${db:Status-Abbrev}\t${Essential}\t${Depends}, '
	    . '${Pre-Depends}\t${Provides}\n' ]);
	for (split /\n/, $out) {
		my ($p, $st, $ess, $d, $prov) = split /\t/;
		next unless $st && $st =~ /^ii/;
		$essential{$p} = 1 if $ess eq 'yes';
		$deps{$p} = [ map { /^\s*([\w.+-]+)/ ? $1 : () }
		    split /[,|]/, $d ];
		push @{ $provides{$_} }, $p
		    for map { /^\s*([\w.+-]+)/ ? $1 : () } split /,/, $prov // '';
	}
}
my %covered;
my @todo = keys %list;
while (defined(my $p = shift @todo)) {
	next if $covered{$p}++;
	push @todo, @{ $deps{$p} // [] }, @{ $provides{$p} // [] };
}
# Essential packages and what they need are on every Debian machine.
@todo = keys %essential;
my %base;
while (defined(my $p = shift @todo)) {
	next if $base{$p}++;
	push @todo, @{ $deps{$p} // [] }, @{ $provides{$p} // [] };
}

# ---- the commands the scripts run -------------------------------------
my %builtin = map { $_ => 1 } qw(alias bg break builtin caller cd command
    compgen complete continue declare dirs disown echo enable eval exec exit
    export false fc fg getopts hash help history jobs kill let local logout
    mapfile popd printf pushd pwd read readarray readonly return set shift
    shopt source suspend test times trap true type typeset ulimit umask
    unalias unset wait if then else elif fi case esac for while until do
    done in function select time coproc);
my %cmd;	# command => { file => 1 }
sub found { my ($c, $f) = @_; $cmd{$c}{$f} = 1 if $c =~ /^[a-z][\w.+-]*$/ }

my @files = grep { -f } map { glob "$here/$_" } qw(scripts/* bench/*.sh
    bench/*.pl chaos/*.sh chaos/*.pl chaos/lib/*.pm fuzz/*.sh fuzz/*.pl
    deploy/*.sh deploy/debian/* t/*.t t/lib/Scenegen/*.pm);
for my $f (@files) {
	open my $fh, '<', $f or die "$f: $!";
	my @lines = <$fh>;
	my $rel = substr $f, length($here) + 1;
	if ($lines[0] =~ m{^#!.*\b(?:ba)?sh\b}) {
		shell_commands($rel, @lines);
	} else {
		perl_commands($rel, join '', @lines);
	}
}

sub shell_commands {
	my ($rel, @lines) = @_;
	my (%func, $heredoc, @words);
	for (@lines) { $func{$1} = 1 if /^\s*(?:function\s+)?([\w-]+)\s*\(\)/ }
	my $all = join '', @lines;
	# looked for by name: command -v NAME, type -P NAME, ${CC:-NAME}
	found($1, $rel) while $all =~ /\b(?:command\s+-v|type\s+-P)\s+["']?([a-z][\w.+-]*)/g;
	found($1, $rel) while $all =~ /\$\{\w*CC:-([a-z][\w.+-]*)\}/g;
	my $in_dq = 0;	# inside a double-quoted string over several lines
	for my $line (@lines) {
		if (defined $heredoc) {
			undef $heredoc if $line =~ /^\t*\Q$heredoc\E\s*$/;
			next;
		}
		$heredoc = $1 if $line =~ /<<-?\s*['"]?(\w+)['"]?/;
		(my $l = $line) =~ s/(^|\s)#.*//;
		$l =~ s/'[^']*'/''/g;		# quoted text is data
		$l =~ s/\$\(\([^)]*\)\)//g;	# arithmetic
		# commands in $(...) count, even inside double quotes
		my @sub = $l =~ /\$\(\s*([a-z][\w.+-]*)/g;
		for my $w (@sub) { found($w, $rel) unless $builtin{$w} || $func{$w} }
		my $was = $in_dq;
		my $dq = () = $l =~ /(?<!\\)"/g;
		$in_dq = ($in_dq + $dq) % 2;
		next if $was;			# a string's continuation
		$l =~ s/"(?:[^"\\]|\\.)*"/""/g;
		$l =~ s/"[^"]*$//;		# a string going on below
		$l =~ s/^\s*[^\s()]+\)\s*//;	# a case pattern
		# command positions: line start, after ; | & ( $( ` and keywords
		my @seg = split /(?:\|\|?|&&|;|\$\(|`|\(|\{|\bthen\b|\bdo\b|\belse\b)/, $l;
		for my $s (@seg) {
			$s =~ s/^\s+//;
			# prefixes that run the next word
			1 while $s =~ s/^(?:!\s*|\w+=(?:"[^"]*"|\S*)\s+|exec\s+|command\s+|
			    nohup\s+|setsid\s+(?:-\w+\s+)*|timeout\s+(?:-\w+\s+)*\S+\s+|
			    runuser\s+-u\s+\S+\s+--\s+|env\s+(?:\w+=\S*\s+)*|
			    time\s+|xargs\s+(?:-\S+\s+)*)//x;
			my ($w) = $s =~ /^([a-z][\w.+-]*)(?:\s|$)/ or next;
			next if $builtin{$w} || $func{$w};
			found($w, $rel);
		}
	}
}

sub perl_commands {
	my ($rel, $text) = @_;
	$text =~ s/^\s*#.*$//mg;
	# system('cmd', ...), exec 'cmd', run_cmd('cmd'), run_cmd_split(['cmd'
	while ($text =~ /\b(?:system|exec|run_cmd|run_cmd_split|have_tool)\s*\(?\s*\[?\s*
	    ['"]([a-z][\w.+-]*)['"]/gx) {
		found($1, $rel);
	}
	# for my $t (qw(a b c)) { ... have_tool($t) ... }
	while ($text =~ /for\s+my\s+\$(\w+)\s*\(\s*qw\(([^)]*)\)\s*\)\s*\{[^}]*
	    have_tool\(\s*\$\1\s*\)/gx) {
		found($_, $rel) for split ' ', $2;
	}
	# open my $fh, '-|', 'cmd' / open ..., "cmd args |" / "| cmd"
	while ($text =~ /\bopen\s*\(?\s*(?:my\s+)?\$\w+\s*,\s*['"]-\|['"]\s*,\s*['"]([a-z][\w.+-]*)/g) {
		found($1, $rel);
	}
	while ($text =~ /\bopen\s*\(?\s*(?:my\s+)?\$\w+\s*,\s*['"]\|-['"]\s*,\s*(?:qq?\{|['"])([a-z][\w.+-]*)/g) {
		found($1, $rel);
	}
	# shell command lines: backticks, qx, system("..."), and the
	# systemd test's inside()/inside_ok()/wait_inside() strings
	my @cmdlines;
	push @cmdlines, $1 while $text =~ /`([^`\n]+)`/g;
	push @cmdlines, $1 while $text =~ /\bqx\{([^}]+)\}/g;
	push @cmdlines, $1 while $text =~ /\bsystem\s*\(?\s*"([^"]+)"/g;
	while ($text =~ /\b(?:inside|inside_ok|wait_inside)\s*\(\s*(?:"([^"]*)"|'([^']*)')/gx) {
		push @cmdlines, $1 // $2;
	}
	for my $l (@cmdlines) {
		next unless defined $l;
		for my $s (split /(?:\|\|?|&&|;|\$\()/, $l) {
			$s =~ s/^\s+//;
			1 while $s =~ s/^(?:\w+=\S*\s+|setsid\s+(?:-\w+\s+)*|
			    runuser\s+-u\s+\S+\s+--\s+|exec\s+)//x;
			my ($w) = $s =~ /^([a-z][\w.+-]*)(?:\s|$)/ or next;
			next if $builtin{$w};
			found($w, $rel);
		}
	}
}

# Not from a list, and why.
my %allowed = (
	'apt-get' => 'apt: what installs the lists (Priority required)',
	'npm' => 'optional: t/ops-openapi.t skips the OpenAPI lint without it',
	'man' => 'optional: t/ops-systemd-verify.t uses --man=no without it',
);
# Built by the project itself, not packages.
my %own = map { $_ => 1 } qw(scenegen-api scenegend scenegenctl
    modelslab-standin);

ok(scalar(keys %cmd) > 30, scalar(keys %cmd) . ' commands found in '
    . scalar(@files) . ' files');
note 'commands: ' . join ' ', sort keys %cmd;
# The files of the commands, and which package has each (one dpkg -S).
my (%paths, %owner);
for my $c (keys %cmd) {
	next if $own{$c};
	my $path = `bash -c 'type -P $c'`;
	chomp $path;
	next if $path eq '';
	$paths{$c} = [ grep { $_ } $path, readlink_f($path), alt_path($path) ];
}
{
	my %all = map { $_ => 1 } map { @$_ } values %paths;
	my ($r, $out) = run_cmd_split([ 'dpkg', '-S', sort keys %all ]);
	for (split /\n/, $out) {
		next if /^diversion/;
		my ($names, $file) = /^(.*?):\s+(\S+)$/ or next;
		$owner{$file}{ (split /:/, $_)[0] } = 1 for split /,\s*/, $names;
	}
}
for my $c (sort keys %cmd) {
	next if $own{$c};
	my $where = join ', ', sort keys %{ $cmd{$c} };
	if (!$paths{$c}) {
		# text the scanner took for a command, or a command missing
		# here: either way no package of this machine to check
		note "$c ($where): no such command here";
		next;
	}
	if ($allowed{$c}) {
		pass("$c ($where): $allowed{$c}");
		next;
	}
	my %pkgs = map { %{ $owner{$_} // {} } } @{ $paths{$c} };
	my @in = grep { $list{$_} || $covered{$_} || $base{$_} } sort keys %pkgs;
	ok(@in, "$c ($where): " . (@in ? join(', ', map {
	    $list{$_} ? "$_ in $list{$_}" : $base{$_} ? "$_ (Essential)"
	    : "$_ (needed by a listed package)" } @in)
	    : 'from ' . (join(', ', sort keys %pkgs) || 'no package')
	    . ', in no list'));
}

sub readlink_f { my $r = `readlink -f '$_[0]'`; chomp $r; return $r }
# merged /usr: dpkg knows /bin/x or /usr/bin/x, whichever was shipped
sub alt_path {
	my ($p) = @_;
	return $p =~ m{^/usr(/s?bin/.*)} ? $1 : $p =~ m{^(/s?bin/.*)} ? "/usr$1" : ();
}

done_testing();
