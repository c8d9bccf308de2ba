#!/bin/bash
# Build the libFuzzer targets of fuzz/ into build-fuzz/ (FUZZ_BUILD).
# Each harness is compiled with the sources it tests (never a main.c),
# under ASan and UBSan. A target is rebuilt only when a source or header
# is newer than it.
#
# usage: fuzz/build.sh [TARGET...]     (default: every target)
# exit:  0 built, 1 a build failed, 77 clang or its libFuzzer is missing
set -u

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here" || exit 1
out=${FUZZ_BUILD:-build-fuzz}
CC=${FUZZ_CC:-clang}
JOBS=${FUZZ_BUILD_JOBS:-2}

ALL_TARGETS="fuzz_route fuzz_body fuzz_jwt fuzz_provider fuzz_redis_msg
	fuzz_config fuzz_admin_form"

# The sources of each target besides fuzz/<target>.c, and its libraries.
srcs() {
	case $1 in
	fuzz_route)	echo cgi/route.c cgi/query.c lib/uuid.c lib/percent.c;;
	fuzz_body)	echo cgi/validate.c cgi/syntax.c lib/uuid.c lib/log.c \
			    lib/netaddr.c;;
	fuzz_jwt)	echo cgi/auth.c cgi/syntax.c lib/uuid.c lib/base64url.c;;
	# daemon/http.c is #included by the harness (static callbacks).
	fuzz_provider)	echo daemon/provider.c daemon/text.c lib/buf.c \
			    lib/netaddr.c;;
	# daemon/queue.c is #included by the harness (static functions).
	fuzz_redis_msg)	echo lib/log.c lib/clock.c lib/uuid.c lib/redis_url.c \
			    lib/redis_script.c;;
	fuzz_config)	echo lib/config.c lib/redis_url.c lib/buf.c lib/log.c \
			    cgi/config.c daemon/config.c;;
	fuzz_admin_form) echo cgi/admin_form.c cgi/syntax.c cgi/query.c \
			    lib/uuid.c lib/percent.c;;
	*)		return 1;;
	esac
}
libs() {
	case $1 in
	fuzz_body)	echo -lcjson;;
	fuzz_jwt)	echo -lcjson -lcrypto -lm;;
	fuzz_provider)	echo -lcjson -lcurl -levent -lm;;
	fuzz_redis_msg)	echo -lhiredis -levent -lcrypto;;
	fuzz_config)	echo -lm;;
	esac
}

if ! command -v "$CC" >/dev/null 2>&1; then
	echo "fuzz/build.sh: $CC not found (apt-get install clang)" >&2
	exit 77
fi
mkdir -p "$out" || exit 1
probe=$out/.probe
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)'\
' { return 0; }\n' > "$probe.c"
if ! "$CC" -fsanitize=fuzzer,address,undefined -o "$probe" "$probe.c" \
    >/dev/null 2>&1; then
	echo "fuzz/build.sh: $CC cannot link -fsanitize=fuzzer (libFuzzer:" \
	    "apt-get install libclang-rt-dev)" >&2
	rm -f "$probe" "$probe.c"
	exit 77
fi
rm -f "$probe" "$probe.c"

PKG_CFLAGS=$(pkg-config --cflags fcgi hiredis libcjson libcurl libevent \
    libpq libcrypto 2>/dev/null)
CFLAGS="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
	-fno-sanitize-recover=undefined -std=c11 -D_GNU_SOURCE
	-Wall -Wextra -Wno-unused-parameter -Wno-unused-function
	-Ifuzz -Ilib -Icgi -Idaemon $PKG_CFLAGS ${FUZZ_CFLAGS:-}"

# 0 if $out/$1 is older than anything it is built from.
stale() {
	[ -x "$out/$1" ] || return 0
	[ "fuzz/build.sh" -nt "$out/$1" ] && return 0
	[ -n "$(find fuzz lib cgi daemon -name '*.[ch]' -newer "$out/$1" \
	    2>/dev/null | head -n 1)" ]
}

build() {
	t=$1
	s=$(srcs "$t") || { echo "unknown target $t" >&2; return 1; }
	if ! stale "$t"; then
		echo "  up to date  $out/$t"
		return 0
	fi
	# shellcheck disable=SC2086,SC2046
	if "$CC" $CFLAGS -o "$out/$t.tmp.$$" "fuzz/$t.c" $s $(libs "$t") \
	    >"$out/$t.build.log" 2>&1; then
		mv "$out/$t.tmp.$$" "$out/$t"
		echo "  built       $out/$t"
	else
		echo "  FAILED      $out/$t (see $out/$t.build.log):" >&2
		sed 's/^/    /' "$out/$t.build.log" | head -n 40 >&2
		rm -f "$out/$t.tmp.$$"
		return 1
	fi
}

targets=${*:-$ALL_TARGETS}
rc=0
running=0
pids=""
for t in $targets; do
	build "$t" &
	pids="$pids $!"
	running=$((running + 1))
	if [ "$running" -ge "$JOBS" ]; then
		for p in $pids; do wait "$p" || rc=1; done
		pids=""
		running=0
	fi
done
for p in $pids; do wait "$p" || rc=1; done
exit $rc
