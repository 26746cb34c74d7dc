#!/bin/sh
# PID 1 of the lane VM, on the host's / over 9p: give it the mounts a Debian
# system has, a /dev/kvm the way setup.sh gives it (group kvm, 0660), run the
# command in RUNDIR/cmd.sh and leave its exit status in RUNDIR/status.  9p
# cannot hold FIFOs or sockets, so every directory that needs them is tmpfs.
rundir=$1

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mkdir -p /run/tmp /run/lock
chmod 1777 /run/tmp
mount -t tmpfs tmpfs /var/lib/varnish
case "$rundir" in
/tmp/*) ;;	# the tree is there: keep it, and use TMPDIR
*) mount -t tmpfs tmpfs /tmp && chmod 1777 /tmp ;;
esac
hostname tinykvm-vm
ip link set lo up 2>/dev/null || ifconfig lo up

chgrp kvm /dev/kvm && chmod 0660 /dev/kvm

# cc/ first: varnishd's VCL compiler at -O0 (see cc/x86_64-linux-gnu-gcc).
export PATH=$(dirname "$0")/cc:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TMPDIR=/run/tmp LANG=C.UTF-8
echo >>"$rundir/output" "==> VM lane: $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ { print int($2 / 1024) " MiB" }' /proc/meminfo)," \
    "/dev/kvm: $(stat -c '%G %a' /dev/kvm)"
# The command's output goes to a file the host follows, not to the serial
# console: an emulated UART under load can stall, and a writer blocked on
# it stalls the tests.
/bin/bash "$rundir/cmd.sh" </dev/null >>"$rundir/output" 2>&1
echo $? >"$rundir/status"
sync
# Reboot at once (nothing is left to write back); qemu runs with -no-reboot,
# so that ends the VM.
echo b >/proc/sysrq-trigger
