#!/bin/bash
# The VMOD under load (issue 4): starts a varnishd on loopback and measures,
# with the same wrk settings in one invocation:
#   plain    VCL return (synth(200)), the reference
#   synth    tinykvm.synth() with the hello program (ephemeral: reset per request)
#   program  tinykvm.program() as the backend, with return (pass)
# Prints req/s, p50 and p99 per case, and synth's req/s as % of plain.
# With --count N it then counts, per request over N sequential requests on
# one connection, the system calls of the varnishd worker (strace -f): all
# of them, KVM_RUN, and the other ioctls (machine-independent figures).
#
# usage: tests/bench/vmod-bench.sh [--build DIR] [--duration S] [--connections N] [--count N]
set -eu

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
build=$srcdir/build
duration=10
connections=16
count=0
port=${VMOD_BENCH_PORT:-18080}

while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$(cd "${2:?}" && pwd); shift 2 ;;
	--duration) duration=${2:?}; shift 2 ;;
	--connections) connections=${2:?}; shift 2 ;;
	--count) count=${2:?}; shift 2 ;;
	*) sed -n '/^# usage:/,/^$/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
	esac
done
command -v wrk >/dev/null || { echo "vmod-bench: wrk is required" >&2; exit 2; }
[ "$count" -eq 0 ] || command -v strace >/dev/null ||
    { echo "vmod-bench: --count needs strace" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/vmod-bench.XXXXXX")
trap 'kill "$(cat "$work/pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$work"' EXIT

make -C "$build" -s >&2
${CC:-cc} -static -O2 -Wall -Wextra -Werror -I"$srcdir/guest-sdk/include" \
    -o "$work/bench_hello" "$srcdir/tests/bench/guests/bench_hello.c" \
    "$srcdir/guest-sdk/lib/guest.c"

# Which KVM the figures come from: exits cost ~60x more on PVM.
"$build/tinykvm-run" --verbose "$build/examples/hello/hello" 2>&1 >/dev/null |
    sed -n 's/^tinykvm-run: platform: /platform /p'

cat >"$work/bench.vcl" <<VCL
vcl 4.1;
import tinykvm from "$build/.libs/libvmod_tinykvm.so";
backend default none;

sub vcl_init {
	tinykvm.configure("hello", {" { "filename": "$work/bench_hello", "concurrency": 4 } "});
	tinykvm.start("hello");
}
sub vcl_recv {
	if (req.url ~ "^/program") {
		return (pass);
	}
	return (synth(200));
}
sub vcl_backend_fetch {
	set bereq.backend = tinykvm.program("hello", bereq.url);
}
sub vcl_synth {
	if (req.url ~ "^/synth") {
		tinykvm.synth(0, "hello", req.url);
	}
	return (deliver);
}
VCL

varnishd -j none -a "127.0.0.1:$port" -f "$work/bench.vcl" -n "$work/n" \
    -P "$work/pid" -p thread_pools=1 >&2
for _ in $(seq 50); do
	curl -sf "http://127.0.0.1:$port/plain" >/dev/null && break
	sleep 0.2
done
for path in synth program; do
	body=$(curl -sf "http://127.0.0.1:$port/$path") || {
		echo "vmod-bench: /$path fails" >&2; exit 1; }
	[ "$body" = "Hello, World!" ] || {
		echo "vmod-bench: /$path gives '$body'" >&2; exit 1; }
done

# wrk's --latency table gives p50 and p99; its summary, req/s.
run() {
	local name=$1 out
	out=$(wrk -t2 -c"$connections" -d"${duration}s" --latency \
	    "http://127.0.0.1:$port/$name")
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
} | tee "$work/results"
awk '{ v[$1] = $2 } END {
	printf "synth_percent_of_plain %.1f\n", v["synth_rps"] / v["plain_rps"] * 100
	printf "program_percent_of_plain %.1f\n", v["program_rps"] / v["plain_rps"] * 100
}' "$work/results"

# counts NAME: the worker's system calls over $count requests to /NAME, one
# connection (curl's URL globbing), per request.  "resumed" lines are the
# second half of a call already counted.
counts() {
	local name=$1 child trace=$work/strace.$1 spid
	child=$(pgrep -P "$(cat "$work/pid")" | head -n 1)
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
		/ioctl\([0-9]+, KVM_RUN/ { run++; next }
		/ioctl\(/ { ioc++ }
		END {
			printf "%s_syscalls_per_req %.2f\n", n, all / N
			printf "%s_kvm_run_per_req %.2f\n", n, run / N
			printf "%s_other_ioctls_per_req %.2f\n", n, ioc / N
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
