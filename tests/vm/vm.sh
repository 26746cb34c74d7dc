#!/usr/bin/env bash
# The standard-KVM test lane: runs a command inside a qemu VM whose software
# CPU (TCG, -cpu max: AMD SVM with nested paging, XSAVE, AVX2, PKU, SMEP,
# SMAP) gives Debian 12's own kernel an ordinary KVM.  That proves the engine
# on the reference platform on any machine, with or without /dev/kvm of its
# own.  Everything in there runs 10-50x slower: the lane checks correctness
# and counts, never timing.
#
#   tests/vm/vm.sh prepare          fetch the kernel, build the initramfs
#   tests/vm/vm.sh run DIR CMD...   run CMD in DIR inside the VM; its exit
#                                   status is ours
#
# The VM sees the host's / read-write over virtio-9p, so the build is where
# it is here.  9p refuses FIFOs and sockets: TMPDIR, /run, /tmp (unless the
# tree lives under it) and /var/lib/varnish are a tmpfs in there.
#
# The kernel is never installed as this machine's: `apt-get download` of the
# package linux-image-amd64 depends on, unpacked into the cache directory.
#
# Environment:
#   TINYKVM_VM_CACHE    cache directory (/var/cache/tinykvm-vm)
#   TINYKVM_VM_MEM      guest memory (6G)
#   TINYKVM_VM_CPUS     guest CPUs (1: with two, nested KVM under the
#                       software CPU has wedged both CPUs of the VM)
#   TINYKVM_VM_TIMEOUT  seconds before the VM is killed (4500)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${TINYKVM_VM_CACHE:-/var/cache/tinykvm-vm}
# Modules the initramfs loads, with their dependencies before them.
MODULES=(virtio_pci 9pnet_virtio 9p kvm-amd)

die() {
	echo "tinykvm VM lane: error: $*" >&2
	exit 1
}

log() {
	echo "==> VM lane: $*" >&2
}

need() {
	command -v "$1" >/dev/null ||
	    die "$1 not found: install package $2 (scripts/setup.sh does)"
}

# kernel_package: the linux-image package linux-image-amd64 depends on.
kernel_package() {
	local pkg
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
	    awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	[ -n "$pkg" ] || die "apt-cache cannot tell which kernel linux-image-amd64
  depends on (run apt-get update)"
	echo "$pkg"
}

# fetch_kernel PKG: unpacks PKG under $cache/PKG unless it is there already.
fetch_kernel() {
	local pkg=$1 dir=$cache/$1 tmp
	[ -f "$dir/done" ] && return 0
	log "downloading $pkg (not installed: only unpacked into $dir)"
	tmp=$(mktemp -d "$cache/dl.XXXXXX")
	# _apt cannot write into a root-only directory: download as root.
	(cd "$tmp" && apt-get download -o APT::Sandbox::User=root "$pkg" >&2) ||
	    die "apt-get download $pkg failed"
	rm -rf "$dir"
	mkdir -p "$dir"
	dpkg-deb -x "$tmp"/*.deb "$dir/root" || die "cannot unpack $pkg"
	rm -rf "$tmp"
	touch "$dir/done"
}

# module_order KVER ROOT: module files to insmod, dependencies first, once each.
module_order() {
	local kver=$1 root=$2 dep m f
	dep=$root/lib/modules/$kver/modules.dep
	for m in "${MODULES[@]}"; do
		f=$(awk -v m="$m" -F: '{ n = $1; sub(".*/", "", n); sub("\\.ko.*", "", n);
		    gsub("_", "-", n); t = m; gsub("_", "-", t);
		    if (n == t) { print $0; exit } }' "$dep")
		[ -n "$f" ] || die "module $m is not in $kver"
		# modules.dep lists a module's dependencies deepest last.
		echo "$f" | awk -F': *' '{ n = split($2, d, " ");
		    for (i = n; i >= 1; i--) print d[i]; print $1 }'
	done | awk '!seen[$0]++'
}

build_initramfs() {
	local kver=$1 kdir=$2 out=$3 work m
	work=$(mktemp -d "$cache/initramfs.XXXXXX")
	mkdir -p "$work"/{bin,dev,proc,sys,newroot,modules}
	cp /bin/busybox "$work/bin/busybox"
	cp "$here/init" "$work/init"
	chmod 0755 "$work/init"
	: >"$work/modules/order"
	while read -r m; do
		cp "$kdir/root/lib/modules/$kver/$m" "$work/modules/"
		basename "$m" >>"$work/modules/order"
	done < <(module_order "$kver" "$kdir/root")
	(cd "$work" && find . | cpio -o -H newc --quiet | gzip -1) >"$out.tmp"
	mv "$out.tmp" "$out"
	rm -rf "$work"
}

