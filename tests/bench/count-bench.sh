#!/bin/bash
# What a request costs the host, counted by the kernel (issue 11): starts a
# varnishd on loopback (bench-varnish.sh) and, for hello, a 64 KiB writer and
# a 1 MiB writer, each through synth() and program(), sends N requests one
# after the other on one connection and counts, with the kernel's
# tracepoints (not strace, which would change what it measures), for the
# threads of the varnishd worker process:
#   kvm:kvm_exit              VM exits, all of them and by reason
#   kvm:kvm_userspace_exit    returns from KVM_RUN to us
#   raw_syscalls:sys_enter    host system calls, and among them the KVM
#                             ioctls (KVM_RUN and the others)
# per request, system calls net of the same count for plain Varnish
# (return (synth(200)), no program).  Then the idle rate: the worker's
# system calls per second over 20 s with a program loaded and no request.
# Prints `name value` lines.  Root, and a kernel with tracefs.
#
# Each case first gets --warmup requests, uncounted: every fork of the pool
# (concurrency 4) has then served it once, so the counts are the steady
# state, not the copy-on-write of a fork's first touch of its pages.
#
# usage: tests/bench/count-bench.sh [--build DIR] [--count N] [--idle S] [--warmup N]
set -euo pipefail

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
build=$srcdir/build
count=500
idle=20
warmup=16
port=${COUNT_BENCH_PORT:-18081}

while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$(cd "${2:?}" && pwd); shift 2 ;;
	--count) count=${2:?}; shift 2 ;;
	--idle) idle=${2:?}; shift 2 ;;
	--warmup) warmup=${2:?}; shift 2 ;;
	*) sed -n '/^# usage:/,/^$/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
	esac
done

tr=/sys/kernel/tracing
[ -e "$tr/trace" ] || mount -t tracefs nodev "$tr" 2>/dev/null ||
    { echo "count-bench: no tracefs at $tr (root needed)" >&2; exit 2; }
for ev in kvm/kvm_exit kvm/kvm_userspace_exit raw_syscalls/sys_enter; do
	[ -e "$tr/events/$ev/enable" ] ||
	    { echo "count-bench: no tracepoint $ev (kvm module loaded?)" >&2; exit 2; }
done

. "$srcdir/tests/bench/bench-varnish.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/count-bench.XXXXXX")
# What we change in tracefs, put back on exit.
saved_kb=$(sed 's/.*expanded: \([0-9]*\).*/\1/' "$tr/buffer_size_kb")
saved_fork=$(grep -c '^event-fork' "$tr/trace_options" || true)
trace_off() {
	echo 0 >"$tr/tracing_on"
	for ev in kvm/kvm_exit kvm/kvm_userspace_exit raw_syscalls/sys_enter; do
		echo 0 >"$tr/events/$ev/enable"
	done
	echo >"$tr/set_event_pid"
}
trap 'trace_off 2>/dev/null || true
echo "$saved_kb" >"$tr/buffer_size_kb" 2>/dev/null || true
echo "$saved_fork" >"$tr/options/event-fork" 2>/dev/null || true
bench_varnish_stop; rm -rf "$work"' EXIT
bench_varnish_start

# trace_start: every event above, for the worker's threads (and the ones it
# starts meanwhile), into an empty buffer.
trace_start() {
	local t
	trace_off
	echo 65536 >"$tr/buffer_size_kb"	# per CPU
	echo 1 >"$tr/options/event-fork"
	for t in /proc/"$child"/task/*; do
		echo "${t##*/}" >>"$tr/set_event_pid"
	done
	for ev in kvm/kvm_exit kvm/kvm_userspace_exit raw_syscalls/sys_enter; do
		echo 1 >"$tr/events/$ev/enable"
	done
	echo >"$tr/trace"
	echo 1 >"$tr/tracing_on"
}

# trace_stop NAME N: the counts of the trace, per N, as NAME_* lines.
trace_stop() {
	local name=$1 n=$2
	echo 0 >"$tr/tracing_on"
	if cat "$tr"/per_cpu/cpu*/stats |
	    awk '/^overrun:/ && $2 != 0 { lost = 1 } END { exit !lost }'; then
		echo "count-bench: the trace buffer overran; fewer requests" >&2
		exit 1
	fi
	awk -v p="$name" -v N="$n" '
		/^#/ { next }
		/ kvm_exit: / {
			exits++
			if (match($0, /reason [A-Za-z_0-9]+/))
				why[substr($0, RSTART + 7, RLENGTH - 7)]++
		}
		/ kvm_userspace_exit: / { uexits++ }
		/ sys_enter: NR / {
			sys++
			if (match($0, /NR [0-9]+/))
				nr[substr($0, RSTART + 3, RLENGTH - 3)]++
			# ioctl(fd, cmd, ...): KVM commands are type 0xAE.
			if ($0 ~ /NR 16 \([0-9a-f]+, ae80,/) run++
			else if ($0 ~ /NR 16 \([0-9a-f]+, [0-9a-f]*ae[0-9a-f][0-9a-f],/) kio++
		}
		END {
			printf "%s_exits_per_req %.2f\n", p, exits / N
			for (r in why)
				printf "%s_exit_%s_per_req %.2f\n", p, r, why[r] / N
			printf "%s_userspace_exits_per_req %.2f\n", p, uexits / N
			printf "%s_syscalls_per_req %.2f\n", p, sys / N
			printf "%s_kvm_run_per_req %.2f\n", p, run / N
			printf "%s_other_kvm_ioctls_per_req %.2f\n", p, kio / N
			# by number (asm/unistd_64.h), those of 0.05 or more
			for (c in nr)
				if (nr[c] / N >= 0.05)
					printf "%s_syscall_nr%s_per_req %.2f\n", p, c, nr[c] / N
		}' "$tr/trace"
}

# counts NAME PATH: $count requests to PATH on one connection, counted.
counts() {
	local name=$1 path=$2 sep='?'
	case $path in *\?*) sep='&' ;; esac
	[ "$warmup" -eq 0 ] || curl -sf -o /dev/null \
	    "http://127.0.0.1:$port$path${sep}w=[1-$warmup]" ||
	    { echo "count-bench: $path fails" >&2; exit 1; }
	trace_start
	curl -sf -o /dev/null "http://127.0.0.1:$port$path${sep}n=[1-$count]" ||
	    { echo "count-bench: $path fails" >&2; exit 1; }
	trace_stop "$name" "$count"
}

{
	counts plain /plain
	for side in synth program; do
		counts "${side}_hello" "/$side"
		counts "${side}_64k" "/$side?dirty=16"
		counts "${side}_1m" "/$side?dirty=256"
	done
} | tee "$work/counts"
awk '{ v[$1] = $2 } END {
	for (k in v)
		if (k ~ /^(synth|program)_.*_syscalls_per_req$/) {
			n = k
			sub(/_syscalls_per_req$/, "_syscalls_over_plain", n)
			printf "%s %.2f\n", n, v[k] - v["plain_syscalls_per_req"]
		}
}' "$work/counts" | sort

# The idle rate: nothing asked for $idle seconds, after a pause for the
# requests above to settle.
sleep 2
trace_start
sleep "$idle"
trace_stop idle 1 | sed -n "s/^idle_syscalls_per_req /idle_syscalls_per_s_x$idle /p" |
    awk -v s="$idle" '{ printf "idle_syscalls_per_s %.1f\n", $2 / s }'
