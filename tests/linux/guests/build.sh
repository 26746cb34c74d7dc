#!/bin/sh
# Builds every guest in tests/linux/guests into OUTDIR/<flavour>/<name>, for four
# flavours of static x86-64 Linux executable:
#   glibc-static      gcc -static -O2
#   glibc-static-pie  gcc -static-pie -fPIE -O2
#   gxx-static        g++ -static -O2 (C sources compiled as C++)
#   musl-static       musl-gcc -static -O2 (C guests only)
#   glibc-dynamic     gcc -O2: a PIE that needs ld.so and libc.so.6
# Only out-of-date outputs are rebuilt (source or this script newer), so a
# second run is a no-op. A flavour whose compiler is missing is skipped with a
# note. GUEST_FLAVOURS="a b" restricts the flavours; JOBS sets parallelism.
#
# usage: tests/linux/guests/build.sh OUTDIR
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
out=$1
srcdir=$(cd "$(dirname "$0")" && pwd)
self="$srcdir/build.sh"
flavours=${GUEST_FLAVOURS:-"glibc-static glibc-static-pie gxx-static musl-static glibc-dynamic"}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
CC=${CC:-gcc}
CXX=${CXX:-g++}
MUSL_CC=${MUSL_CC:-musl-gcc}
warn="-Wall -Wextra -Werror"

# Guests whose fault (or allocation) the compiler could prove and rewrite.
extra_flags() {
	case $1 in
	null_write | div_zero | stack_overflow | memory_bomb) echo "-fno-builtin" ;;
	*) echo "" ;;
	esac
}

# Whether (flavour) builds (source): musl has no C++ runtime here.
builds() {
	case $1:$2 in
	musl-static:*.cc) return 1 ;;
	esac
	return 0
}

# Compiles (source) for (flavour) into (output).
compile() {
	flavour=$1 src=$2 obj=$3
	name=$(basename "$src")
	extra=$(extra_flags "${name%.*}")
	# shellcheck disable=SC2086 # $warn and $extra are flag lists
	case $flavour:$src in
	glibc-static:*.c) $CC -static -O2 $warn $extra -o "$obj" "$src" -lm ;;
	glibc-static:*.cc) $CXX -static -O2 $warn $extra -o "$obj" "$src" ;;
	glibc-static-pie:*.c) $CC -static-pie -fPIE -O2 $warn $extra -o "$obj" "$src" -lm ;;
	glibc-static-pie:*.cc) $CXX -static-pie -fPIE -O2 $warn $extra -o "$obj" "$src" ;;
	gxx-static:*.c) $CXX -static -O2 $warn $extra -o "$obj" -x c++ "$src" -x none -lm ;;
	gxx-static:*.cc) $CXX -static -O2 $warn $extra -o "$obj" "$src" ;;
	musl-static:*.c) $MUSL_CC -static -O2 $warn $extra -o "$obj" "$src" -lm ;;
	glibc-dynamic:*.c) $CC -O2 $warn $extra -o "$obj" "$src" -lm ;;
	glibc-dynamic:*.cc) $CXX -O2 $warn $extra -o "$obj" "$src" ;;
	*) return 1 ;;
	esac
}

compiler_of() {
	case $1 in
	musl-static) echo "$MUSL_CC" ;;
	gxx-static) echo "$CXX" ;;
	*) echo "$CC $CXX" ;;
	esac
}

status=0
running=0
pids=""
for flavour in $flavours; do
	missing=""
	for c in $(compiler_of "$flavour"); do
		command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
	done
	if [ -n "$missing" ]; then
		echo "build.sh: skipping $flavour: not found:$missing" >&2
		continue
	fi
	mkdir -p "$out/$flavour"
	for src in "$srcdir"/*.c "$srcdir"/*.cc; do
		name=$(basename "$src")
		name=${name%.*}
		dst="$out/$flavour/$name"
		builds "$flavour" "$src" || continue
		# -nt is not POSIX but dash, bash, ksh and busybox sh all have it.
		# shellcheck disable=SC3013
		if [ -f "$dst" ] && [ "$dst" -nt "$src" ] && [ "$dst" -nt "$self" ]; then
			continue
		fi
		(
			# Build under a temporary name so an interrupted build
			# never leaves a half-written guest that looks current.
			if compile "$flavour" "$src" "$dst.tmp.$$"; then
				mv -f "$dst.tmp.$$" "$dst"
			else
				rm -f "$dst.tmp.$$"
				echo "build.sh: FAILED: $flavour/$name" >&2
				exit 1
			fi
		) &
		pids="$pids $!"
		running=$((running + 1))
		if [ "$running" -ge "$jobs" ]; then
			for pid in $pids; do
				wait "$pid" || status=1
			done
			pids=""
			running=0
		fi
	done
done
for pid in $pids; do
	wait "$pid" || status=1
done
exit $status
