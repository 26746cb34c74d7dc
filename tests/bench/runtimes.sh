#!/bin/bash
# Unmodified runtimes from Debian in the sandbox against the same programs
# run natively, in one invocation (issue 12):
#   start_*      start-to-exit of `python3 -c pass` and `luajit -e ''`
#                (hyperfine medians, ms), and sandbox/native
#   loop_*       a CPU-bound loop in each (ms), and native/sandbox in %:
#                the share of native speed the sandbox keeps
#   python_fork_rss_kib  what one more fork of a started CPython image
#                (examples/python/handler.py) adds to varnishd's RSS after
#                it served requests: (RSS with 17 forks - RSS with 1) / 16
# Prints "name value" lines.
#
# usage: tests/bench/runtimes.sh [--build DIR] [--runs N] [--no-rss]
set -euo pipefail

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
build=$srcdir/build
runs=10
rss=1
port=${RUNTIMES_BENCH_PORT:-18090}

while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$(cd "${2:?}" && pwd); shift 2 ;;
	--runs) runs=${2:?}; shift 2 ;;
	--no-rss) rss=0; shift ;;
	*) sed -n '/^# usage:/,/^$/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
	esac
done
for tool in hyperfine python3 luajit curl varnishd; do
	command -v "$tool" >/dev/null ||
	    { echo "runtimes: $tool is required (scripts/setup.sh installs it)" >&2; exit 2; }
done
runner="$build/tinykvm-run --timeout 600"
work=$(mktemp -d "${TMPDIR:-/tmp}/runtimes.XXXXXX")
trap 'stop_varnish; rm -rf "$work"' EXIT
vpid=""

# median_ms NAME COMMAND...: hyperfine's median of COMMAND, in ms.
median_ms() {
	local name=$1
	shift
	hyperfine -N --warmup 1 --runs "$runs" --export-json "$work/$name.json" \
	    "$*" >&2
	python3 -c 'import json, sys
print("%.1f" % (json.load(open(sys.argv[1]))["results"][0]["median"] * 1000))' \
	    "$work/$name.json"
}

# pair NAME NATIVE: NAME_native_ms, NAME_sandbox_ms and their ratio.
pair() {
	local name=$1 cmd=$2 n s
	n=$(median_ms "${name}_native" "$cmd")
	s=$(median_ms "${name}_sandbox" "$runner $cmd")
	echo "${name}_native_ms $n"
	echo "${name}_sandbox_ms $s"
	awk -v n="$n" -v s="$s" -v k="$name" 'BEGIN {
		printf "%s_sandbox_over_native %.2f\n", k, s / n
		printf "%s_native_speed_percent %.1f\n", k, n / s * 100 }'
}

stop_varnish() {
	[ -n "$vpid" ] && kill "$vpid" 2>/dev/null && wait "$vpid" 2>/dev/null
	vpid=""
	return 0
}

# child_rss_kib CONCURRENCY: varnishd's child RSS after 10 requests per
# fork of a CPython image, sent that many at a time so every fork serves.
child_rss_kib() {
	local conc=$1 child i
	cat >"$work/py.vcl" <<-EOF
	vcl 4.1;
	import tinykvm from "$build/.libs/libvmod_tinykvm.so";
	backend default none;
	sub vcl_init {
		tinykvm.configure("py", {" {
			"filename": "/usr/bin/python3",
			"arguments": ["$srcdir/examples/python/handler.py",
			    "$build/guest-sdk/libtinykvm-guest.so"],
			"allowed_paths": ["$srcdir/examples/python", "$build/guest-sdk"],
			"concurrency": $conc, "max_boot_time": 600, "max_request_time": 60
		} "});
		tinykvm.start("py");
	}
	sub vcl_recv { return (pass); }
	sub vcl_backend_fetch { set bereq.backend = tinykvm.program("py"); }
	EOF
	varnishd -F -j none -n "$work/v$conc" -a "127.0.0.1:$port" \
	    -f "$work/py.vcl" -p thread_pool_min=20 >"$work/v$conc.log" 2>&1 &
	vpid=$!
	for i in $(seq 600); do
		curl -fs "http://127.0.0.1:$port/" >/dev/null 2>&1 && break
		sleep 1
	done
	seq $((conc * 10)) | xargs -P "$conc" -I{} \
	    curl -fs -o /dev/null "http://127.0.0.1:$port/r{}"
	child=$(pgrep -P "$vpid" | head -n 1)
	awk '/^VmRSS:/ { print $2 }' "/proc/$child/status"
	stop_varnish
}

pair start_python3 "/usr/bin/python3 -c pass"
pair start_luajit "/usr/bin/luajit -e ''"
pair loop_python3 "/usr/bin/python3 -c 's=0
for i in range(3000000): s+=i%7
print(s)'"
pair loop_luajit "/usr/bin/luajit -e 'local s=0 for i=1,3e8 do s=s+i%7 end print(s)'"
if [ "$rss" = 1 ]; then
	one=$(child_rss_kib 1)
	many=$(child_rss_kib 17)
	echo "python_rss_1_fork_kib $one"
	echo "python_rss_17_forks_kib $many"
	echo "python_fork_rss_kib $(((many - one) / 16))"
fi
