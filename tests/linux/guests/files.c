/*
 * Reads the directory named by argv[1] (made by run-compare.sh: a.txt,
 * sub/b.txt, link -> a.txt) the way real programs do, and prints what each
 * call answered, so a native run and a sandboxed one (--allow-read DIR)
 * must print the same.  Without arguments it says so and exits 0.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

static void
say(const char *what, long r)
{
	if (r < 0)
		printf("%-28s %ld errno %d\n", what, r, errno);
	else
		printf("%-28s %ld\n", what, r);
}

static int
name_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/* The directory's names, sorted: the host's order is not ours to fix. */
static void
list(const char *dir)
{
	char *names[64];
	struct dirent *e;
	DIR *d = opendir(dir);
	int n = 0;

	if (d == NULL) {
		say("opendir", -1);
		return;
	}
	while ((e = readdir(d)) != NULL && n < 64)
		names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, (size_t)n, sizeof names[0], name_cmp);
	for (int i = 0; i < n; i++) {
		printf("entry %s\n", names[i]);
		free(names[i]);
	}
}

static void
descriptors(int dir)
{
	char buf[64];
	struct stat st;
	int fd, d;

	fd = openat(dir, "a.txt", O_RDONLY | O_CLOEXEC);
	say("openat a.txt", fd >= 3);
	say("read 5", read(fd, buf, 5));
	printf("bytes %.5s\n", buf);
	say("lseek cur", lseek(fd, 0, SEEK_CUR));
	say("pread 4 at 2", pread(fd, buf, 4, 2));
	printf("bytes %.4s\n", buf);
	say("lseek cur after pread", lseek(fd, 0, SEEK_CUR));
	d = dup(fd);
	say("read 3 from dup", read(d, buf, 3));
	printf("bytes %.3s\n", buf);
	say("shared offset", lseek(fd, 0, SEEK_CUR));
	say("F_GETFD orig", fcntl(fd, F_GETFD));
	say("F_GETFD dup", fcntl(d, F_GETFD));
	say("F_GETFL", fcntl(fd, F_GETFL) & O_ACCMODE);
	say("dup2 to 40", dup2(fd, 40));
	say("dup3 to 41 cloexec", dup3(fd, 41, O_CLOEXEC));
	say("F_GETFD 41", fcntl(41, F_GETFD));
	say("fstat", fstat(40, &st));
	say("size", (long)st.st_size);
	say("regular", S_ISREG(st.st_mode));
	say("lseek end", lseek(fd, 0, SEEK_END));
	say("read at end", read(fd, buf, sizeof buf));
	say("lseek -1", lseek(fd, -1, SEEK_SET));
	say("write to file", write(fd, "x", 1));
	close(40);
	close(41);
	close(d);
	say("close", close(fd));
	say("read closed", read(fd, buf, 1));
	say("close closed", close(fd));
}

static void
paths(const char *top)
{
	char buf[PATH_MAX];
	struct statfs sf;
	struct stat st;
	long n;
	int fd;

	say("chdir", chdir(top));
	say("getcwd is top", getcwd(buf, sizeof buf) != NULL &&
	    strcmp(buf, top) == 0);
	fd = open("sub/b.txt", O_RDONLY);
	n = read(fd, buf, sizeof buf);
	printf("sub/b.txt: %.*s", (int)n, buf);
	close(fd);
	say("chdir sub", chdir("sub"));
	say("stat ../a.txt", stat("../a.txt", &st));
	say("lstat link", lstat("../link", &st));
	say("is symlink", S_ISLNK(st.st_mode));
	say("stat link", stat("../link", &st));
	say("is regular", S_ISREG(st.st_mode));
	n = readlink("../link", buf, sizeof buf);
	printf("readlink: %.*s\n", (int)(n > 0 ? n : 0), buf);
	say("readlink a file", readlink("../a.txt", buf, sizeof buf));
	say("access R_OK", access("../a.txt", R_OK));
	say("access missing", access("../none", F_OK));
	say("open missing", open("../none", O_RDONLY));
	say("open file as dir", open("../a.txt", O_RDONLY | O_DIRECTORY));
	say("open dir O_RDONLY", (fd = open("..", O_RDONLY)) >= 0);
	say("read a directory", read(fd, buf, 1));
	say("fchdir", fchdir(fd));
	close(fd);
	say("back at top", getcwd(buf, sizeof buf) != NULL &&
	    strcmp(buf, top) == 0);
	say("stat through file", stat("a.txt/x", &st));
	fd = open("a.txt", O_PATH);
	say("O_PATH open", fd >= 0);
	say("fstat O_PATH", fstat(fd, &st) == 0 && S_ISREG(st.st_mode));
	say("read O_PATH", read(fd, buf, 1));
	close(fd);
	fd = open("sub", O_PATH | O_DIRECTORY);
	say("O_PATH dir, openat in it", (n = openat(fd, "b.txt", O_RDONLY)) >= 0);
	close((int)n);
	close(fd);
	say("statfs", statfs("a.txt", &sf));
	say("O_CREAT of what exists", (fd = open("a.txt", O_RDONLY | O_CREAT,
	    0644)) >= 0);
	close(fd);
	fd = open("/dev/null", O_RDWR);
	say("/dev/null read", read(fd, buf, sizeof buf));
	say("/dev/null write", write(fd, "abc", 3));
	say("/dev/null lseek", lseek(fd, 0, SEEK_SET));
	close(fd);
	say("open bad pointer", open((const char *)8, O_RDONLY));
	say("open unmapped pointer", open((const char *)0x7ff0, O_RDONLY));
	{
		static char longp[PATH_MAX + 100];

		memset(longp, 'x', sizeof longp - 1);
		say("open over-long path", open(longp, O_RDONLY));
		for (size_t i = 0; i + 2 < sizeof longp - 1; i += 2)
			memcpy(longp + i, "./", 2);
		say("over-long in dots", open(longp, O_RDONLY));
	}
	n = readlink("/proc/self/exe", buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = '\0';
	say("exe is absolute", buf[0] == '/');
	say("exe is a file", stat(buf, &st) == 0 || errno == ENOENT);
}

/* Opens until the table is full: it must fill, and cleanly. */
static void
exhaust(int dir)
{
	struct rlimit rl = { 64, 64 };
	int fds[1100], n = 0;

	(void)setrlimit(RLIMIT_NOFILE, &rl);
	while (n < 1100 && (fds[n] = openat(dir, "a.txt", O_RDONLY)) >= 0)
		n++;
	/* Whatever the caller left open counts too: not exactly 61. */
	say("EMFILE at the limit", errno == EMFILE && n >= 50);
	while (n > 0)
		close(fds[--n]);
	say("opens again", (n = openat(dir, "a.txt", O_RDONLY)) >= 0);
	close(n);
}

int
main(int argc, char **argv)
{
	char top[PATH_MAX];
	int dir;

	if (argc < 2) {
		printf("files: give a directory\n");
		return (0);
	}
	snprintf(top, sizeof top, "%s", argv[1]);
	dir = open(top, O_RDONLY | O_DIRECTORY);
	say("open dir", dir >= 0);
	list(top);
	descriptors(dir);
	paths(top);
	exhaust(dir);
	return (0);
}
