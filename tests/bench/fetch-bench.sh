#!/bin/bash
# Self-requests under load: a program that fetches a cached object from its
# own Varnish, against that object served directly.  Starts, on loopback:
#   origin   a second varnishd that synthesises a 100 KiB body
#   varnish  the VMOD's varnishd, with a TCP listener (wrk) and a unix socket
#            one (init_self_requests); /obj is cached from origin (TTL 1 h)
# and measures, with the same wrk settings in one invocation each:
#   direct   GET /obj: a cache hit
#   selfreq  GET /selfreq: program() with return (pass); the selfreq guest
#            fetches /obj through the unix socket (a hit) and responds with it
# Prints req/s, p50 and p99 per case, and selfreq's req/s as % of direct.
#
# usage: tests/bench/fetch-bench.sh [--build DIR] [--duration S] [--connections N] [--concurrency N]
set -eu

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
build=$srcdir/build
duration=10
connections=16
concurrency=16
port=${FETCH_BENCH_PORT:-18090}
origin_port=${FETCH_BENCH_ORIGIN_PORT:-18091}
size=102400

while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$(cd "${2:?}" && pwd); shift 2 ;;
	--duration) duration=${2:?}; shift 2 ;;
	--connections) connections=${2:?}; shift 2 ;;
	--concurrency) concurrency=${2:?}; shift 2 ;;
	*) sed -n '/^# usage:/,/^$/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
	esac
done
command -v wrk >/dev/null || { echo "fetch-bench: wrk is required" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/fetch-bench.XXXXXX")
cleanup() {
	local f
	for f in "$work/pid" "$work/origin.pid"; do
		kill "$(cat "$f" 2>/dev/null)" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

make -C "$build" -s >&2
${CC:-cc} -static -O2 -Wall -Wextra -Werror -I"$srcdir/guest-sdk/include" \
    -o "$work/selfreq" "$srcdir/tests/bench/guests/selfreq.c" \
    "$srcdir/guest-sdk/lib/guest.c"

# The origin: 100 KiB of text (63 letters and a newline per line) in a
# VCL long string.
body=$(awk -v size="$size" 'BEGIN {
	line = ""
	for (i = 0; i < 63; i++) line = line sprintf("%c", 97 + i % 26)
	for (n = 0; n + 64 <= size; n += 64) printf "%s\n", line
}')
# Which KVM the figures come from: exits cost ~60x more on PVM.
"$build/tinykvm-run" --verbose "$build/examples/hello/hello" 2>&1 >/dev/null |
    sed -n 's/^tinykvm-run: platform: /platform /p'

cat >"$work/origin.vcl" <<VCL
vcl 4.1;
backend default none;

sub vcl_recv {
	return (synth(200));
}
sub vcl_synth {
	set resp.http.Content-Type = "text/plain";
	synthetic({"$body
"});
	return (deliver);
}
VCL

cat >"$work/bench.vcl" <<VCL
vcl 4.1;
import tinykvm from "$build/.libs/libvmod_tinykvm.so";

backend origin {
	.host = "127.0.0.1";
	.port = "$origin_port";
}

sub vcl_init {
	tinykvm.configure("selfreq", {" {
		"filename": "$work/selfreq",
		"concurrency": $concurrency,
		"allowed_urls": ["/"]
	} "});
	tinykvm.start("selfreq");
	tinykvm.init_self_requests("$work/v.sock");
}
sub vcl_recv {
	if (req.url == "/obj") {
		return (hash);
	}
	return (pass);
}
# Self-requests come with "Host: localhost" (the unix socket), wrk's with
# 127.0.0.1:port: hash the URL only, so that both hit the same object.
sub vcl_hash {
	hash_data(req.url);
	return (lookup);
}
sub vcl_backend_fetch {
	if (bereq.url == "/obj") {
		set bereq.backend = origin;
	} else {
		set bereq.backend = tinykvm.program("selfreq");
	}
}
sub vcl_backend_response {
	if (bereq.url == "/obj") {
		set beresp.ttl = 1h;
	}
}
VCL

varnishd -j none -a "127.0.0.1:$origin_port" -f "$work/origin.vcl" \
    -n "$work/origin" -P "$work/origin.pid" -p thread_pools=1 >&2
varnishd -j none -a "127.0.0.1:$port" -a "$work/v.sock" -f "$work/bench.vcl" \
    -n "$work/n" -P "$work/pid" -p thread_pools=1 >&2
for _ in $(seq 50); do
	curl -sf -o /dev/null "http://127.0.0.1:$port/obj" && break
	sleep 0.2
done

# Both give the same 100 KiB body; /obj is in the cache from here on.
for path in obj selfreq; do
	curl -sf -o "$work/$path.body" "http://127.0.0.1:$port/$path" || {
		echo "fetch-bench: /$path fails" >&2; exit 1; }
	n=$(wc -c <"$work/$path.body")
	[ "$n" -eq "$size" ] || {
		echo "fetch-bench: /$path gives $n bytes, not $size" >&2; exit 1; }
done
cmp -s "$work/obj.body" "$work/selfreq.body" || {
	echo "fetch-bench: /selfreq differs from /obj" >&2; exit 1; }

# wrk's --latency table gives p50 and p99; its summary, req/s.
run() {
	local name=$1 path=$2 out
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
	run direct /obj
	run selfreq /selfreq
} | tee "$work/results"
awk '{ v[$1] = $2 } END {
	printf "selfreq_percent_of_direct %.1f\n", v["selfreq_rps"] / v["direct_rps"] * 100
}' "$work/results"
# the hits, and the origin's one fetch
varnishstat -n "$work/n" -1 -f MAIN.cache_hit -f MAIN.cache_miss -f MAIN.backend_req -f MAIN.backend_fail -f "VBE.*.origin.req" >&2
varnishstat -n "$work/origin" -1 -f MAIN.client_req >&2
