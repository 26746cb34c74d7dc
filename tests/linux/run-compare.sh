#!/bin/bash
# Runs every test guest, and a set of busybox applets, natively and under
# tinykvm-run, and requires the same stdout and exit status from both; checks
# the runner's timeout, fault, memory-limit and load-error behaviour against
# the CLI contract. Prints TAP on stdout (plan at the end) and always exits 0:
# the TAP driver counts the failures.
#
# usage: tests/linux/run-compare.sh --runner PATH --guests OUTDIR
#            [--filter REGEX] [--no-build] [--busybox PATH]
#
# --guests OUTDIR is where tests/linux/guests/build.sh puts (or has put) the guests;
# they are (re)built there unless --no-build. --filter runs only the tests
# whose name matches the extended REGEX. /usr/bin/time (GNU time) is used to
# tell a runner that crashed from one that reports a guest's crash, and to
# measure peak RSS; without it those checks are skipped.
set -u

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
runner=""
guests=""
filter=""
build=1
busybox=/bin/busybox
flavours="glibc-static glibc-static-pie gxx-static musl-static glibc-dynamic"
# Generous bound on any single run, so a hung runner cannot hang the suite.
# TINYKVM_TIME_SCALE (the standard-KVM lane's VM is 10-50x slower) stretches
# how long a run may take, and the slack a 1 s timeout has to end the run.
scale=${TINYKVM_TIME_SCALE:-1}
run_limit=$((60 * scale))
loop_limit_ms=$((1000 + 500 * scale))

usage() {
	echo "usage: $0 --runner PATH --guests OUTDIR [--filter REGEX] [--no-build] [--busybox PATH]" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--runner) runner=${2:?}; shift 2 ;;
	--guests) guests=${2:?}; shift 2 ;;
	--filter) filter=${2:?}; shift 2 ;;
	--busybox) busybox=${2:?}; shift 2 ;;
	--no-build) build=0; shift ;;
	-h | --help) usage ;;
	*) usage ;;
	esac
done
if [ -z "$runner" ] || [ -z "$guests" ]; then
	usage
fi

ntest=0
nfail=0

emit_plan() {
	echo "1..$ntest"
}

if [ ! -x "$runner" ]; then
	echo "Bail out! runner $runner is not an executable"
	exit 0
fi
runner=$(cd "$(dirname "$runner")" && pwd)/$(basename "$runner")

if [ "$build" = 1 ]; then
	if ! "$srcdir/tests/linux/guests/build.sh" "$guests" >&2; then
		echo "Bail out! tests/linux/guests/build.sh $guests failed"
		exit 0
	fi
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/run-compare.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

gnu_time=""
if /usr/bin/time -f %x true >/dev/null 2>&1; then
	gnu_time=/usr/bin/time
fi

# --- TAP output ---------------------------------------------------------

selected() {
	[ -z "$filter" ] || [[ $1 =~ $filter ]]
}