# prepare: sets KERNEL and INITRD, building what is missing or stale.
prepare() {
	local pkg kdir kver stamp
	need qemu-system-x86_64 qemu-system-x86
	need busybox busybox-static
	need depmod kmod
	need cpio cpio
	[ -e /usr/share/qemu/bios-256k.bin ] || [ -e /usr/share/seabios/bios-256k.bin ] ||
	    die "qemu has no BIOS image: install package qemu-system-x86"
	mkdir -p "$cache"
	pkg=$(kernel_package)
	fetch_kernel "$pkg"
	kdir=$cache/$pkg
	kver=$(ls "$kdir/root/lib/modules" | head -n 1)
	[ -n "$kver" ] || die "$pkg has no modules"
	[ -f "$kdir/root/lib/modules/$kver/modules.dep" ] ||
	    depmod -b "$kdir/root" "$kver" || die "depmod failed for $kver"
	KERNEL=$kdir/root/boot/vmlinuz-$kver
	[ -f "$KERNEL" ] || die "$pkg has no vmlinuz"
	INITRD=$kdir/initramfs.gz
	# Rebuilt whenever init, this script or busybox change.
	stamp=$(cat "$here/init" "$0" /bin/busybox | sha256sum | cut -c1-16)
	if [ ! -f "$INITRD" ] || [ "$(cat "$kdir/initramfs.stamp" 2>/dev/null)" != "$stamp" ]; then
		log "building the initramfs for $kver"
		build_initramfs "$kver" "$kdir" "$INITRD"
		echo "$stamp" >"$kdir/initramfs.stamp"
	fi
}

# console_watch RUNDIR: copies the VM's console through, and stops the VM
# if its kernel reports a CPU stuck for minutes (a software CPU starved by a
# loaded host can wedge it): a clear failure now, not the lane's timeout.
console_watch() {
	local rundir=$1
	awk -v rundir="$rundir" '
		{ sub(/\r$/, ""); print; fflush() }
		/soft lockup - CPU#[0-9]+ stuck for [0-9]+s/ {
			match($0, /stuck for [0-9]+s/)
			secs = substr($0, RSTART + 10, RLENGTH - 11) + 0
			if (secs >= 300 && !done) {
				done = 1
				print "a CPU stuck for " secs " s" > (rundir "/lockup")
				close(rundir "/lockup")
				system("kill $(cat " rundir "/qemu.pid) 2>/dev/null")
			}
		}'
}

# Variables the command inside sees as it would here.
PASS_ENV=(CI TINYKVM_TIME_SCALE TINYKVM_NO_DEVKVM UBSAN_OPTIONS ASAN_OPTIONS
    VERBOSE TESTS VTC_FLAGS)

run() {
	local dir=$1 rundir status rc=0 var follower
	shift
	[ $# -gt 0 ] || die "usage: $0 run DIR CMD..."
	dir=$(cd "$dir" && pwd)
	prepare
	rundir=$(mktemp -d "${TINYKVM_VM_RUNDIR:-$dir}/.vm-run.XXXXXX")
	{
		echo "cd $(printf '%q' "$dir")"
		for var in "${PASS_ENV[@]}"; do
			[ -n "${!var+x}" ] && echo "export $var=$(printf '%q' "${!var}")"
		done
		printf '%q ' "$@"
		echo
	} >"$rundir/cmd.sh"
	log "booting $(basename "$KERNEL") under qemu (TCG, -cpu max) to run: $*"
	# The command's output comes through a file on the shared /, followed
	# here while the VM runs.
	: >"$rundir/output"
	tail -n +1 -F "$rundir/output" 2>/dev/null &
	follower=$!
	timeout --foreground -k 10 "${TINYKVM_VM_TIMEOUT:-4500}" \
	    qemu-system-x86_64 -accel tcg,thread=multi -cpu max \
	    -smp "${TINYKVM_VM_CPUS:-1}" -m "${TINYKVM_VM_MEM:-6G}" \
	    -nodefaults -no-reboot -display none -serial stdio -monitor none \
	    -nic none -pidfile "$rundir/qemu.pid" \
	    -kernel "$KERNEL" -initrd "$INITRD" \
	    -append "console=ttyS0 quiet loglevel=4 panic=-1 tkrun=$rundir tkguest=$here/guest.sh" \
	    -virtfs "local,path=/,mount_tag=hostroot,security_model=passthrough,multidevs=remap" \
	    </dev/null | console_watch "$rundir" || rc=$?
	sleep 1		# tail polls: let it print the last lines
	kill "$follower" 2>/dev/null
	wait "$follower" 2>/dev/null || true
	if [ -f "$rundir/lockup" ]; then
		echo "tinykvm VM lane: the VM's kernel locked up ($(cat "$rundir/lockup"));" \
		    "stopped it" >&2
		rm -rf "$rundir"
		return 1
	fi
	if [ -f "$rundir/status" ]; then
		status=$(cat "$rundir/status")
	else
		echo "tinykvm VM lane: the VM ended without a status (qemu exit $rc):" \
		    "see its console above" >&2
		status=1
	fi
	rm -rf "$rundir"
	return "$status"
}

case "${1:-}" in
prepare)
	prepare
	echo "kernel $KERNEL"
	echo "initrd $INITRD"
	;;
run)
	shift
	run "$@"
	;;
*)
	echo "usage: $0 prepare | run DIR CMD..." >&2
	exit 2
	;;
esac
