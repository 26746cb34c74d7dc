#!/bin/bash
# The VMOD under load (issue 4): starts a varnishd on loopback
# (bench-varnish.sh) and measures /plain, /synth and /program with the same
# wrk settings in one invocation, and the same for a 64 KiB writer.
# Prints req/s, p50 and p99 per case, and synth's req/s as % of plain.
# With --count N it then counts, per request over N sequential requests on
# one connection, the system calls of the varnishd worker (strace -f): all
# of them, KVM_RUN, and the other ioctls (machine-independent figures).
# With --paced N it sends N single requests, one at a time with a pause
# between them (an idle server, unlike wrk's closed loop, where the next
# request waits behind the last one's reset), and prints the p50 of curl's
# time to the whole response, for hello and for a request that writes 256
# pages: the reset a client still pays shows there.
#
# usage: tests/bench/vmod-bench.sh [--build DIR] [--duration S] [--connections N] [--count N] [--paced N]
set -euo pipefail

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
build=$srcdir/build
duration=10
connections=16
count=0
paced=0
port=${VMOD_BENCH_PORT:-18080}

while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$(cd "${2:?}" && pwd); shift 2 ;;
	--duration) duration=${2:?}; shift 2 ;;
	--connections) connections=${2:?}; shift 2 ;;
	--count) count=${2:?}; shift 2 ;;
	--paced) paced=${2:?}; shift 2 ;;
	*) sed -n '/^# usage:/,/^$/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
	esac
done
command -v wrk >/dev/null || { echo "vmod-bench: wrk is required" >&2; exit 2; }
[ "$count" -eq 0 ] || command -v strace >/dev/null ||
    { echo "vmod-bench: --count needs strace" >&2; exit 2; }

. "$srcdir/tests/bench/bench-varnish.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/vmod-bench.XXXXXX")
trap 'bench_varnish_stop; rm -rf "$work"' EXIT
bench_varnish_start

# wrk's --latency table gives p50 and p99; its summary, req/s.
# run NAME [PATH]: PATH defaults to /NAME.
run() {
	local name=$1 path=${2:-/$1} out
	out=$(wrk -t2 -c"$connections" -d"${duration}s" --latency \
	    "http://127.0.0.1:$port$path")
	echo "$out" >&2
	echo "$out" | awk -v n="$name" '
		function us(v) {
			if (v ~ /us$/) return v + 0
			if (v ~ /ms$/) return v * 1000
			if (v ~ /s$/) return v * 1000000
			return v
		}
		/^ +50%/ { p50 = us($2) }
		/^ +99%/ { p99 = us($2) }
		/^Requests\/sec:/ { rps = $2 }
		/Non-2xx/ { bad = $NF }
		END {
			printf "%s_rps %.0f\n%s_p50_us %.0f\n%s_p99_us %.0f\n", n, rps, n, p50, n, p99
			if (bad != "") printf "%s_non2xx %s\n", n, bad
		}'
}

{
	run plain
	run synth
	run program
	# A request that writes 64 KiB (16 pages): what dirty tracking costs.
	run synth_64k "/synth?dirty=16"
	run program_64k "/program?dirty=16"
} | tee "$work/results"
awk '{ v[$1] = $2 } END {
	printf "synth_percent_of_plain %.1f\n", v["synth_rps"] / v["plain_rps"] * 100
	printf "program_percent_of_plain %.1f\n", v["program_rps"] / v["plain_rps"] * 100
}' "$work/results"

# counts NAME: the worker's system calls over $count requests to /NAME, one
# connection (curl's URL globbing), per request.  "resumed" lines are the
# second half of a call already counted.
counts() {
	local name=$1 trace=$work/strace.$1 spid
	strace -f -qq -o "$trace" -p "$child" &
	spid=$!
	sleep 1
	curl -sf -o /dev/null "http://127.0.0.1:$port/$name?[1-$count]" ||
	    { echo "vmod-bench: /$name fails under strace" >&2; exit 1; }
	sleep 0.5
	kill -INT "$spid"
	wait "$spid" || true
	awk -v n="$name" -v N="$count" '
		/resumed>/ { next }
		{ all++ }
		# "PID name(...": by name, to see which ones a change adds.
		match($0, /^[0-9]+ +[a-z0-9_]+\(/) {
			call = substr($0, RSTART, RLENGTH - 1)
			sub(/^[0-9]+ +/, "", call)
			byname[call]++
		}
		/ioctl\([0-9]+, KVM_RUN/ { run++; next }
		/ioctl\(/ { ioc++ }
		END {
			printf "%s_syscalls_per_req %.2f\n", n, all / N
			printf "%s_kvm_run_per_req %.2f\n", n, run / N
			printf "%s_other_ioctls_per_req %.2f\n", n, ioc / N
			for (c in byname)
				if (byname[c] / N >= 0.05)
					printf "%s_%s_per_req %.2f\n", n, c, byname[c] / N
		}' "$trace"
}

if [ "$count" -gt 0 ]; then
	{
		counts plain
		counts synth
		counts program
	} | tee "$work/counts"
	awk '{ v[$1] = $2 } END {
		printf "synth_syscalls_over_plain %.2f\n", v["synth_syscalls_per_req"] - v["plain_syscalls_per_req"]
		printf "program_syscalls_over_plain %.2f\n", v["program_syscalls_per_req"] - v["plain_syscalls_per_req"]
	}' "$work/counts"
fi

# paced NAME PATH: the p50 of $paced single requests to PATH, 0.1 s apart.
paced() {
	local name=$1 path=$2 i
	for i in $(seq "$paced"); do
		curl -sf -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$port$path" ||
		    { echo "vmod-bench: $path fails" >&2; exit 1; }
		sleep 0.1
	done | sort -n | awk -v n="$name" '{ t[NR] = $1 } END {
		printf "%s_paced_p50_us %.0f\n", n, t[int((NR + 1) / 2)] * 1e6 }'
}

if [ "$paced" -gt 0 ]; then
	paced plain /plain
	paced synth /synth
	paced synth_dirty256 "/synth?dirty=256"
	paced program_dirty256 "/program?dirty=256"
fi