# A '#' in a test name would start a TAP directive.
tap_name() {
	local name=${1//\#/\\#}
	echo "${name//$'\n'/ }"
}

pass() {
	ntest=$((ntest + 1))
	echo "ok $ntest - $(tap_name "$1")"
}

# fail (name) (reason): a failed test, then the diagnostics in $tmp/diag.
fail() {
	ntest=$((ntest + 1))
	nfail=$((nfail + 1))
	echo "not ok $ntest - $(tap_name "$1"): $2"
	if [ -s "$tmp/diag" ]; then
		head -n 40 "$tmp/diag" | sed 's/^/# /'
	fi
}

skip() {
	ntest=$((ntest + 1))
	echo "ok $ntest - $(tap_name "$1") # SKIP $2"
}

# --- running ------------------------------------------------------------

now_ms() {
	local t=${EPOCHREALTIME/[.,]/}
	echo $((t / 1000))
}

# run_native (stdin) (limit) (envs...) -- (program) (args...)
# Runs natively with only (envs) in the environment, inside bash so a
# signal shows as 128+signal, without core dumps. Sets n_rc and fills
# $tmp/n.out and $tmp/n.err.
run_native() {
	local in=$1 limit=$2
	shift 2
	local envs=()
	while [ "$1" != "--" ]; do
		envs+=("$1")
		shift
	done
	shift
	# The outer 2>/dev/null swallows bash's "Segmentation fault" report.
	{
		timeout -k 5 "$run_limit" bash -c 'ulimit -c 0; '"$limit"' "$@"' _ \
		    env -i "${envs[@]}" "$@" <"$in" >"$tmp/n.out" 2>"$tmp/n.err"
		n_rc=$?
	} 2>/dev/null
}

# run_sandbox (stdin) (runner options...) -- (envs...) -- (program) (args...)
# Runs under the runner with --env for each of (envs). Sets r_rc, r_ms
# (wall time), r_rss (peak KiB, or empty), r_crash (signal that killed the
# runner itself, or empty) and fills $tmp/r.out and $tmp/r.err.
run_sandbox() {
	local in=$1
	shift
	local opts=() envs=()
	while [ "$1" != "--" ]; do
		opts+=("$1")
		shift
	done
	shift
	while [ "$1" != "--" ]; do
		envs+=(--env "$1")
		shift
	done
	shift
	local start
	start=$(now_ms)
	{
		if [ -n "$gnu_time" ]; then
			"$gnu_time" -o "$tmp/r.time" -f 'exit %x rss %M' \
			    timeout -k 5 "$run_limit" "$runner" "${opts[@]}" "${envs[@]}" "$@" \
			    <"$in" >"$tmp/r.out" 2>"$tmp/r.err"
			r_rc=$?
		else
			timeout -k 5 "$run_limit" "$runner" "${opts[@]}" "${envs[@]}" "$@" \
			    <"$in" >"$tmp/r.out" 2>"$tmp/r.err"
			r_rc=$?
			: >"$tmp/r.time"
		fi
	} 2>/dev/null
	r_ms=$(($(now_ms) - start))
	r_rss=$(sed -n 's/^exit .* rss \([0-9]*\)$/\1/p' "$tmp/r.time")
	r_crash=$(sed -n 's/^Command terminated by signal \([0-9]*\)$/\1/p' "$tmp/r.time")
}

# Writes the usual diagnostics (stdout diff, runner stderr) to $tmp/diag.
diagnose() {
	{
		echo "native exit $n_rc, runner exit $r_rc"
		if ! cmp -s "$tmp/n.out" "$tmp/r.out"; then
			echo "stdout differs (- native, + runner):"
			diff -u --label native --label runner -a "$tmp/n.out" "$tmp/r.out" |
			    tail -n +3 | head -n 20
		fi
		if [ -s "$tmp/r.err" ]; then
			echo "runner stderr:"
			head -n 8 "$tmp/r.err"
		fi
	} >"$tmp/diag"
}

# Reason the runner itself failed (crashed, hung), or nothing.
runner_trouble() {
	if [ -n "$r_crash" ]; then
		echo "runner killed by signal $r_crash"
	elif [ "$r_rc" = 124 ] && ! grep -q 'timed out' "$tmp/r.err"; then
		echo "runner did not finish in ${run_limit}s"
	fi
}

# compare (name) (stdin) (envs...) -- (program) (args...)
# The main check: same stdout and exit status natively and in the sandbox.
compare() {
	local name=$1 in=$2
	shift 2
	compare_opts "$name" "$in" -- "$@"
}

# compare_opts (name) (stdin) (runner options...) -- (envs...) -- (program) (args...)
compare_opts() {
	local name=$1 in=$2 opts=()
	shift 2
	while [ "$1" != "--" ]; do
		opts+=("$1")
		shift
	done
	shift
	selected "$name" || return 0
	run_native "$in" "" "$@"
	run_sandbox "$in" "${opts[@]}" -- "$@"
	diagnose
	local trouble
	trouble=$(runner_trouble)
	if [ -n "$trouble" ]; then
		fail "$name" "$trouble"
	elif [ "$n_rc" != "$r_rc" ]; then
		fail "$name" "exit status $r_rc, native $n_rc"
	elif ! cmp -s "$tmp/n.out" "$tmp/r.out"; then
		fail "$name" "stdout differs"
	else
		pass "$name"
	fi
}

# --- guest checks -------------------------------------------------------

# Pattern (extended, case-insensitive) that the runner's fault line must
# match for the fault guest (name).
fault_pattern() {
	case $1 in
	null_write) echo 'page fault' ;;
	stack_overflow) echo 'page fault|stack' ;;
	illegal) echo 'invalid opcode|illegal instruction|#UD|undefined instruction' ;;
	priv_*) echo 'general protection|#GP|privileged' ;;
	div_zero) echo 'divide|division|#DE' ;;
	breakpoint) echo 'breakpoint|#BP|int3' ;;
	esac
}

