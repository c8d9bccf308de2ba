# chaos/lib.sh: the set-up that chaos/run.sh, soak.sh and valgrind.sh
# share. Source it once $here (the project folder) is set; each function
# takes the calling script's name for its messages.

# Print the work folder: DIR made absolute (created if missing), or a new
# /tmp/scenegen-NAME.XXXXXX; mode 755, so the stack's users can enter it.
work_dir() {	# name dir
	local d=$2
	if [ -n "$d" ]; then
		mkdir -p "$d" || return 1
		d=$(cd "$d" && pwd) || return 1
	else
		d=$(mktemp -d "/tmp/scenegen-$1.XXXXXX") || return 1
	fi
	chmod 755 "$d" && echo "$d"
}

# Export SCENEGEN_BUILD (default build/) as an absolute path; exit 2
# unless it holds the three programs of the stack.
use_build() {	# name
	local b
	export SCENEGEN_BUILD=${SCENEGEN_BUILD:-$here/build}
	case $SCENEGEN_BUILD in /*) ;; *) SCENEGEN_BUILD=$here/$SCENEGEN_BUILD;; esac
	for b in scenegen-api scenegend modelslab-standin; do
		[ -x "$SCENEGEN_BUILD/$b" ] ||
		    { echo "$1: no $SCENEGEN_BUILD/$b (make)" >&2; exit 2; }
	done
}

# After a run (its stack stopped): no process whose command line names
# folder DIR may be left. Any found is named on stderr and killed, and the
# function returns 1 (the caller fails the run). Used by run.sh, soak.sh,
# valgrind.sh and bench/run.sh.
nothing_left() {	# name dir
	local p left=
	for p in $(pgrep -f -- "$2/" || true); do
		[ "$p" = "$$" ] || [ "$p" = "${BASHPID:-$$}" ] || left="$left $p"
	done
	[ -z "$left" ] && return 0
	echo "$1: still running after the run (killed now):" >&2
	# shellcheck disable=SC2086
	ps -o pid=,args= -p "$(echo $left | tr ' ' ,)" >&2 || true
	# shellcheck disable=SC2086
	kill -KILL $left 2>/dev/null || true
	return 1
}
