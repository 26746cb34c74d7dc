/*
 * Test guest: GET /read/PATH answers with the file at PATH in the guest's
 * file system (allowed_paths), or 404 with the errno.  Each request opens
 * a descriptor and leaves it open, and reads 5 bytes from one main()
 * opened: X-Fd and X-Init show that a reset puts the table and its offsets
 * back.  A pipe and an eventfd made in main() (X-Pipe, X-Event) show the
 * same for what lives in the VM: each request drains them, and the next
 * finds them full again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tinykvm/guest.h"

static int init_fd = -1, pipe_fds[2] = { -1, -1 }, event_fd = -1;
static char body[65536];

static void
on_get(const struct tinykvm_request *req)
{
	char init[8] = "", num[16];
	const char *path = req->url + strlen("/read");
	ssize_t n;
	int fd;

	uint64_t count = 0;

	if (init_fd >= 0 && read(init_fd, init, 5) == 5)
		(void)tinykvm_header_add("X-Init", init);
	/* Drain what main() left in the pipe, and leave something else. */
	n = read(pipe_fds[0], init, 4);
	init[n > 0 ? n : 0] = '\0';
	(void)tinykvm_header_add("X-Pipe", init);
	(void)write(pipe_fds[1], "junk", 4);
	if (read(event_fd, &count, 8) == 8) {
		snprintf(num, sizeof num, "%llu", (unsigned long long)count);
		(void)tinykvm_header_add("X-Event", num);
	}
	fd = open(path, O_RDONLY);
	snprintf(num, sizeof num, "%d", fd < 0 ? -errno : fd);
	(void)tinykvm_header_add("X-Fd", num);
	if (fd < 0) {
		n = snprintf(body, sizeof body, "%s: errno %d\n", path, errno);
		tinykvm_respond(404, "text/plain", body, (size_t)n);
		return;
	}
	n = read(fd, body, sizeof body);
	tinykvm_respond(200, "text/plain", body, n > 0 ? (size_t)n : 0);
}

int
main(int argc, char **argv)
{
	if (argc > 1)
		init_fd = open(argv[1], O_RDONLY);
	if (pipe2(pipe_fds, O_NONBLOCK) == 0)
		(void)write(pipe_fds[1], "pipe", 4);
	event_fd = eventfd(5, EFD_NONBLOCK);
	tinykvm_on_get(on_get);
	tinykvm_wait_for_requests();
	return (0);
}
