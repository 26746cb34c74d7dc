# Sourced by the VMOD benchmarks (vmod-bench.sh, count-bench.sh): builds the
# tree and the bench guest, and starts a varnishd on 127.0.0.1:$port serving
#   /plain...    VCL return (synth(200)), the reference
#   /synth...    tinykvm.synth() with bench_hello (ephemeral: reset per request)
#   /program...  tinykvm.program() as the backend, with return (pass)
# bench_hello writes N pages first when the URL says "dirty=N".
# Needs: $srcdir, $build, $work (a scratch directory), $port.  Sets $child,
# the varnishd worker process.

bench_varnish_start() {
	make -C "$build" -s >&2
	${CC:-cc} -static -O2 -Wall -Wextra -Werror \
	    -I"$srcdir/guest-sdk/include" -o "$work/bench_hello" \
	    "$srcdir/tests/bench/guests/bench_hello.c" \
	    "$srcdir/guest-sdk/lib/guest.c"

	# Which KVM the figures come from: exits cost ~60x more on PVM.
	"$build/tinykvm-run" --verbose "$build/examples/hello/hello" 2>&1 \
	    >/dev/null | sed -n 's/^tinykvm-run: platform: /platform /p'

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

	varnishd -j none -a "127.0.0.1:$port" -f "$work/bench.vcl" \
	    -n "$work/n" -P "$work/pid" -p thread_pools=1 >&2
	for _ in $(seq 50); do
		curl -sf "http://127.0.0.1:$port/plain" >/dev/null && break
		sleep 0.2
	done
	for path in synth program; do
		body=$(curl -sf "http://127.0.0.1:$port/$path") || {
			echo "bench: /$path fails" >&2; exit 1; }
		[ "$body" = "Hello, World!" ] || {
			echo "bench: /$path gives '$body'" >&2; exit 1; }
	done
	child=$(pgrep -P "$(cat "$work/pid")" | head -n 1)
}

bench_varnish_stop() {
	kill "$(cat "$work/pid" 2>/dev/null)" 2>/dev/null || true
}
