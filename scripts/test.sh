#!/bin/bash
# Run the whole test suite against one build folder: start a throwaway stack
# in a temporary folder, run every t/*.t with prove, stop the stack, and
# (for a sanitizer build) fail on any sanitizer report.
#
# usage: test.sh BUILD_DIR [prove arguments...] [t/FILE.t...]
# (with no test file named, every t/*.t runs)
set -u

here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: test.sh BUILD_DIR}
shift
case $build in /*) ;; *) build=$here/$build;; esac
tmp=$(mktemp -d /tmp/scenegen-test.XXXXXX)
chmod 755 "$tmp"
export SCENEGEN_BUILD=$build
export SCENEGEN_TEST_DIR=$tmp
export ASAN_OPTIONS="log_path=$tmp/sanitizer:detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="log_path=$tmp/sanitizer:print_stacktrace=1"
export LSAN_OPTIONS="suppressions=$here/t/lsan.supp"
export PORT=0 STACK_QUIET=1
export STANDIN_ARGS="-e 0.2"

cleanup() {
	"$here/scripts/stack.sh" stop "$tmp/stack" >/dev/null 2>&1
	# processes a test may have left behind
	pkill -TERM -f "$tmp/" 2>/dev/null
	sleep 0.5
	pkill -KILL -f "$tmp/" 2>/dev/null
}
trap cleanup EXIT

echo "# suite with $(basename "$build") in $tmp"
if ! "$here/scripts/stack.sh" start "$tmp/stack"; then
	echo "could not start the test stack" >&2
	exit 1
fi
export SCENEGEN_ENV=$tmp/stack/env
cd "$here" || exit 1
files=t/
for a in "$@"; do
	case $a in *.t) files=;; esac
done
prove -I t/lib "$@" $files
rc=$?
cleanup
trap - EXIT
reports=$(ls "$tmp"/sanitizer.* 2>/dev/null)
if [ -n "$reports" ]; then
	echo "sanitizer reports:" >&2
	for f in $reports; do echo "== $f" >&2; head -n 60 "$f" >&2; done
	rc=1
fi
[ "$rc" = 0 ] && rm -rf "$tmp"
exit $rc
