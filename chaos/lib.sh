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
