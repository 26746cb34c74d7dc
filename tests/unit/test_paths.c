/*
 * The guest's file system (linux/paths.c) and descriptor table (files.c),
 * without KVM: normalisation, the allow-list, every way out of it we know
 * of (.., symlinks relative and absolute, /proc magic links, long paths),
 * virtual directories, and a fork's copy of a table.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "tk_internal.h"
#include "files.h"

static char top[PATH_MAX];	/* a scratch tree, made per test */

static void
put(const char *rel, const char *text)
{
	char p[PATH_MAX + 64];
	FILE *f;

	snprintf(p, sizeof p, "%s/%s", top, rel);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
link_at(const char *target, const char *rel)
{
	char p[PATH_MAX + 64];

	snprintf(p, sizeof p, "%s/%s", top, rel);
	assert_int_equal(symlink(target, p), 0);
}

/*
 *   top/secret             outside the allowed directory
 *   top/data/a.txt         "A"
 *   top/data/sub/b.txt     "B"
 *   top/data/up -> ../secret, abs -> <top>/secret, root -> /
 *   top/data/in -> sub/b.txt, toother -> /other/o.txt (a guest path)
 *   top/other/o.txt        "O"
 */
static int
tree_make(void **state)
{
	char p[PATH_MAX + 64];

	(void)state;
	snprintf(top, sizeof top, "%s/tk-paths.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(top) == NULL)
		return (-1);
	snprintf(p, sizeof p, "%s/data", top);
	mkdir(p, 0755);
	snprintf(p, sizeof p, "%s/data/sub", top);
	mkdir(p, 0755);
	snprintf(p, sizeof p, "%s/other", top);
	mkdir(p, 0755);
	put("secret", "S");
	put("data/a.txt", "A");
	put("data/sub/b.txt", "B");
	put("other/o.txt", "O");
	link_at("../secret", "data/up");
	snprintf(p, sizeof p, "%s/secret", top);
	link_at(p, "data/abs");
	link_at("/", "data/root");
	link_at("sub/b.txt", "data/in");
	link_at("/other/o.txt", "data/toother");
	link_at("/proc/self/root/etc/passwd", "data/magic");
	return (0);
}

static int
tree_remove(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", top);
	return (system(cmd) == 0 ? 0 : -1);
}

/* /data is top/data, /other is top/other. */
static struct tk_fs *
fs_make(void)
{
	char data[PATH_MAX + 8], other[PATH_MAX + 8], err[256];
	struct tk_read_path rp[2] = {
		{ data, "/data" }, { other, "/other" },
	};
	struct tk_fs *fs;

	snprintf(data, sizeof data, "%s/data", top);
	snprintf(other, sizeof other, "%s/other", top);
	assert_int_equal(tk_fs_open(&fs, "/bin/true", rp, 2, err, sizeof err), 0);
	return (fs);
}

/* What the guest reads at (path), or "" and the error in (*r). */
static const char *
read_at(const struct tk_fs *fs, const char *path, int *r)
{
	static char buf[16];
	int vdir, fd = tk_fs_resolve(fs, path, O_RDONLY, 1, &vdir);
	ssize_t n;

	*r = fd < 0 ? fd : 0;
	buf[0] = '\0';
	if (fd < 0)
		return (buf);
	n = read(fd, buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	return (buf);
}

static void
test_join(void **state)
{
	char out[PATH_MAX], big[PATH_MAX + 16];

	(void)state;
	assert_int_equal(tk_path_join(out, sizeof out, "/a/b", "c/./d//e"), 0);
	assert_string_equal(out, "/a/b/c/d/e");
	assert_int_equal(tk_path_join(out, sizeof out, "/a/b", "../../../x"), 0);
	assert_string_equal(out, "/x");
	assert_int_equal(tk_path_join(out, sizeof out, "/a", "/abs/.."), 0);
	assert_string_equal(out, "/");
	assert_int_equal(tk_path_join(out, sizeof out, "/", "."), 0);
	assert_string_equal(out, "/");
	assert_int_equal(tk_path_join(out, sizeof out, "/", ""), -ENOENT);
	/* (out) may be (base). */
	strcpy(out, "/p/q");
	assert_int_equal(tk_path_join(out, sizeof out, out, "../r"), 0);
	assert_string_equal(out, "/p/r");
	memset(big, 'n', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_int_equal(tk_path_join(out, sizeof out, "/", big), -ENAMETOOLONG);
	for (size_t i = 1; i < sizeof big - 1; i += 100)
		big[i] = '/';
	assert_int_equal(tk_path_join(out, 64, "/", big), -ENAMETOOLONG);
}

static void
test_allowed(void **state)
{
	struct tk_fs *fs = fs_make();
	int r;

	(void)state;
	assert_string_equal(read_at(fs, "/data/a.txt", &r), "A");
	assert_string_equal(read_at(fs, "/data/sub/b.txt", &r), "B");
	assert_string_equal(read_at(fs, "/data/in", &r), "B");
	/* A symlink's absolute text is a guest path: it reaches /other. */
	assert_string_equal(read_at(fs, "/data/toother", &r), "O");
	assert_string_equal(read_at(fs, "/data/root/other/o.txt", &r), "O");
	assert_int_equal(tk_fs_covers(fs, "/data/new"), 1);
	assert_int_equal(tk_fs_covers(fs, "/etc/passwd"), 0);
	assert_string_equal(tk_fs_exe(fs), "/usr/bin/true");
	tk_fs_free(fs);
}

static void
test_escapes(void **state)
{
	struct tk_fs *fs = fs_make();
	char path[PATH_MAX + 64];
	int r, vdir;

	(void)state;
	read_at(fs, "/data/../secret", &r);
	assert_int_equal(r, -ENOENT);
	read_at(fs, "/data/up", &r);
	assert_int_equal(r, -ENOENT);
	read_at(fs, "/data/abs", &r);
	assert_int_equal(r, -ENOENT);
	read_at(fs, "/data/magic", &r);
	assert_int_equal(r, -ENOENT);
	read_at(fs, "/data/root/etc/passwd", &r);
	assert_int_equal(r, -ENOENT);
	read_at(fs, "/proc/self/root/etc/passwd", &r);
	assert_int_equal(r, -ENOENT);
	read_at(fs, "/etc/passwd", &r);
	assert_int_equal(r, -ENOENT);
	/* The host path of an allowed directory is not a guest path. */
	snprintf(path, sizeof path, "%s/data/a.txt", top);
	read_at(fs, path, &r);
	assert_int_equal(r, -ENOENT);
	/* A link to itself loops, and stops. */
	link_at("/data/loop", "data/loop");
	read_at(fs, "/data/loop", &r);
	assert_int_equal(r, -ELOOP);
	/* A FIFO is refused before anything opens it: no blocking. */
	snprintf(path, sizeof path, "%s/data/fifo", top);
	assert_int_equal(mkfifo(path, 0600), 0);
	{
		struct stat st;

		assert_int_equal(tk_fs_open_read(fs, "/data/fifo", 0, 1, &vdir,
		    &st), -EACCES);
		r = tk_fs_open_read(fs, "/data/a.txt", 0, 1, &vdir, &st);
		assert_true(r >= 0 && S_ISREG(st.st_mode));
		close(r);
	}
	/* Without following, a link is a link, not its target. */
	r = tk_fs_resolve(fs, "/data/up", O_PATH, 0, &vdir);
	assert_true(r >= 0);
	close(r);
	tk_fs_free(fs);
}

static void
test_virtual(void **state)
{
	struct tk_fs *fs = fs_make();
	size_t len, at;
	char *d;
	int vdir, n = 0;

	(void)state;
	assert_int_equal(tk_fs_resolve(fs, "/", O_RDONLY, 1, &vdir), -1);
	assert_int_equal(vdir, 1);
	assert_int_equal(tk_fs_vdir_list(fs, "/", &d, &len), 0);
	for (at = 0; at < len; n++) {
		uint16_t rl;

		memcpy(&rl, d + at + 16, 2);
		assert_true(strcmp(d + at + 19, ".") == 0 ||
		    strcmp(d + at + 19, "..") == 0 ||
		    strcmp(d + at + 19, "data") == 0 ||
		    strcmp(d + at + 19, "other") == 0);
		at += rl;
	}
	assert_int_equal(n, 4);
	free(d);
	assert_int_equal(tk_fs_resolve(fs, "/usr", O_RDONLY, 1, &vdir), -ENOENT);
	assert_int_equal(vdir, 0);
	tk_fs_free(fs);
}

static void
test_bad_config(void **state)
{
	struct tk_read_path rp[2] = { { "/nonexistent-tk", NULL }, { NULL, NULL } };
	struct tk_fs *fs;
	char err[256];

	(void)state;
	assert_int_equal(tk_fs_open(&fs, "/bin/true", rp, 1, err, sizeof err),
	    -ENOENT);
	assert_non_null(strstr(err, "/nonexistent-tk"));
	assert_null(fs);
	rp[0].host = "/dev/null";
	assert_int_equal(tk_fs_open(&fs, "/bin/true", rp, 1, err, sizeof err),
	    -EINVAL);
	rp[0].host = rp[1].host = "/usr";
	assert_int_equal(tk_fs_open(&fs, "/bin/true", rp, 2, err, sizeof err),
	    -EEXIST);
	/* /proc and /sys would show the host: never allowed. */
	rp[0].host = "/proc/self";
	assert_int_equal(tk_fs_open(&fs, "/bin/true", rp, 1, err, sizeof err),
	    -EPERM);
	assert_non_null(strstr(err, "kernel file system"));
	rp[0].host = "/sys";
	assert_int_equal(tk_fs_open(&fs, "/bin/true", rp, 1, err, sizeof err),
	    -EPERM);
}

/* A fork's table: its own offsets, shared dups, and a cheap reset. */
static void
test_table_copy(void **state)
{
	struct tk_files *img = tk_files_new(), *fork = NULL;
	struct tk_hostfile *hf;
	struct tk_ofd *o;
	int r, fd;

	(void)state;
	assert_non_null(img);
	hf = tk_hostfile_new(open("/dev/null", O_RDONLY), "/x", NULL, 0, &r);
	assert_non_null(hf);
	o = tk_ofd_new(TK_FILE_REG, 0, hf);
	fd = tk_fd_install(img, o, 0, 0, 1);
	assert_int_equal(fd, 3);
	assert_int_equal(tk_fd_install(img, o, 9, 1, 0), 9);
	o->off = 5;
	assert_int_equal(tk_files_copy(&fork, img), 0);
	assert_ptr_equal(tk_fd_get(fork, 3), tk_fd_get(fork, 9));
	assert_ptr_not_equal(tk_fd_get(fork, 3), o);
	assert_int_equal(tk_fd_get(fork, 3)->off, 5);
	assert_int_equal(tk_fd_cloexec(fork, 3), 1);
	assert_int_equal(tk_fd_cloexec(fork, 9), 0);
	/* Untouched: nothing to copy.  Touched: put back. */
	o = tk_fd_get(fork, 3);
	assert_int_equal(tk_files_copy(&fork, img), 0);
	assert_ptr_equal(tk_fd_get(fork, 3), o);
	o->off = 99;
	tk_files_touch(fork);
	assert_int_equal(tk_fd_close(fork, 9), 0);
	assert_int_equal(tk_files_copy(&fork, img), 0);
	assert_int_equal(tk_fd_get(fork, 3)->off, 5);
	assert_non_null(tk_fd_get(fork, 9));
	/* The table fills, cleanly; 32 bits of a register name a descriptor. */
	for (r = 0; r >= 0; )
		r = tk_fd_install(fork, tk_fd_get(fork, 3), 0, 0, 0);
	assert_int_equal(r, -EMFILE);
	assert_non_null(tk_fd_get(fork, (1ULL << 32) | 3));
	assert_null(tk_fd_get(fork, TK_FDS_MAX));
	tk_files_free(fork);
	tk_files_free(img);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_join),
		cmocka_unit_test_setup_teardown(test_allowed, tree_make, tree_remove),
		cmocka_unit_test_setup_teardown(test_escapes, tree_make, tree_remove),
		cmocka_unit_test_setup_teardown(test_virtual, tree_make, tree_remove),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_table_copy),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