check_fault() {
	local name=$1 prog=$2 guest=$3
	selected "$name" || return 0
	run_native /dev/null "" -- "$prog"
	run_sandbox /dev/null -- -- "$prog"
	diagnose
	local trouble pattern lines first
	trouble=$(runner_trouble)
	pattern=$(fault_pattern "$guest")
	lines=$(wc -l <"$tmp/r.err")
	first=$(head -n 1 "$tmp/r.err")
	if [ -n "$trouble" ]; then
		fail "$name" "$trouble"
	elif [ "$n_rc" -lt 129 ]; then
		fail "$name" "native run did not fault (exit $n_rc)"
	elif [ "$n_rc" != "$r_rc" ]; then
		fail "$name" "exit status $r_rc, native $n_rc"
	elif ! cmp -s "$tmp/n.out" "$tmp/r.out"; then
		fail "$name" "stdout differs"
	elif [ "$lines" != 1 ] || [ "$(wc -c <"$tmp/r.err")" != $((${#first} + 1)) ]; then
		fail "$name" "runner stderr is $lines lines, want exactly one"
	elif [[ $first != "tinykvm-run: $prog: "* ]]; then
		fail "$name" "fault line does not start with 'tinykvm-run: $prog: '"
	elif ! grep -Eqi "$pattern" "$tmp/r.err"; then
		fail "$name" "fault line does not name the fault (/$pattern/)"
	else
		pass "$name"
	fi
}

# A wait nothing can end (one thread): the runner stops it at once, exit
# 125 with a line saying so, where a native run would hang.
check_deadlock() {
	local name=$1 prog=$2
	selected "$name" || return 0
	n_rc="(hangs)"
	printf 'reading\n' >"$tmp/n.out"
	run_sandbox /dev/null -- -- "$prog"
	diagnose
	local trouble
	trouble=$(runner_trouble)
	if [ -n "$trouble" ]; then
		fail "$name" "$trouble"
	elif [ "$r_rc" != 125 ]; then
		fail "$name" "exit status $r_rc, want 125"
	elif ! cmp -s "$tmp/n.out" "$tmp/r.out"; then
		fail "$name" "stdout differs"
	elif ! grep -q "would block forever" "$tmp/r.err"; then
		fail "$name" "stderr does not say it would block forever"
	else
		pass "$name"
	fi
}

check_loop() {
	local name=$1 prog=$2
	selected "$name" || return 0
	run_native /dev/null "" -- "$(command -v timeout)" 1 "$prog"
	run_sandbox /dev/null --timeout 1 -- -- "$prog"
	diagnose
	local trouble first
	trouble=$(runner_trouble)
	first=$(head -n 1 "$tmp/r.err")
	if [ -n "$trouble" ]; then
		fail "$name" "$trouble"
	elif [ "$n_rc" != 124 ]; then
		fail "$name" "native timeout 1 exited $n_rc, not 124"
	elif [ "$r_rc" != 124 ]; then
		fail "$name" "exit status $r_rc, want 124"
	elif [ "$r_ms" -ge "$loop_limit_ms" ]; then
		fail "$name" "took ${r_ms} ms, want < $loop_limit_ms ms"
	elif [[ $first != "tinykvm-run: $prog: timed out after "*" s" ]]; then
		fail "$name" "stderr lacks 'tinykvm-run: $prog: timed out after S s'"
	else
		pass "$name"
	fi
}

check_memory_bomb() {
	local name=$1 prog=$2
	selected "$name" || return 0
	run_native /dev/null "ulimit -v $((128 << 10));" -- "$prog"
	run_sandbox /dev/null --max-memory 64 -- -- "$prog"
	diagnose
	local trouble want="memory bomb: allocation failed"
	trouble=$(runner_trouble)
	if [ -n "$trouble" ]; then
		fail "$name" "$trouble"
	elif [ "$n_rc" != 0 ] || [ "$(cat "$tmp/n.out")" != "$want" ]; then
		fail "$name" "native run under ulimit -v did not fail cleanly (exit $n_rc)"
	elif [ "$r_rc" != 0 ]; then
		fail "$name" "exit status $r_rc, want 0"
	elif ! cmp -s "$tmp/n.out" "$tmp/r.out"; then
		fail "$name" "stdout differs"
	elif [ -z "$r_rss" ]; then
		skip "$name" "no GNU time to measure peak RSS"
	elif [ "$r_rss" -ge $((200 << 10)) ]; then
		fail "$name" "runner peak RSS ${r_rss} KiB, want < 200 MiB"
	else
		pass "$name (runner peak RSS ${r_rss} KiB)"
	fi
}

# Deterministic stdin for stdin_echo: every byte value, then text.
make_inputs() {
	local i
	for ((i = 0; i < 256; i++)); do
		printf '%b' "\\x$(printf %02x "$i")"
	done >"$tmp/bytes"
	{
		cat "$tmp/bytes" "$tmp/bytes"
		for ((i = 1; i <= 300; i++)); do
			echo "line $i of the stdin_echo input"
		done
	} >"$tmp/echo.in"
	: >"$tmp/empty"
	local words=(alpha beta gamma delta epsilon zeta eta theta)
	for ((i = 1; i <= 400; i++)); do
		echo "${words[i % 8]} $((i * 7919 % 1000)) ${words[i * 3 % 8]} line-$i"
	done >"$tmp/text"
	sort "$tmp/text" >"$tmp/sorted"
	make_tree
}

# The directory the file tests may read, and what lies around it.
make_tree() {
	tree=$tmp/tree
	mkdir -p "$tree/sub/deeper"
	echo "hello, files of the sandbox" >"$tree/a.txt"
	echo "in sub" >"$tree/sub/b.txt"
	cp "$tmp/text" "$tree/sub/deeper/text"
	local i
	cp "$tmp/bytes" "$tree/big.bin"
	for ((i = 0; i < 12; i++)); do	# 1 MiB
		cat "$tree/big.bin" "$tree/big.bin" >"$tmp/twice"
		mv "$tmp/twice" "$tree/big.bin"
	done
	ln -s a.txt "$tree/link"
	ln -s ../secret "$tree/up"
	ln -s "$tmp/secret" "$tree/abs"
	ln -s /proc/self/root/etc/passwd "$tree/magic"
	echo "not for the guest" >"$tmp/secret"
}

# sandbox_refuses (name) (runner options...) -- (program) (args...): the
# program exits 1 as it would for a missing file, naming ENOENT's text.
sandbox_refuses() {
	local name=$1
	shift
	local opts=()
	while [ "$1" != "--" ]; do
		opts+=("$1")
		shift
	done
	shift
	selected "$name" || return 0
	n_rc="(not run)"
	: >"$tmp/n.out"
	run_sandbox /dev/null "${opts[@]}" -- -- "$@"
	diagnose
	local trouble
	trouble=$(runner_trouble)
	if [ -n "$trouble" ]; then
		fail "$name" "$trouble"
	elif [ "$r_rc" != 1 ]; then
		fail "$name" "exit status $r_rc, want 1"
	elif ! grep -q 'No such file or directory' "$tmp/r.err"; then
		fail "$name" "stderr does not say 'No such file or directory'"
	else
		pass "$name"
	fi
}

check_guest() {
	local flavour=$1 guest=$2
	local prog=$guests/$flavour/$guest name=$flavour/$guest
	case $guest in
	loop | sleep_forever) check_loop "$name: timeout" "$prog" ;;
	pipe_deadlock) check_deadlock "$name: ends, not hangs" "$prog" ;;
	memory_bomb) check_memory_bomb "$name: --max-memory 64" "$prog" ;;
	null_write | illegal | priv_* | div_zero | breakpoint | stack_overflow)
		check_fault "$name: fault" "$prog" "$guest" ;;
	args)
		compare "$name: no args, no env" /dev/null -- "$prog"
		compare "$name: spaces and env" /dev/null \
		    A=1 "GREETING=hello, world" EMPTY= "PATH=/nowhere" -- \
		    "$prog" "two words" "" "  lead and trail  " --flag=x "tab	here" "ünïcödé"
		;;
	stdin_echo)
		compare "$name: $(wc -c <"$tmp/echo.in") bytes" "$tmp/echo.in" -- "$prog"
		compare "$name: empty input" "$tmp/empty" -- "$prog"
		;;
	hash_bench) compare "$name: 2 passes" /dev/null -- "$prog" 2 ;;
	files)
		compare_opts "$name: --allow-read" /dev/null \
		    --allow-read "$tree" -- -- "$prog" "$tree"
		;;
	*) compare "$name" /dev/null -- "$prog" ;;
	esac
}

