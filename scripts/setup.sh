#!/usr/bin/env bash
# Set up a fresh Debian 12 machine for vmod-tinykvm, build it, and either run
# the demo or the whole test suite. Run as root from anywhere:
#
#   sudo bash scripts/setup.sh demo    build, then serve examples/hello
#   sudo bash scripts/setup.sh test    build, then run every test lane:
#                                      make check and the engine tests
#                                      under ASan/UBSan, natively where
#                                      /dev/kvm opens and in the
#                                      standard-KVM VM (tests/vm/vm.sh)
#
# Builds are out of tree: build/ (normal) and build-asan/ (sanitizers); the
# source tree itself is never configured. `test` ends with one line
# "N passed, N failed" and exits non-zero if anything failed.
set -euo pipefail

usage() {
	echo "usage: $0 demo|test" >&2
	exit 2
}

[ $# -eq 1 ] || usage
mode=$1
case "$mode" in
demo|test) ;;
*) usage ;;
esac

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc)

PACKAGES=(
	autoconf automake libtool pkg-config build-essential g++
	libvarnishapi-dev varnish libelf-dev libcmocka-dev musl-tools
	busybox-static libjansson-dev libcurl4-openssl-dev python3-docutils
	wrk hyperfine gnuplot-nox time curl
	qemu-system-x86 kmod cpio iproute2
	python3 perl gawk jq sqlite3 bc luajit libluajit-5.1-dev
)

log() {
	echo "==> $*"
}

