#!/bin/bash
# The house layout, checked by tools rather than by review (STYLE.md):
#
#  1. every tracked .c/.h under cgi daemon ctl lib standin fuzz bench is exactly
#     what clang-format 14 makes of it with the top-level .clang-format;
#  2. no assignment (=, +=, <<=, ...) inside the condition of an if, while,
#     do-while, for (its condition, not its init or step), switch or ?:,
#     found in clang's AST by clang-query, so ==, <=, >=, != and anything
#     in a string or comment can never be mistaken for one.
#
# usage: check-style.sh [--fix] [--format-only | --assign-only] [FILE...]
#   --fix          rewrite unformatted files in place (assignments are only
#                  reported: they need a person)
#   FILE...        only these files (default: every tracked one)
# exit:  0 clean, 1 a file is unformatted or has an assignment in a
#        condition, 2 a tool is missing or a file does not compile.
#
# Installs nothing: clang-format (package clang-format) and clang-query
# (package clang-tools) come from `make deps`. CLANG_FORMAT and CLANG_QUERY
# name other binaries; they must be version 14, whose output the
# configuration was tuned for.
set -u

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here" || exit 2
DIRS="cgi daemon ctl lib standin fuzz bench"

fix=0
do_format=1
do_assign=1
while [ $# -gt 0 ]; do
	case $1 in
	--fix)		fix=1;;
	--format-only)	do_assign=0;;
	--assign-only)	do_format=0;;
	-h|--help)	sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
			exit 0;;
	--)		shift; break;;
	-*)		echo "check-style.sh: unknown option $1" >&2; exit 2;;
	*)		break;;
	esac
	shift
done

