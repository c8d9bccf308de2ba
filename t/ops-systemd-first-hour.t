#!/usr/bin/perl
# A sysadmin's first hour under a real systemd (252, as PID 1), from the
# built .deb: a throwaway container boots this machine's own root with a
# tmpfs overlay (systemd-nspawn --volatile=overlay, its own network
# namespace with only loopback, so nothing of the host is written and no
# port of the host is taken), and inside it:
#   dpkg -i; settings and credentials; PostgreSQL and Redis; scenegenctl
#   migrate/check/stats/show as root (INSTALL.md's peer-authentication URL);
#   enable --now: scenegend ready only once the databases answer
#   (is-active, STATUS=); the API started by its socket on the first
#   request through nginx and the shipped site; a job from POST to an image
#   on disk (0640, group www-data) served by nginx; reload keeps the PID
#   and re-reads the log level; the journal has the job's lines with
#   priorities; SIGKILL -> restarted by Restart=; SIGSTOP -> the watchdog
#   kills it and it is restarted; a job in flight across both completes,
#   created once at the provider; stop drains within TimeoutStopSec;
#   systemd-analyze security <= 2.0 for each unit; an upgrade to a second
#   build with jobs in flight loses none; dpkg --purge keeps the rows.
# The provider is the stand-in of the build folder (not in the package),
# run inside as a transient unit. Each step's time is printed as a note.
# Runs for the plain build only (the .deb is built from it). Everything
# (container, mounts, cgroups, files) is gone when it ends, also on failure.
use strict;
use warnings;
use File::Temp qw(tempdir);
use FindBin;
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(sleep time);
use lib "$FindBin::Bin/lib";
use Scenegen::Ops qw(have_tool ops_build_dir ops_project_dir run_cmd_split);

my $here = ops_project_dir();
my $build = ops_build_dir();

# Preconditions outside the project: skip, saying which.
plan skip_all => 'needs root' if $> != 0;
for my $t (qw(systemd-nspawn unshare nsenter dpkg-deb)) {
	plan skip_all => "$t not installed (make deps installs it)"
	    unless have_tool($t);
}
for my $p (qw(scenegen-api scenegend scenegenctl modelslab-standin)) {
	plan skip_all => "$build/$p not built" unless -x "$build/$p";
}
{
	my ($rc, $out) = run_cmd_split([ 'objdump', '-p', "$build/scenegend" ]);
	plan skip_all => 'a sanitizer build: the .deb is made from the plain '
	    . 'build, and this test runs with that suite only'
	    if $out =~ /NEEDED\s+lib(asan|ubsan)/;
}
sub cap_sys_admin {
	open my $fh, '<', '/proc/self/status' or return 0;
	while (<$fh>) {
		return (hex(substr($1, -8)) >> 21) & 1 if /^CapEff:\s*([0-9a-f]+)/;
	}
	return 0;
}
plan skip_all => 'no CAP_SYS_ADMIN: cannot make mounts or boot a container'
    unless cap_sys_admin();
if (-d '/run/systemd/system' && -e '/run/systemd/nspawn'
    && !-w '/run/systemd/nspawn') {
	plan skip_all => '/run/systemd/nspawn is not writable';
}
my $cg2 = cgroup2_mount();
plan skip_all => 'no cgroup2 hierarchy mounted (needed by systemd in the '
    . 'container)' unless $cg2;

my $T0 = time;
my $tmp = tempdir('scenegen-systemd.XXXXXX', TMPDIR => 1, CLEANUP => 0);
chmod 0755, $tmp;
my $name = "sgt$$";
my (@cgroups, $boot_pid, $nspawn_pid, $leader);