# --- load errors ----------------------------------------------------------

# le16 (value), le32 (value), le64 (value): little-endian bytes for printf.
le16() { printf '\\x%02x\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)); }
le32() { le16 $(($1 & 65535)); le16 $(($1 >> 16 & 65535)); }
le64() { le32 $(($1 & 0xffffffff)); le32 $(($1 >> 32 & 0xffffffff)); }

# A bare ELF64 executable header for machine (e_machine).
make_elf64() {
	printf '%b' "\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00$(le16 2)$(le16 "$1")$(le32 1)$(le64 0x401000)$(le64 64)$(le64 0)$(le32 0)$(le16 64)$(le16 56)$(le16 0)$(le16 64)$(le16 0)$(le16 0)"
}

# A bare ELF32 i386 executable header.
make_elf32() {
	printf '%b' "\\x7fELF\\x01\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00$(le16 2)$(le16 3)$(le32 1)$(le32 0x8049000)$(le32 52)$(le32 0)$(le32 0)$(le16 52)$(le16 32)$(le16 0)$(le16 40)$(le16 0)$(le16 0)"
}

# load_error (name) (program) (pattern): the runner must exit 2, print
# nothing on stdout, and say on stderr what is wrong (pattern) with (program).
load_error() {
	local name="load error: $1" prog=$2 pattern=$3
	selected "$name" || return 0
	n_rc="(not run)"
	: >"$tmp/n.out"
	run_sandbox /dev/null -- -- "$prog"
	diagnose
	local trouble
	trouble=$(runner_trouble)
	if [ -n "$trouble" ]; then
		fail "$name" "$trouble"
	elif [ "$r_rc" != 2 ]; then
		fail "$name" "exit status $r_rc, want 2"
	elif [ -s "$tmp/r.out" ]; then
		fail "$name" "runner wrote to stdout"
	elif ! grep -qF -- "$prog" "$tmp/r.err"; then
		fail "$name" "message does not name $prog"
	elif ! grep -Eqi -- "$pattern" "$tmp/r.err"; then
		fail "$name" "message does not say why (/$pattern/)"
	else
		pass "$name"
	fi
}

check_load_errors() {
	printf '#!/bin/sh\necho not an elf\n' >"$tmp/script.sh"
	chmod +x "$tmp/script.sh"
	: >"$tmp/empty.bin"
	chmod +x "$tmp/empty.bin"
	make_elf32 >"$tmp/elf32-i386"
	make_elf64 183 >"$tmp/elf64-aarch64"
	chmod +x "$tmp/elf32-i386" "$tmp/elf64-aarch64"
	printf '\x7fELF' >"$tmp/elf-truncated"
	chmod +x "$tmp/elf-truncated"
	load_error "missing file" "$tmp/does-not-exist" \
	    'no such file|not found|does not exist|cannot open|ENOENT'
	load_error "text file" "$tmp/script.sh" \
	    'not an? elf|not elf|elf magic|bad magic|not an executable'
	load_error "empty file" "$tmp/empty.bin" \
	    'not an? elf|not elf|empty|too short|truncated|bad magic'
	load_error "directory" "$tmp" \
	    'directory|not a regular file|not an? elf|cannot read'
	load_error "32-bit i386 ELF" "$tmp/elf32-i386" \
	    '32-bit|elfclass32|class|not x86-64|not x86_64|not 64-bit'
	load_error "aarch64 ELF" "$tmp/elf64-aarch64" \
	    'not x86-64|not x86_64|machine|architecture|aarch64'
	load_error "truncated ELF" "$tmp/elf-truncated" \
	    'not an? elf|truncated|too short|header'
}

# --- busybox applets -----------------------------------------------------

# bb (stdin) (applet) (args...): busybox APPLET natively and in the sandbox.
bb() {
	local in=$1
	shift
	local label="$*"
	compare "busybox ${label:0:60}" "$in" LC_ALL=C -- "$busybox" "$@"
}

check_busybox() {
	if [ ! -x "$busybox" ] || ! file -L "$busybox" 2>/dev/null | grep -q 'statically linked'; then
		selected "busybox" && skip "busybox applets" "no static busybox at $busybox"
		return 0
	fi
	local t=$tmp/text s=$tmp/sorted z=/dev/null
	bb $z echo hello "  spaced  world" -n
	bb $z seq 1 3 100
	bb $z seq -w 8 -1 -3
	bb $z expr 6 \* 7 + 100 / 3
	bb $z expr length "a string"
	bb $z expr 0
	bb $z printf '%s-%05d|%x|%c\n' abc 42 255 zulu "two words" 7
	bb $z factor 360 9973 1234567890 4294967297 600851475143
	bb $z dc -e '2 64 ^ p 7 k 1 3 / p'
	bb $z basename /usr/local/lib/thing.so.1 .1
	bb $z dirname /usr/local/lib/thing.so.1
	bb $z env
	bb $z true
	bb $z false
	bb $z test 3 -gt 2
	bb $z uname -s -m
	bb $z id -u
	bb $z id -g
	bb "$t" sha256sum
	bb "$t" md5sum
	bb "$t" sha1sum
	bb "$t" sha512sum
	bb "$t" sort
	bb "$t" sort -k 2 -n -r
	bb "$t" wc
	bb "$t" base64
	bb "$t" tr a-z A-Z
	bb "$s" uniq -c
	bb "$t" cat
	bb "$t" head -n 5
	bb "$t" tail -n 3
	bb "$t" rev
	bb "$t" od -A x -t x1
	bb "$t" cut -d ' ' -f 2,4
	bb "$t" sed -e 's/a/4/g' -e '/beta/d'
	# shellcheck disable=SC2016 # awk's $2, not the shell's
	bb "$t" awk '{ n += $2; w[$1]++ } END { print NR, n; for (k in w) c++; print c }'
	bb "$t" grep -c -E 'gamma|delta'
	bb "$t" grep nomatch
	bb "$t" fold -w 7
	bb "$t" nl
	bb "$t" tac
	bb "$t" xxd
	bb "$t" hexdump -C
	bb "$t" tee
	check_busybox_files
}

# Applets reading an allowed directory (and /etc/passwd, /etc/group for
# owner names) must print what they print natively; reaching out of it is
# ENOENT, as for a file that does not exist.
check_busybox_files() {
	local a=(--allow-read "$tree" --allow-read /etc/passwd --allow-read /etc/group)
	local z=/dev/null
	compare_opts "busybox cat (allowed file)" $z "${a[@]}" -- LC_ALL=C -- \
	    "$busybox" cat "$tree/a.txt" "$tree/link" "$tree/sub/b.txt"
	compare_opts "busybox sha256sum (allowed 1 MiB file)" $z "${a[@]}" -- \
	    LC_ALL=C -- "$busybox" sha256sum "$tree/big.bin" "$tree/sub/deeper/text"
	compare_opts "busybox ls -la (allowed directory)" $z "${a[@]}" -- \
	    LC_ALL=C -- "$busybox" ls -la "$tree/sub" "$tree/sub/deeper"
	compare_opts "busybox ls -lR" $z "${a[@]}" -- LC_ALL=C -- \
	    "$busybox" ls -lR "$tree"
	compare_opts "busybox find" $z "${a[@]}" -- LC_ALL=C -- \
	    "$busybox" find "$tree" -name '*.txt'
	compare_opts "busybox tar -c (every file, its owner)" $z "${a[@]}" -- \
	    LC_ALL=C -- "$busybox" tar -cf - -C "$tree" .
	compare_opts "busybox wc, head, grep -r" $z "${a[@]}" -- LC_ALL=C -- \
	    "$busybox" grep -r -c alpha "$tree/sub"
	compare_opts "busybox stat -L" $z "${a[@]}" -- LC_ALL=C -- \
	    "$busybox" stat -L -c '%n %s %F %a' "$tree/link" "$tree/sub"
	compare_opts "busybox readlink" $z "${a[@]}" -- LC_ALL=C -- \
	    "$busybox" readlink "$tree/link" "$tree/up"
	sandbox_refuses "refused: a file outside the list" "${a[@]}" -- \
	    "$busybox" cat "$tmp/secret"
	sandbox_refuses "refused: .. out of an allowed directory" "${a[@]}" -- \
	    "$busybox" cat "$tree/../secret"
	sandbox_refuses "refused: a relative symlink out" "${a[@]}" -- \
	    "$busybox" cat "$tree/up"
	sandbox_refuses "refused: an absolute symlink out" "${a[@]}" -- \
	    "$busybox" cat "$tree/abs"
	sandbox_refuses "refused: a /proc magic link" "${a[@]}" -- \
	    "$busybox" cat "$tree/magic"
	sandbox_refuses "refused: /proc/self/root" "${a[@]}" -- \
	    "$busybox" cat /proc/self/root/etc/passwd
	sandbox_refuses "refused: no --allow-read, nothing" -- \
	    "$busybox" cat "$tree/a.txt"
	compare_guest_path
}

# --allow-read HOST:GUEST: the guest sees the directory and a file where
# it was told, and the ancestors as directories that lead only there.
compare_guest_path() {
	local name="busybox --allow-read HOST:GUEST"
	local a=(--allow-read "$tree:/data" --allow-read "$tree/a.txt:/etc/motd")
	selected "$name" || return 0
	n_rc=0
	printf '%s\n' "hello, files of the sandbox" "in sub" "/:" "data" "etc" \
	    "" "/etc:" "motd" >"$tmp/want"
	run_sandbox /dev/null "${a[@]}" -- -- "$busybox" cat /etc/motd /data/sub/b.txt
	cp "$tmp/r.out" "$tmp/got"
	run_sandbox /dev/null "${a[@]}" -- -- "$busybox" ls -1 / /etc
	cat "$tmp/r.out" >>"$tmp/got"
	cp "$tmp/want" "$tmp/n.out"
	cp "$tmp/got" "$tmp/r.out"
	diagnose
	if [ "$r_rc" != 0 ] || ! cmp -s "$tmp/want" "$tmp/got"; then
		fail "$name" "exit status $r_rc or stdout differs"
	else
		pass "$name"
	fi
}

# --- unmodified dynamic programs from Debian -------------------------------

# dyn (name) (stdin) (program) (args...): an installed program, natively and
# in the sandbox, which may read $tree, $tmp/scripts and the user names.
dyn() {
	local name=$1 in=$2
	shift 2
	if [ ! -x "$1" ]; then
		selected "$name" && fail "$name" "$1 is not installed (scripts/setup.sh installs it)"
		return 0
	fi
	compare_opts "$name" "$in" --allow-read "$tree" --allow-read "$tmp/scripts" \
	    --allow-read /etc/passwd --allow-read /etc/group -- LC_ALL=C \
	    PYTHONHASHSEED=0 -- "$@"
}

check_dynamic() {
	local z=/dev/null py=/usr/bin/python3
	mkdir -p "$tmp/scripts"
	printf '%s\n' 'import sys, os' 'print("script", os.path.basename(sys.argv[0]), sys.argv[1:])' \
	    'print(open(os.path.join(os.path.dirname(sys.argv[0]), "data.txt")).read().strip())' \
	    >"$tmp/scripts/s.py"
	echo "read beside the script" >"$tmp/scripts/data.txt"
	echo '{"a": [1, 2, 3], "b": {"c": "d"}}' >"$tmp/json"
	printf 'scale=20\n4*a(1)\ne(1)\n' >"$tmp/bc"
	dyn "python3 -c arithmetic" $z $py -c 'print(2**100, 7/3, sum(range(10**6)), divmod(-7, 2))'
	dyn "python3 -c json" $z $py -c 'import json; print(json.dumps({"a": [1, 2, {"b": None}]}, sort_keys=True)); print(json.loads("[1, 2.5, \"x\"]"))'
	dyn "python3 -c hashlib" $z $py -c 'import hashlib; print(hashlib.sha256(b"abc").hexdigest(), hashlib.md5(b"").hexdigest())'
	dyn "python3 -c re" $z $py -c 'import re; print(re.findall(r"\d+", "a1b22c333"), re.sub(r"(\w)(\w)", r"\2\1", "abcdef"))'
	dyn "python3 -c generator" $z $py -c 'def g(n):
    a, b = 0, 1
    for _ in range(n):
        yield a
        a, b = b, a + b
print(list(g(15)))'
	dyn "python3 -c exception" $z $py -c 'print("before"); raise ValueError("boom")'
	dyn "python3 -c sqlite3 in memory" $z $py -c 'import sqlite3; c = sqlite3.connect(":memory:"); c.execute("create table t (x)"); c.executemany("insert into t values (?)", [(i,) for i in range(100)]); print(c.execute("select count(*), sum(x) from t").fetchone())'
	dyn "python3 script from an allowed directory" $z $py "$tmp/scripts/s.py" one two
	dyn "perl -e" $z /usr/bin/perl -e 'my %h = map { $_ => $_ * $_ } 1..10; print join(",", map { $h{$_} } sort { $a <=> $b } keys %h), "\n"; printf("%.6f\n", atan2(1, 1) * 4)'
	dyn "luajit -e, JIT on, a hot loop" $z /usr/bin/luajit -e 'print((jit.status())); local s = 0; for i = 1, 3e6 do s = s + i % 7 end; print(s)'
	dyn "gawk" $z /usr/bin/gawk 'BEGIN { for (i = 1; i <= 10; i++) s += i * i; print s; printf "%.5f\n", atan2(0, -1); print toupper("sandbox") }'
	dyn "jq on stdin" "$tmp/json" /usr/bin/jq -c '.a | map(. * 2)'
	dyn "sqlite3 :memory:" $z /usr/bin/sqlite3 :memory: 'create table t (x); insert into t values (1), (2), (3); select sum(x), group_concat(x) from t;'
	dyn "bc -l" "$tmp/bc" /usr/bin/bc -l
	dyn "sha256sum of an allowed file" $z /usr/bin/sha256sum "$tree/big.bin" "$tree/a.txt"
	dyn "ls -la of an allowed directory" $z /bin/ls -la "$tree/sub"
	dyn "cat of an allowed file" $z /bin/cat "$tree/a.txt" "$tree/link"
	sandbox_refuses "refused: cat (dynamic) of a file outside the list" \
	    --allow-read "$tree" -- /bin/cat "$tmp/secret"
}

# --- main -----------------------------------------------------------------

make_inputs
for flavour in $flavours; do
	[ -d "$guests/$flavour" ] || continue
	for prog in "$guests/$flavour"/*; do
		if [ ! -f "$prog" ] || [ ! -x "$prog" ]; then
			continue
		fi
		case $prog in *.tmp.*) continue ;; esac
		check_guest "$flavour" "$(basename "$prog")"
	done
done
check_load_errors
check_busybox
check_dynamic
echo "# $nfail of $ntest failed"
emit_plan
exit 0