# The files: those named, or every tracked .c/.h in our folders (a copy
# without git falls back to find).
if [ $# -gt 0 ]; then
	files=("$@")
elif git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	mapfile -t files < <(git ls-files -- $(for d in $DIRS; do
	    printf '%s/*.c %s/*.h ' "$d" "$d"; done))
else
	mapfile -t files < <(find $DIRS -name '*.[ch]' -type f | sort)
fi
if [ ${#files[@]} -eq 0 ]; then
	echo "check-style.sh: no files to check" >&2
	exit 2
fi

# The first of the given names that exists and is version 14.
find_tool() {
	local name
	for name in "$@"; do
		command -v "$name" >/dev/null 2>&1 || continue
		"$name" --version 2>/dev/null | grep -q 'version 14\.' || continue
		echo "$name"
		return 0
	done
	return 1
}

rc=0

if [ $do_format = 1 ]; then
	cf=$(find_tool ${CLANG_FORMAT:-clang-format-14 clang-format})
	if [ -z "$cf" ]; then
		echo "check-style.sh: clang-format 14 not found" \
		    "(package clang-format; make deps)" >&2
		exit 2
	fi
	# One clang-format for all files; a difference is reported as
	# "FILE:LINE:COL: error: code should be clang-formatted".
	out=$("$cf" --style=file --dry-run -Werror "${files[@]}" 2>&1)
	frc=$?
	mapfile -t bad < <(printf '%s\n' "$out" | sed -n \
	    's/^\(.*\):[0-9]*:[0-9]*: error: code should be clang-formatted.*/\1/p' |
	    awk '!seen[$0]++')
	if [ $frc != 0 ] && [ ${#bad[@]} -eq 0 ]; then
		echo "check-style.sh: $cf failed:" >&2
		printf '%s\n' "$out" | head -n 20 >&2
		exit 2
	fi
	if [ ${#bad[@]} -gt 0 ] && [ $fix = 1 ]; then
		"$cf" --style=file -i "${bad[@]}" || exit 2
	fi
	if [ ${#bad[@]} -gt 0 ] && [ $fix = 1 ]; then
		echo "reformatted ${#bad[@]} file(s):"
		printf '  %s\n' "${bad[@]}"
	elif [ ${#bad[@]} -gt 0 ]; then
		echo "not in the house layout (${#bad[@]} of ${#files[@]}" \
		    "files; make format rewrites them):"
		printf '  %s\n' "${bad[@]}"
		echo "first differences:"
		for f in "${bad[@]:0:3}"; do
			"$cf" --style=file "$f" | diff -u "$f" - |
			    sed "1,2d; s|^|  |" | head -n 15
		done
		rc=1
	fi
fi

if [ $do_assign = 1 ]; then
	cq=$(find_tool ${CLANG_QUERY:-clang-query-14 clang-query})
	if [ -z "$cq" ]; then
		echo "check-style.sh: clang-query 14 not found" \
		    "(package clang-tools; make deps)" >&2
		exit 2
	fi
	# The compile flags of the Makefile (its PKGS) and of fuzz/build.sh.
	pkgs=$(sed -n 's/^PKGS[[:space:]]*=//p' Makefile)
	pkgflags=$(pkg-config --cflags $pkgs 2>/dev/null)
	base="-std=c11 -D_GNU_SOURCE $pkgflags"
	srcs=()
	fuzz=()
	for f in "${files[@]}"; do
		case $f in
		fuzz/*.c)	fuzz+=("$f");;
		*.c)		srcs+=("$f");;
		esac
	done
	# An assignment anywhere in a condition, however deep in parentheses,
	# commas or calls; never in a for's init or step, nor in a ?: branch.
	# Statement expressions (system macros) are not ours to judge.
	query=(
	    -c 'set output diag'
	    -c 'let A binaryOperator(isAssignmentOperator(), unless(hasAncestor(stmtExpr()))).bind("assign")'
	    -c 'let C expr(anyOf(A, hasDescendant(A)))'
	    -c 'match stmt(anyOf(ifStmt(hasCondition(C)), whileStmt(hasCondition(C)), doStmt(hasCondition(C)), forStmt(hasCondition(C)), switchStmt(hasCondition(C)), conditionalOperator(hasCondition(C))))'
	)
	out=$(mktemp /tmp/check-style.XXXXXX)
	trap 'rm -f "$out"' EXIT
	if [ ${#srcs[@]} -gt 0 ]; then
		"$cq" "${query[@]}" "${srcs[@]}" -- $base -Ilib >>"$out" 2>&1
	fi
	if [ ${#fuzz[@]} -gt 0 ]; then
		"$cq" "${query[@]}" "${fuzz[@]}" -- $base \
		    -Ifuzz -Ilib -Icgi -Idaemon >>"$out" 2>&1
	fi
	if grep -q 'error:' "$out"; then
		echo "check-style.sh: clang-query could not compile:" >&2
		grep -A3 'error:' "$out" | head -n 40 >&2
		exit 2
	fi
	# "FILE:LINE:COL: note: "assign" binds here", once per place, ours
	# only (a header is seen once per file including it). One that a system
	# macro wrote (STAILQ_REMOVE_HEAD's own "if ((x = ...) == NULL)") is
	# followed by "SYSTEM-HEADER:...: note: expanded from macro": not ours.
	found=$(awk -v here="$here/" '
	    function flush() {
		    if (loc != "" && !sys) print loc
		    loc = ""; sys = 0
	    }
	    /: note: "assign" binds here$/ {
		    flush(); n = split($0, p, ":"); loc = p[1] ":" p[2]; next
	    }
	    /: note: expanded from macro / {
		    if (loc != "" && substr($0, 1, 1) == "/" &&
			index($0, here) != 1) sys = 1
		    next
	    }
	    /: note: "root" binds here$/ || /^Match #/ { flush() }
	    END { flush() }' "$out" |
	    while IFS=: read -r f l; do
		    echo "$(realpath -m --relative-to="$here" "$f"):$l"
	    done | grep -E "^($(echo $DIRS | tr ' ' '|'))/" |
	    sort -t: -k1,1 -k2,2n -u)
	if [ -n "$found" ]; then
		echo "assignment inside a condition ($(echo "$found" |
		    wc -l) places; curl's CODE_STYLE.md: assign first, then test):"
		while IFS=: read -r f l; do
			printf '  %s:%s: %s\n' "$f" "$l" \
			    "$(sed -n "${l}p" "$f" | sed 's/^[[:space:]]*//')"
		done <<<"$found"
		rc=1
	fi
fi

exit $rc
