#!/bin/bash
# Calls, forks and resets against this machine's physical limits (issue 3):
# runs fork-bench (medians over ITERATIONS, default 1000), prints its
# "name value" lines, checks them against the targets, and plots reset time
# against dirty pages into docs/reset-vs-dirty.png.
#
# usage: tests/bench/fork-bench.sh [--build DIR] [--iterations N]
#
# DIR is a configured build tree (default: build/, as scripts/setup.sh makes).
set -eu

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
build=$srcdir/build
iterations=1000

while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$(cd "${2:?}" && pwd); shift 2 ;;
	--iterations) iterations=${2:?}; shift 2 ;;
	*) sed -n '/^# usage:/,/^$/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
	esac
done

make -C "$build" -s tests/bench/fork-bench tests/unit/guests/fork_guest >&2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$build/tests/bench/fork-bench" "$build/tests/unit/guests/fork_guest" \
    "$iterations" | tee "$out"

# The targets of issue 3, from the same run.
awk '{ v[$1] = $2 }
function check(name, ok, what) {
	printf "%-6s %s\n", ok ? "ok" : "MISSED", what
}
END {
	e = v["vm_exit_roundtrip_us"]
	check("vmcall", v["vmcall_us"] <= 1.2 * e,
	    sprintf("vmcall_us %.2f <= 1.2 x vm_exit_roundtrip_us (%.2f)", v["vmcall_us"], 1.2 * e))
	check("timeout", v["vmcall_timeout_us"] <= 1.3 * e,
	    sprintf("vmcall_timeout_us %.2f <= 1.3 x vm_exit_roundtrip_us (%.2f)", v["vmcall_timeout_us"], 1.3 * e))
	check("reset1", v["reset_us_1"] <= 2 * e,
	    sprintf("reset_us_1 %.2f <= 2 x vm_exit_roundtrip_us (%.2f)", v["reset_us_1"], 2 * e))
	limit = 3 * v["memcpy_us_4096"] + v["reset_us_0"]
	check("reset4096", v["reset_us_4096"] <= limit,
	    sprintf("reset_us_4096 %.2f <= 3 x memcpy_us_4096 + reset_us_0 (%.2f)", v["reset_us_4096"], limit))
	check("fork", v["fork_us"] <= v["native_fork_us"],
	    sprintf("fork_us %.2f <= native_fork_us %.2f", v["fork_us"], v["native_fork_us"]))
	check("rss", v["fork_rss_kib"] <= 256,
	    sprintf("fork_rss_kib %.1f <= 256", v["fork_rss_kib"]))
}' "$out" >&2

plot=$srcdir/docs/reset-vs-dirty.png
if command -v gnuplot >/dev/null; then
	awk '$1 ~ /^reset_us_/ { sub("reset_us_", "", $1); print $1, $2 }' "$out" >"$out.dat"
	memcpy=$(awk '$1 == "memcpy_us_4096" { print $2 / 4096 }' "$out")
	gnuplot <<-GNUPLOT
	set terminal pngcairo size 800,500 font ",11" noenhanced
	set output "$plot"
	set title "Fork reset time against pages dirtied (medians, $iterations iterations)"
	set xlabel "4 KiB pages dirtied by the call"
	set ylabel "reset time (µs)"
	set logscale xy
	set xrange [0.5:8192]
	set key top left
	set grid
	plot "$out.dat" using (\$1 < 1 ? 0.7 : \$1):2 with linespoints lw 2 pt 7 title "tk_vm_reset (keep)", \
	     x * $memcpy with lines dt 2 title "memcpy of the same pages"
	GNUPLOT
	rm -f "$out.dat"
	echo "plot: $plot" >&2
fi
