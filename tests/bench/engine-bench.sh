#!/bin/bash
# Engine benchmark (issue 2), in one invocation:
#  (a) start-to-exit time of the hello guest under tinykvm-run against the
#      same binary run natively (hyperfine, median of >= 30 runs each);
#  (b) hash_bench (1 GiB of hashing) in the sandbox against natively,
#      interleaved runs, medians, and the guest's speed as a percentage of
#      native (native median / sandbox median * 100), once for the whole
#      program (start-up included) and once for the hashing alone, as the
#      guest itself times it.
# Prints a table, then one machine-readable "name value" line per figure.
#
# usage: tests/bench/engine-bench.sh [--runner PATH] [--guests OUTDIR]
#            [--flavour FLAVOUR] [--hello-runs N] [--hash-runs N] [--passes N]
#
# Defaults: --runner build/tinykvm-run (else tinykvm-run on PATH),
# --guests tests/linux/guests/out, --flavour glibc-static, --hello-runs 30,
# --hash-runs 11, --passes 16 (16 x 64 MiB = 1 GiB). The guests are built
# with tests/linux/guests/build.sh when missing or out of date.
set -eu

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
runner=""
guests=$srcdir/tests/linux/guests/out
flavour=glibc-static
hello_runs=30
hash_runs=11
passes=16

usage() {
	sed -n '/^# usage:/,/^$/p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--runner) runner=${2:?}; shift 2 ;;
	--guests) guests=${2:?}; shift 2 ;;
	--flavour) flavour=${2:?}; shift 2 ;;
	--hello-runs) hello_runs=${2:?}; shift 2 ;;
	--hash-runs) hash_runs=${2:?}; shift 2 ;;
	--passes) passes=${2:?}; shift 2 ;;
	*) usage ;;
	esac
done

if [ -z "$runner" ]; then
	if [ -x "$srcdir/build/tinykvm-run" ]; then
		runner=$srcdir/build/tinykvm-run
	else
		runner=$(command -v tinykvm-run || true)
	fi
fi
if [ -z "$runner" ] || [ ! -x "$runner" ]; then
	echo "engine-bench: no tinykvm-run found; pass --runner PATH" >&2
	exit 2
fi
if ! command -v hyperfine >/dev/null; then
	echo "engine-bench: hyperfine is required" >&2
	exit 2
fi
if [ "$hello_runs" -lt 30 ] || [ "$hash_runs" -lt 5 ]; then
	echo "engine-bench: note: fewer runs than the issue asks for (30 / 5)" >&2
fi

GUEST_FLAVOURS=$flavour "$srcdir/tests/linux/guests/build.sh" "$guests"
hello=$guests/$flavour/hello
hash=$guests/$flavour/hash_bench

tmp=$(mktemp -d "${TMPDIR:-/tmp}/engine-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Median of the numbers on stdin, one per line.
median() {
	sort -g | awk '{ v[NR] = $1 }
	    END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Seconds since the epoch, microsecond resolution.
now() {
	echo "${EPOCHREALTIME/,/.}"
}

# Both commands must work, and agree, before they are timed.
# Which KVM the figures come from: exits cost ~60x more on PVM.
"$runner" --verbose "$hello" 2>&1 >/dev/null |
    sed -n 's/^tinykvm-run: platform: /platform /p'
want=$("$hello")
got=$("$runner" "$hello") || {
	echo "engine-bench: $runner $hello failed" >&2
	exit 1
}
if [ "$got" != "$want" ]; then
	echo "engine-bench: hello prints '$got' in the sandbox, '$want' natively" >&2
	exit 1
fi

# (a) start-up: hyperfine without a shell in between (-N).
echo "== hello start-to-exit ($hello_runs runs each, hyperfine)" >&2
hyperfine -N --warmup 3 --runs "$hello_runs" --export-csv "$tmp/hello.csv" \
    -n native "'$hello'" -n sandbox "'$runner' '$hello'" >&2
hello_native=$(awk -F, '$1 == "native" { print $4 }' "$tmp/hello.csv")
hello_sandbox=$(awk -F, '$1 == "sandbox" { print $4 }' "$tmp/hello.csv")

# (b) CPU-bound: interleave native and sandbox runs so drift (thermal,
# frequency, neighbours) hits both alike.
echo "== hash_bench $passes x 64 MiB ($hash_runs runs each, interleaved)" >&2
: >"$tmp/hash.native"
: >"$tmp/hash.sandbox"
: >"$tmp/compute.native"
: >"$tmp/compute.sandbox"
for ((i = 1; i <= hash_runs; i++)); do
	t0=$(now)
	out_native=$("$hash" "$passes" 2>"$tmp/err.native")
	t1=$(now)
	out_sandbox=$("$runner" "$hash" "$passes" 2>"$tmp/err.sandbox")
	t2=$(now)
	awk '$1 == "hash_seconds" { print $2 }' "$tmp/err.native" >>"$tmp/compute.native"
	awk '$1 == "hash_seconds" { print $2 }' "$tmp/err.sandbox" >>"$tmp/compute.sandbox"
	if [ "$out_native" != "$out_sandbox" ]; then
		echo "engine-bench: hash_bench differs: native '$out_native', sandbox '$out_sandbox'" >&2
		exit 1
	fi
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f\n", b - a }' >>"$tmp/hash.native"
	awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.6f\n", b - a }' >>"$tmp/hash.sandbox"
	echo "  run $i: native $(tail -n 1 "$tmp/hash.native") s, sandbox $(tail -n 1 "$tmp/hash.sandbox") s" >&2
done
hash_native=$(median <"$tmp/hash.native")
hash_sandbox=$(median <"$tmp/hash.sandbox")
compute_native=$(median <"$tmp/compute.native")
compute_sandbox=$(median <"$tmp/compute.sandbox")

awk -v hn="$hello_native" -v hs="$hello_sandbox" \
    -v cn="$hash_native" -v cs="$hash_sandbox" \
    -v kn="$compute_native" -v ks="$compute_sandbox" \
    -v hr="$hello_runs" -v cr="$hash_runs" -v mib="$((passes * 64))" '
BEGIN {
	printf "\n%-32s %12s %12s %10s\n", "figure", "native", "sandbox", "ratio"
	printf "%-32s %9.3f ms %9.3f ms %9.2fx\n", "hello start-to-exit (median)",
	    hn * 1000, hs * 1000, hs / hn
	printf "%-32s %10.3f s %10.3f s %9.1f%%\n", "hash_bench " mib " MiB (median)",
	    cn, cs, cn / cs * 100
	printf "%-32s %10.3f s %10.3f s %9.1f%%\n", "  of which hashing (in-guest)",
	    kn, ks, kn / ks * 100
	printf "(hello: %d runs each; hash_bench: %d runs each; ratio for hash_bench is speed as %% of native)\n\n", hr, cr
	printf "hello_native_median_ms %.3f\n", hn * 1000
	printf "hello_sandbox_median_ms %.3f\n", hs * 1000
	printf "hello_startup_ratio %.2f\n", hs / hn
	printf "hash_native_median_s %.3f\n", cn
	printf "hash_sandbox_median_s %.3f\n", cs
	printf "hash_speed_percent_of_native %.1f\n", cn / cs * 100
	printf "hash_compute_native_median_s %.3f\n", kn
	printf "hash_compute_sandbox_median_s %.3f\n", ks
	printf "hash_compute_percent_of_native %.1f\n", kn / ks * 100
}'
