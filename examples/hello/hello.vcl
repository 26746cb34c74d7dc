vcl 4.1;

# Serves every request from the hello guest (examples/hello/hello.c).
# @EXAMPLES_DIR@ stands for the absolute path of examples/: the set-up
# script (scripts/setup.sh demo) substitutes it, since "filename" must be
# an absolute path.

import tinykvm;

backend default none;

sub vcl_init {
	tinykvm.configure("hello", {"{ "filename": "@EXAMPLES_DIR@/hello/hello" }"});
	tinykvm.start("hello");
}

sub vcl_backend_fetch {
	set bereq.backend = tinykvm.program("hello", bereq.url);
}