die() {
	echo "error: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "run as root (sudo bash scripts/setup.sh $mode)"

# missing_packages: prints the packages of PACKAGES not installed.
missing_packages() {
	local pkg
	for pkg in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null |
		    grep -qx installed || echo "$pkg"
	done
}

install_packages() {
	export DEBIAN_FRONTEND=noninteractive
	log "installing packages"
	# Offline is fine as long as nothing is missing.
	if ! apt-get update -q; then
		[ -z "$(missing_packages)" ] ||
		    die "apt-get update failed; missing:" $(missing_packages)
		log "apt-get update failed; all packages are installed already"
		return
	fi
	apt-get install -y -q "${PACKAGES[@]}"
}

# kvm_group: group kvm for /dev/kvm, with vcache (varnishd's worker) in it,
# the way an admin gives a service KVM.  Done with or without /dev/kvm here:
# the standard-KVM lane's VM uses this machine's /etc/group.
kvm_group() {
	getent group kvm >/dev/null || groupadd --system kvm
	if id vcache >/dev/null 2>&1; then
		usermod -aG kvm vcache
	fi
	mkdir -p /etc/udev/rules.d
	echo 'KERNEL=="kvm", GROUP="kvm", MODE="0660"' \
	    >/etc/udev/rules.d/65-kvm.rules
	if command -v udevadm >/dev/null; then
		udevadm control --reload-rules 2>/dev/null || true
	fi
}

# have_kvm: true if this machine's /dev/kvm opens and TINYKVM_NO_DEVKVM is
# unset (set it to prove the no-/dev/kvm path on a machine with KVM).
have_kvm() {
	[ -z "${TINYKVM_NO_DEVKVM:-}" ] || return 1
	if [ ! -e /dev/kvm ]; then
		modprobe kvm_intel 2>/dev/null || modprobe kvm_amd 2>/dev/null || true
	fi
	[ -e /dev/kvm ] && (exec 3<>/dev/kvm) 2>/dev/null
}

setup_kvm() {
	kvm_group
	[ -e /dev/kvm ] || return 0
	log "giving group kvm access to /dev/kvm"
	chgrp kvm /dev/kvm
	chmod 0660 /dev/kvm
}

# configure_build DIR [configure arguments...]
configure_build() {
	local dir=$1
	shift
	mkdir -p "$dir"
	log "configuring $dir $*"
	(cd "$dir" && "$top/configure" "$@")
}

build() {
	log "generating the build system"
	# A VPATH build refuses a configured source tree.
	if [ -f "$top/config.status" ]; then
		log "source tree was configured in place; make distclean"
		make -C "$top" distclean
	fi
	./autogen.sh
	configure_build build
	log "building in build/"
	make -C build -j"$jobs"
}

# suite_counts DIR: prints "PASS FAIL" from DIR/test-suite.log, where FAIL
# counts FAIL, ERROR and XPASS; a missing log (the build broke) is 1 failure.
suite_counts() {
	local logfile=$1/test-suite.log
	if [ ! -f "$logfile" ]; then
		echo "0 1"
		return
	fi
	awk '
		/^# PASS:/  { pass += $3 }
		/^# FAIL:/  { fail += $3 }
		/^# ERROR:/ { fail += $3 }
		/^# XPASS:/ { fail += $3 }
		END { print pass + 0, fail + 0 }
	' "$logfile"
}

# The demo: installs the VMOD, tinykvm-run and the hello example, then
# serves it with varnishd in its default jail (the worker runs as vcache,
# which reaches /dev/kvm through group kvm) at http://127.0.0.1:8080/.
DEMO_DIR=/usr/local/share/tinykvm/examples
DEMO_NAME=/var/lib/varnish/tinykvm-demo

run_demo() {
	local vcl=$DEMO_DIR/hello.vcl pidfile=/run/tinykvm-demo.pid

	have_kvm || die "/dev/kvm cannot be opened here: this machine has no KVM.
  Enable hardware virtualization (VT-x/AMD-V) in the firmware, or nested
  virtualization if this is a VM, and load the kvm_intel or kvm_amd module.
  (The tests run anyway: scripts/setup.sh test boots a VM with its own KVM.)"
	log "installing vmod-tinykvm and the hello example"
	make -C build install >/dev/null
	install -d "$DEMO_DIR/hello"
	install -m 0755 build/examples/hello/hello "$DEMO_DIR/hello/hello"
	sed "s|@EXAMPLES_DIR@|$DEMO_DIR|g" examples/hello/hello.vcl >"$vcl"

	log "the hello guest under tinykvm-run"
	tinykvm-run "$DEMO_DIR/hello/hello" || true

	if [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null; then
		log "stopping the previous demo varnishd"
		sleep 1
	fi
	log "starting varnishd on 127.0.0.1:8080"
	varnishd -a 127.0.0.1:8080 -f "$vcl" -n "$DEMO_NAME" -P "$pidfile" ||
	    die "varnishd did not start (see the VCL error above)"
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		curl -sf http://127.0.0.1:8080/ >/dev/null && break
		sleep 0.5
	done
	log "curl http://127.0.0.1:8080/demo"
	curl -si http://127.0.0.1:8080/demo
	log "curl -d 'hello, guest' http://127.0.0.1:8080/echo"
	curl -s -H 'Content-Type: text/plain' -d 'hello, guest' http://127.0.0.1:8080/echo
	echo
	log "the demo keeps running: http://127.0.0.1:8080/ (stop it: kill \$(cat $pidfile))"
}

# The test lanes.  Each leaves its automake suite log in $top/lanes/NAME.log
# and one line "NAME: N passed, N failed, M min" in $top/lanes/summary.
LANES=$top/build/lanes

# lane NAME WHERE DIR MAKE-ARGS...: runs `make -C DIR MAKE-ARGS` natively
# (WHERE = native) or inside the standard-KVM VM (WHERE = vm), and records it.
lane() {
	local name=$1 where=$2 dir=$3 start rc=0
	shift 3
	start=$(date +%s)
	log "lane $name ($where): make -C $dir $*"
	rm -f "$dir/test-suite.log"
	if [ "$where" = vm ]; then
		TINYKVM_TIME_SCALE=${TINYKVM_TIME_SCALE:-10} \
		    bash "$top/tests/vm/vm.sh" run "$dir" make "$@" || rc=1
	else
		make -C "$dir" "$@" || rc=1
	fi
	lane_record "$name" "$dir" "$start" "$rc"
}

lane_record() {
	local name=$1 dir=$2 start=$3 rc=$4 p f
	read -r p f < <(suite_counts "$dir")
	# A lane that failed without a failing test (it could not start) is one.
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
	fi
	[ -f "$dir/test-suite.log" ] && cp "$dir/test-suite.log" "$LANES/$name.log"
	lane_failures "$dir" || true
	printf '%s: %d passed, %d failed, %d min\n' "$name" "$p" "$f" \
	    $(( ($(date +%s) - start + 59) / 60 )) >>"$LANES/summary"
}

# lane_failures DIR: for each failed test of DIR's suite, what CI needs to
# tell why without the build tree: varnishtest's "----" lines (the failed
# expectation), Varnish's Error lines and the log's last lines.
lane_failures() {
	local dir=$1 t
	[ -f "$dir/test-suite.log" ] || return 0
	sed -n 's/^\(FAIL\|ERROR\): \([^ ]*\).*/\2/p' "$dir/test-suite.log" |
	    sort -u | while read -r t; do
		t=${t%.test}; t=${t%.vtc}
		[ -f "$dir/$t.log" ] || continue
		echo "==> failed: $t"
		# A timed-out test has no "----" line: grep finds nothing, and
		# under set -e that must not end the run before its summary.
		grep -m 30 -E '^---- | (Error|FetchError) ' "$dir/$t.log" |
		    cut -c1-300 || true
		tail -n 15 "$dir/$t.log" | cut -c1-300 || true
	done
	return 0
}

run_tests() {
	local pass=0 fail=0 p f

	rm -rf "$LANES"
	mkdir -p "$LANES"
	configure_build build-asan \
	    CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -g -O1"
	# Everything the tests need is built here, at full speed, before any VM.
	log "building the tests"
	make -C build -j"$jobs" check TESTS= >/dev/null
	make -C build-asan -j"$jobs" check TESTS= >/dev/null
	# The comparison's guests (plain gcc, no sanitizer): built once, here.
	tests/linux/guests/build.sh build/tests/linux/guests/bin >/dev/null
	mkdir -p build-asan/tests/linux/guests
	rm -rf build-asan/tests/linux/guests/bin
	cp -a build/tests/linux/guests/bin build-asan/tests/linux/guests/bin

	# UBSan only reports by default; make it fail the test.  The VM has one
	# vCPU (see tests/vm/vm.sh): its tests run one at a time, so that no
	# request waits behind another test's VCL compile.
	export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
	if have_kvm; then
		lane native native build -j"$jobs" check
		lane native-asan native build-asan -j"$jobs" check-engine
		lane standard-kvm vm build check
	else
		log "no usable /dev/kvm here${TINYKVM_NO_DEVKVM:+ (TINYKVM_NO_DEVKVM is set)}:" \
		    "every test runs in the standard-KVM VM"
		lane standard-kvm vm build check
		lane standard-kvm-asan vm build-asan check-engine
	fi

	cat "$LANES/summary"
	while read -r p _ f _; do
		pass=$((pass + p))
		fail=$((fail + f))
	done < <(sed 's/^[^:]*: //; s/,//g' "$LANES/summary")
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}

install_packages
setup_kvm
build

case "$mode" in
demo) run_demo ;;
test) run_tests ;;
esac