# ------------------------------------------------------------ cleanup --
my $cleaned = 0;
sub cleanup {
	return if $cleaned++;
	if ($leader && kill 0, $leader) {
		# poweroff, then make sure
		system('nsenter', '-t', $leader, '-a', 'systemctl', 'poweroff',
		    '--no-block');
		my $t = time;
		while (time - $t < 20 && kill 0, $nspawn_pid) { sleep 0.2; reap() }
	}
	for my $pid (grep { $_ } $nspawn_pid, $boot_pid) {
		kill 'KILL', $pid if kill 0, $pid;
	}
	# the container's processes, in the cgroup made for it
	for my $cg (reverse @cgroups) {
		next unless -d $cg;
		if (open my $fh, '>', "$cg/cgroup.kill") { print $fh "1\n"; close $fh }
	}
	my $t = time;
	while (time - $t < 10 && $boot_pid && kill 0, $boot_pid) { sleep 0.1; reap() }
	reap();
	for my $cg (reverse @cgroups) {
		next unless -d $cg;
		# depth first: systemd's own folders below ours
		system("find '$cg' -depth -type d -exec rmdir {} + 2>/dev/null");
	}
	system('rm', '-rf', $tmp) if $tmp && -d $tmp && ($ENV{KEEP} // '') eq '';
}
sub reap { 1 while waitpid(-1, WNOHANG) > 0 }
$SIG{INT} = $SIG{TERM} = $SIG{HUP} = sub { warn "killed by SIG$_[0]\n"; exit 1 };
END { my $rc = $?; cleanup(); $? = $rc }

sub cgroup2_mount {
	open my $fh, '<', '/proc/self/mountinfo' or return;
	while (<$fh>) {
		my @f = split;
		my ($i) = grep { $f[$_] eq '-' } 0 .. $#f;
		return $f[4] if defined $i && $f[$i + 1] eq 'cgroup2';
	}
	return;
}

# ------------------------------------------------------------ helpers --
my $step_t = time;
sub step {
	my ($what) = @_;
	my $now = time;
	note sprintf('step done in %.1f s (%.1f s in all)', $now - $step_t,
	    $now - $T0);
	$step_t = $now;
	note "== $what";
}

# Run a shell command inside the container as root; (rc, stdout+stderr).
sub inside {
	my ($cmd) = @_;
	# its own session: nothing inside can signal the test's process group
	my ($rc, $out, $err) = run_cmd_split([ 'setsid', '-w', 'nsenter',
	    '-t', $leader, '-a',
	    '/bin/bash', '-c', $cmd ]);
	return wantarray ? ($rc, $out . $err) : $out;
}
# Copy a file of the host into the container (its /tmp may not be the
# host's): through nsenter's stdin.
sub copy_in {
	my ($from, $to, $mode) = @_;
	open my $fh, '<:raw', $from or die "$from: $!";
	local $/;
	my $data = <$fh>;
	my ($rc, $out, $err) = run_cmd_split([ 'setsid', '-w', 'nsenter',
	    '-t', $leader, '-a', '/bin/sh', '-c',
	    "cat >'$to' && chmod $mode '$to'" ], stdin => $data);
	return $rc == 0;
}
sub inside_ok {
	my ($cmd, $name) = @_;
	my ($rc, $out) = inside($cmd);
	ok($rc == 0, $name) or diag "$cmd:\n$out";
	return $out;
}
sub wait_inside {
	my ($cmd, $secs) = @_;
	my $t = time;
	while (time - $t < $secs) {
		my ($rc) = inside($cmd);
		return 1 if $rc == 0;
		sleep 0.25;
	}
	return 0;
}
sub psql_scenegen {
	my ($sql) = @_;
	my $out = inside("runuser -u postgres -- psql -X -q -tA -d scenegen "
	    . "-c \"$sql\"");
	chomp $out;
	return $out;
}
sub unit_prop {
	my ($unit, $prop) = @_;
	my $v = inside("systemctl show -P $prop $unit");
	chomp $v;
	return $v;
}
sub journal {
	my ($unit, $args) = @_;
	return scalar inside("journalctl -u $unit --no-pager -q $args");
}

# --------------------------------------------------------- two builds --
note "== building the packages";
my $arch = `dpkg --print-architecture`;
chomp $arch;
my @debs;
for my $v (qw(0.0.1~systemd1 0.0.2~systemd2)) {
	my ($rc, $out, $err) = run_cmd_split(
	    [ "$here/deploy/build-deb.sh", $build ],
	    env => { VERSION => $v, OUTDIR => $tmp });
	is($rc, 0, "build-deb.sh builds version $v") or diag $err;
	chomp $out;
	push @debs, $out;
}
BAIL_OUT('no package') unless -f $debs[0] && -f $debs[1];

# ------------------------------------------------------------- boot --
step('boot the container');
my $root = "$tmp/root";
mkdir $root or die "$root: $!";
my $cg = "$cg2/scenegen-test-$name";
mkdir $cg or die "$cg: $!";
push @cgroups, $cg;
my $v1 = '/sys/fs/cgroup/systemd';
if ($cg2 ne '/sys/fs/cgroup' && -d $v1 && -w $v1) {
	mkdir "$v1/scenegen-test-$name";
	push @cgroups, "$v1/scenegen-test-$name";
}
my $masks = join ' ', map { "systemd.mask=$_" } qw(apt-daily.timer
    apt-daily-upgrade.timer man-db.timer e2scrub_all.timer
    dpkg-db-backup.timer fstrim.timer logrotate.timer
    systemd-tmpfiles-clean.timer console-getty.service);
open my $bs, '>', "$tmp/boot.sh" or die $!;
print $bs <<BOOT;
#!/bin/bash
# Run in a private mount namespace (unshare --mount): its mounts end with it.
set -e
for cg in @cgroups; do echo \$\$ >"\$cg/cgroup.procs"; done
mount --bind / '$root'
mkdir -p /run/systemd/nspawn
mount -t tmpfs -o mode=0755 tmpfs /run/systemd/nspawn
echo \$\$ >'$tmp/nspawn.pid'
export SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1
exec systemd-nspawn --quiet --directory='$root' --volatile=overlay --boot \\
    --register=no --keep-unit --private-network --machine='$name' \\
    --console=read-only $masks
BOOT
close $bs;
$boot_pid = fork // die "fork: $!";
if ($boot_pid == 0) {
	POSIX::setsid();
	open STDIN, '<', '/dev/null';
	open STDOUT, '>', "$tmp/console.log";
	open STDERR, '>&', \*STDOUT;
	exec 'unshare', '--mount', '--propagation', 'private', '/bin/bash',
	    "$tmp/boot.sh";
	exit 127;
}
my $t = time;
while (time - $t < 30) {
	if (-s "$tmp/nspawn.pid") {
		$nspawn_pid = `cat '$tmp/nspawn.pid'` + 0;
		my $c = `pgrep -P $nspawn_pid -x systemd`;
		($leader) = $c =~ /(\d+)/;
		last if $leader;
	}
	last if waitpid($boot_pid, WNOHANG) == $boot_pid;
	sleep 0.1;
}
ok($leader, 'the container runs systemd as its PID 1')
    or BAIL_OUT("no container:\n" . `tail -n 20 '$tmp/console.log'`);
my $booted = wait_inside('systemctl is-system-running --wait | '
    . 'grep -Eq "running|degraded"', 60);
ok($booted, 'it boots: systemctl is-system-running')
    or diag scalar inside('systemctl --failed --no-pager');
chomp(my $ver = inside('systemctl --version | head -n1'));
like($ver, qr/^systemd \d+/, "inside: $ver");
is(inside('readlink /proc/1/exe'), "/usr/lib/systemd/systemd\n",
    'PID 1 inside is systemd') if -e '/usr/lib/systemd/systemd';
isnt(inside('cat /proc/sys/kernel/random/boot_id'), '', 'nsenter reaches it');

# ---------------------------------------------------------- install --
step('dpkg -i');
inside_ok('mkdir -p /root/scenegen-test', 'a folder for the files');
for my $i (0, 1) {
	(my $b = $debs[$i]) =~ s{.*/}{};
	ok(copy_in($debs[$i], "/root/scenegen-test/$b", '0644'), "$b copied in");
	$debs[$i] = "/root/scenegen-test/$b";
}
ok(copy_in("$build/modelslab-standin", '/usr/local/bin/modelslab-standin',
    '0755'), 'the stand-in of the build folder copied in');
inside_ok("dpkg -i '$debs[0]' 2>&1", "dpkg -i $debs[0]");
is(inside("dpkg-query -W -f='\${Version}' scenegen"), '0.0.1~systemd1',
    'version 1 installed');
ok(inside('getent passwd scenegen') ne '', 'the system user scenegen exists');
is(inside('stat -c "%a %U %G" /var/lib/scenegen/images'),
    "2750 scenegen www-data\n", 'images folder: setgid, group www-data');

step('PostgreSQL and Redis for it');
inside_ok('pg_lsclusters -h | grep -q . || pg_createcluster 15 main >/dev/null;'
    . ' systemctl start postgresql@15-main redis-server nginx',
    'PostgreSQL, Redis and nginx start');
my $pgport = inside("pg_lsclusters -h | awk '\$2 == \"main\" { print \$3 }'");
chomp $pgport;
inside_ok('runuser -u postgres -- createuser scenegen && '
    . 'runuser -u postgres -- createdb -O scenegen scenegen',
    'createuser, createdb (INSTALL.md)');

step('settings, credentials, scenegenctl as root');
# The stand-in of the build folder as the provider: a transient unit.
inside_ok("systemd-run --unit=modelslab-standin -p DynamicUser=yes "
    . "/usr/local/bin/modelslab-standin -l 127.0.0.1:7070 -k standin-key -e 1",
    'the provider stand-in runs (transient unit)');
ok(wait_inside('curl -s -o /dev/null http://127.0.0.1:7070/', 10),
    'the stand-in answers');
my $secret = join '', map { sprintf '%02x', int rand 256 } 1 .. 32;
my $dburl = 'postgresql:///scenegen?host=/var/run/postgresql'
    . ($pgport && $pgport ne '5432' ? "&port=$pgport" : '');
inside_ok(<<SH, 'scenegen.env and the credentials configured');
set -e
f=/etc/scenegen/scenegen.env
cat >>\$f <<ENV
DATABASE_URL=$dburl
REDIS_URL=redis://127.0.0.1:6379/0
MODELSLAB_BASE_URL=http://127.0.0.1:7070
SCENEGEN_LEASE_SECONDS=8
SCENEGEN_SWEEP_SECONDS=2
SCENEGEN_LOG_LEVEL=info
ENV
printf '%s\\n' '$secret' | install -m 0600 /dev/stdin /etc/scenegen/credentials/supabase_jwt_secret
printf '%s\\n' standin-key | install -m 0600 /dev/stdin /etc/scenegen/credentials/modelslab_api_key
SH
my $mig = inside_ok('scenegenctl migrate 2>&1', 'scenegenctl migrate as root');
unlike($mig, qr/role "root"/, 'no role "root" error');
like(psql_scenegen("SELECT tableowner FROM pg_tables WHERE tablename = "
    . "'image_generations'"), qr/^scenegen$/, 'the schema belongs to scenegen');

# --------------------------------------------------------- start --
step('enable --now, ready only once the databases answer');
inside_ok('systemctl stop redis-server', 'Redis stopped first');
inside_ok('systemctl enable scenegen-api.socket scenegend 2>&1 && '
    . 'systemctl start --no-block scenegend && '
    . 'systemctl start scenegen-api.socket', 'enable; start');
sleep 3;
is(unit_prop('scenegend', 'ActiveState'), 'activating',
    'without Redis scenegend is not ready: activating');
inside_ok('systemctl start redis-server', 'Redis started');
ok(wait_inside('systemctl is-active -q scenegend', 30),
    'then it is active (READY=1)');
my $status = unit_prop('scenegend', 'StatusText');
like($status, qr/\S/, "STATUS= line: $status");
inside_ok('systemctl enable --now scenegen-api.socket scenegend 2>&1',
    'systemctl enable --now scenegen-api.socket scenegend');
is(inside('systemctl is-enabled scenegend scenegen-api.socket'),
    "enabled\nenabled\n", 'both enabled');
my $chk = inside_ok('scenegenctl check 2>&1', 'scenegenctl check as root: all PASS');
note $chk;

step('nginx site, socket activation on the first request');
inside_ok('rm -f /etc/nginx/sites-enabled/default && '
    . 'ln -s ../sites-available/scenegen /etc/nginx/sites-enabled/scenegen && '
    . 'nginx -t 2>&1 && systemctl reload nginx', 'the shipped site enabled');
is(unit_prop('scenegen-api.service', 'ActiveState'), 'inactive',
    'scenegen-api not started before a request');
is(unit_prop('scenegen-api.socket', 'ActiveState'), 'active',
    'its socket listens');
# A reload is asynchronous: until the old workers have closed their
# listening sockets (with nchan loaded, a second or more here), a request
# may still meet the old configuration and its HTML 404. Wait for them.
my $t_reload = time;
ok(wait_inside('test "$(ps -C nginx -o args= | grep -c "worker process")" '
    . '-le "$(nproc)" && ! ps -C nginx -o args= | grep -q "shutting down"',
    30), 'the old nginx workers are gone after the reload')
    or diag inside('ps -ef | grep [n]ginx');
note sprintf('the reload took %.1f s to take over', time - $t_reload);
my $hz = inside('curl -s -w " %{http_code}" http://127.0.0.1/healthz');
like($hz, qr/"status":"ok".* 200$/s, "GET /healthz through nginx: $hz")
    or diag inside('ps -ef | grep [n]ginx; tail -n 20 /var/log/nginx/error.log');
is(unit_prop('scenegen-api.service', 'ActiveState'), 'active',
    'the first request started scenegen-api');

step('a job from POST to image on disk');
my $user = inside('cat /proc/sys/kernel/random/uuid');
my $chapter = inside('cat /proc/sys/kernel/random/uuid');
chomp($user, $chapter);
psql_scenegen("INSERT INTO chapters (id, user_id, title) VALUES "
    . "('$chapter', '$user', 'first hour')");
my $token = inside("scenegenctl token $user");
chomp $token;
like($token, qr/^[\w-]+\.[\w-]+\.[\w-]+$/, 'scenegenctl token (as root)');
sub post_scene {
	my ($scene, $prompt) = @_;
	my $out = inside("curl -s -w '\\n%{http_code}' -X POST "
	    . "http://127.0.0.1/api/v1/chapters/$chapter/images/scenes/$scene "
	    . "-H 'Authorization: Bearer $token' "
	    . "-H 'Content-Type: application/json' "
	    . "-d '{\"scene_description\": \"$prompt\", \"style\": "
	    . "\"cinematic\", \"aspect_ratio\": \"16:9\"}'");
	my ($body, $code) = $out =~ /^(.*)\n(\d+)$/s;
	my ($id) = ($body // '') =~ /"(?:id|record_id)"\s*:\s*"([0-9a-f-]{36})"/;
	return ($code // 0, $id, $body);
}
# Wait up to $timeout s for scenegend to be active under a main PID other
# than $old; returns the MainPID seen last.
sub wait_new_main_pid {
	my ($old, $timeout) = @_;
	my ($t0, $now) = (time, '');
	while (time - $t0 < $timeout) {
		$now = unit_prop('scenegend', 'MainPID');
		return $now if $now ne '0' && $now ne $old
		    && unit_prop('scenegend', 'ActiveState') eq 'active';
		sleep 0.25;
	}
	return $now;
}

sub row {
	my ($id, $col) = @_;
	return psql_scenegen("SELECT $col FROM image_generations WHERE id = '$id'");
}
sub wait_status {
	my ($id, $want, $secs) = @_;
	my $t = time;
	while (time - $t < $secs) {
		return 1 if row($id, 'status') eq $want;
		sleep 0.5;
	}
	return 0;
}
my ($code, $id, $body) = post_scene(1, 'a lighthouse in a storm');
is($code, 202, 'POST through nginx: 202') or diag $body;
ok(wait_status($id, 'completed', 60), "record $id completed");
my $url = row($id, 'image_url');
my ($file) = $url =~ m{/images/(.+)$};
ok($file && inside("test -s /var/lib/scenegen/images/$file && echo y") eq "y\n",
    "the image is on disk: $url");
is(inside("stat -c '%a %U %G' /var/lib/scenegen/images/$file"),
    "640 scenegen www-data\n", 'image mode 0640, group www-data (UMask=0027)');
like(inside("curl -s -o /dev/null -w '%{http_code} %{content_type}' "
    . "http://127.0.0.1/images/$file"), qr/^200 image\/png/,
    'nginx serves it');
my $show = inside_ok("scenegenctl show $id 2>&1", 'scenegenctl show as root');
like($show, qr/completed/, 'show: completed');
inside_ok('scenegenctl stats 2>&1', 'scenegenctl stats as root');

step('reload keeps the PID and re-reads the log level');
my $pid = unit_prop('scenegend', 'MainPID');
my $jobj = journal('scenegend', "-o json --output-fields=MESSAGE,PRIORITY "
    . "| grep -F '$id'");
my %prio = map { $_ => 1 } $jobj =~ /"PRIORITY":"(\d)"/g;
ok(scalar(() = $jobj =~ /\n/g) >= 2, "journalctl -u: the job's lines carry "
    . 'its record id') or diag journal('scenegend', '-n 30');
ok($prio{6}, 'with priorities: ' . join(',', sort keys %prio)
    . ' (6 = info: the level in scenegen.env)');
inside_ok("sed -i 's/^SCENEGEN_LOG_LEVEL=info/SCENEGEN_LOG_LEVEL=warning/' "
    . '/etc/scenegen/scenegen.env && systemctl reload scenegend',
    'SCENEGEN_LOG_LEVEL=warning; systemctl reload scenegend');
is(unit_prop('scenegend', 'MainPID'), $pid, "same PID $pid");
is(unit_prop('scenegend', 'ActiveState'), 'active', 'still active');
my ($cq, $quiet) = post_scene(4, 'a quiet field');
ok(wait_status($quiet, 'completed', 60), 'a job after the reload completes');
my $qlines = journal('scenegend', "-o cat | grep -cF '$quiet'");
chomp $qlines;
is($qlines, 0, 'at level warning its info lines are not logged: the level '
    . 'was re-read');
inside_ok("sed -i 's/^SCENEGEN_LOG_LEVEL=warning/SCENEGEN_LOG_LEVEL=info/' "
    . '/etc/scenegen/scenegen.env && systemctl reload scenegend',
    'back to info, reloaded');
is(unit_prop('scenegend', 'MainPID'), $pid, "still PID $pid");

step('SIGKILL and SIGSTOP: restarted, the job in flight completes once');
my ($c2, $flight) = post_scene(2, 'a ship on fire [standin:eta=12]');
is($c2, 202, 'a job with a 12 s generation posted');
my $tt = time;
1 until row($flight, 'provider_request_id') ne '' || time - $tt > 30 || !sleep 0.25;
isnt(row($flight, 'provider_request_id'), '', 'it is at the provider');
$pid = unit_prop('scenegend', 'MainPID');
inside_ok('systemctl kill --kill-who=main -s KILL scenegend',
    "SIGKILL the daemon (PID $pid)");
$tt = time;
my $newpid = wait_new_main_pid($pid, 15);
isnt($newpid, $pid, sprintf('restarted by Restart= (new PID %s, %.1f s)',
    $newpid, time - $tt));
is(unit_prop('scenegend', 'NRestarts'), 1, 'NRestarts=1');
inside_ok('systemctl kill --kill-who=main -s STOP scenegend',
    "SIGSTOP the new daemon (PID $newpid)");
my $wd = unit_prop('scenegend', 'WatchdogUSec');
note "WatchdogUSec=$wd";
$tt = time;
my $third = wait_new_main_pid($newpid, 120);
isnt($third, $newpid, sprintf('the watchdog killed it, restarted (PID %s, '
    . '%.1f s after SIGSTOP)', $third, time - $tt));
like(journal('scenegend', '-o cat'), qr/[Ww]atchdog timeout/,
    'the journal says: watchdog timeout');
ok(wait_status($flight, 'completed', 90), 'the job in flight completed');
like(journal('scenegend', '-o cat'),
    qr/1 jobs of a daemon that is gone resumed at once/,
    'the restarted daemon resumed the killed one\'s job at once (its '
    . 'process gone), not after the lease');
my $cr = inside("curl -s 'http://127.0.0.1:7070/_standin/creates?track_id=$flight'");
my ($creates) = $cr =~ /"creates"\s*:\s*(\d+)/;
is($creates, 1, 'created once at the provider (resumed by its id)')
    or diag $cr;

step('systemctl stop drains within TimeoutStopSec');
my ($c3, $drainjob) = post_scene(3, 'a quiet harbour [standin:eta=4]');
$tt = time;
1 until row($drainjob, 'status') eq 'in_progress' || time - $tt > 20 || !sleep 0.2;
my $timeout = unit_prop('scenegend', 'TimeoutStopUSec');
my $ts = time;
inside_ok('systemctl stop scenegend', 'systemctl stop scenegend');
my $took = time - $ts;
my ($tsec) = $timeout =~ /(\d+)s/;
$tsec //= 90;
$tsec *= 60 if $timeout =~ /min/;
ok($took < $tsec, sprintf('stopped in %.1f s, within TimeoutStopSec=%s',
    $took, $timeout));
is(unit_prop('scenegend', 'Result'), 'success', 'Result=success (no SIGKILL)');
like(journal('scenegend', '-o cat -n 20'), qr/drained|handing back/,
    'the journal: drained');
inside_ok('systemctl start scenegend', 'started again');
ok(wait_status($drainjob, 'completed', 60), 'the drained job is completed');

step('systemd-analyze security');
for my $u (qw(scenegend.service scenegen-api.service)) {
	my $o = inside("systemd-analyze security --no-pager $u 2>&1 | tail -n1");
	my ($lvl) = $o =~ /level for \S+:\s*([\d.]+)/;
	$o =~ s/\s+\z//;
	ok(defined $lvl && $lvl <= 2.0, "$u: $o") or diag $o;
}

step('upgrade with jobs in flight');
my $N = 12;
my @flight;
for my $s (1 .. $N) {
	my ($c, $i) = post_scene(100 + $s, "upgrade $s [standin:eta=3]");
	push @flight, $i if $c == 202;
}
is(scalar @flight, $N, "$N jobs posted");
my $list = join ',', map { "'$_'" } @flight;
my $before = psql_scenegen("SELECT count(*) FILTER (WHERE status IN "
    . "('pending','in_progress')) FROM image_generations WHERE id IN ($list)");
my $oldpid = unit_prop('scenegend', 'MainPID');
inside_ok("dpkg -i '$debs[1]' 2>&1", "dpkg -i $debs[1] over the first");
is(inside("dpkg-query -W -f='\${Version}' scenegen"), '0.0.2~systemd2',
    'version 2 installed');
isnt(unit_prop('scenegend', 'MainPID'), $oldpid,
    'the running daemon was restarted on the new program');
$tt = time;
1 until psql_scenegen("SELECT count(*) FROM image_generations WHERE id IN "
    . "($list) AND status NOT IN ('completed','failed')") eq '0'
    || time - $tt > 120 || !sleep 0.5;
my $done = psql_scenegen("SELECT count(*) FROM image_generations WHERE id IN "
    . "($list) AND status = 'completed'");
my $lost = $N - $done;
note "upgrade: $N jobs posted, $before in flight at the upgrade, "
    . "$done completed, $lost lost";
is($lost, 0, "none lost: $done of $N completed");

step('dpkg --purge keeps the rows');
my $rows = psql_scenegen('SELECT count(*) FROM image_generations');
inside_ok('dpkg --purge scenegen 2>&1', 'dpkg --purge scenegen');
is(inside('dpkg-query -W -f="\${Status}" scenegen 2>/dev/null'), '',
    'no longer installed') ;
is(unit_prop('scenegend', 'ActiveState'), 'inactive', 'scenegend stopped');
is(psql_scenegen('SELECT count(*) FROM image_generations'), $rows,
    "the database keeps its $rows rows");
ok(!inside('test -e /etc/scenegen && echo y'), '/etc/scenegen removed');

step('power off');
cleanup();
ok(!kill(0, $nspawn_pid), 'the container is gone');
ok(!grep({ -d } @cgroups), 'its cgroups are gone');
note sprintf('total %.1f s', time - $T0);
done_testing();
