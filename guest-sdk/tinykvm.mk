# For program authors: include this, and `make myprog` builds the static
# guest program myprog from myprog.c against the TinyKVM guest SDK.
#
#	include path/to/guest-sdk/tinykvm.mk
#	all: myprog
#
# Works with CC=musl-gcc too.  TINYKVM_SDK defaults to this file's directory.

TINYKVM_GOAL_BEFORE := $(.DEFAULT_GOAL)
TINYKVM_SDK ?= $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
TINYKVM_CFLAGS = -static -O2 -Wall -Wextra -I$(TINYKVM_SDK)/include
TINYKVM_LDLIBS = $(TINYKVM_SDK)/libtinykvm-guest.a

$(TINYKVM_SDK)/libtinykvm-guest.a:
	$(MAKE) -C $(TINYKVM_SDK) libtinykvm-guest.a

%: %.c $(TINYKVM_SDK)/libtinykvm-guest.a
	$(CC) $(TINYKVM_CFLAGS) $(CFLAGS) -o $@ $< $(TINYKVM_LDLIBS) $(LDLIBS)

# Including this file must not make the library the default goal.
.DEFAULT_GOAL := $(TINYKVM_GOAL_BEFORE)
