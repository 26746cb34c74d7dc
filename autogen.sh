#!/bin/sh
# Regenerate the build system (configure, Makefile.in, build-aux/) from
# configure.ac and Makefile.am.  varnish.m4 comes from libvarnishapi-dev in
# the default aclocal path.
set -e
cd "$(dirname "$0")"
mkdir -p build-aux m4
exec autoreconf -fi -Wno-obsolete
