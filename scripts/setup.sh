#!/usr/bin/env bash
# Set up a fresh Debian 12 machine for vmod-tinykvm, build it, and either run
# the demo or the whole test suite. Run as root from anywhere:
#
#   sudo bash scripts/setup.sh demo    build, then run examples/hello/hello
#   sudo bash scripts/setup.sh test    build, make check, then the engine
#                                      tests again under ASan/UBSan
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

setup_kvm() {
	if [ ! -e /dev/kvm ]; then
		modprobe kvm_intel 2>/dev/null || modprobe kvm_amd 2>/dev/null || true
	fi
	[ -e /dev/kvm ] || die "/dev/kvm does not exist: this machine has no KVM.
  Enable hardware virtualization (VT-x/AMD-V) in the firmware, or nested
  virtualization if this is a VM, and load the kvm_intel or kvm_amd module."

	log "giving group kvm access to /dev/kvm"
	getent group kvm >/dev/null || groupadd --system kvm
	chgrp kvm /dev/kvm
	chmod 0660 /dev/kvm
	mkdir -p /etc/udev/rules.d
	echo 'KERNEL=="kvm", GROUP="kvm", MODE="0660"' \
	    >/etc/udev/rules.d/65-kvm.rules
	if command -v udevadm >/dev/null; then
		udevadm control --reload-rules 2>/dev/null || true
	fi
	if id vcache >/dev/null 2>&1; then
		usermod -aG kvm vcache
	fi
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

run_tests() {
	local status=0 pass fail p f

	rm -f build/test-suite.log build-asan/test-suite.log

	log "make check in build/"
	make -C build -j"$jobs" check || status=1

	configure_build build-asan \
	    CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -g -O1"
	log "engine tests under ASan/UBSan in build-asan/"
	# UBSan only reports by default; make it fail the test.
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    make -C build-asan -j"$jobs" check-engine || status=1

	pass=0
	fail=0
	for dir in build build-asan; do
		read -r p f < <(suite_counts "$dir")
		pass=$((pass + p))
		fail=$((fail + f))
	done
	if [ "$status" -ne 0 ] && [ "$fail" -eq 0 ]; then
		fail=1
	fi
	echo "$pass passed, $fail failed"
	[ "$status" -eq 0 ] && [ "$fail" -eq 0 ]
}

install_packages
setup_kvm
build

case "$mode" in
demo) run_demo ;;
test) run_tests ;;
esac
