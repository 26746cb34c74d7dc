/*
 * What runtimes ask about themselves at start: sysinfo, getrusage, times and
 * prctl's name.  Prints only what is the same natively and in the sandbox.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <sys/times.h>

int
main(void)
{
	struct sysinfo si;
	struct rusage ru;
	struct tms t;
	char name[16] = "";
	int r;

	r = sysinfo(&si);
	printf("sysinfo %d unit %u ram %s procs %s\n", r, si.mem_unit,
	    si.totalram > 0 && si.freeram <= si.totalram ? "yes" : "no",
	    si.procs >= 1 ? "yes" : "no");
	r = getrusage(RUSAGE_SELF, &ru);
	printf("getrusage self %d\n", r);
	errno = 0;
	r = getrusage(5, &ru);
	printf("getrusage 5 %d %s\n", r, errno == EINVAL ? "EINVAL" : "?");
	printf("times %s\n", times(&t) != (clock_t)-1 ? "yes" : "no");
	r = prctl(PR_GET_NAME, (unsigned long)name, 0, 0, 0);
	printf("name at start %d '%s'\n", r, name);
	r = prctl(PR_SET_NAME, (unsigned long)"worker-thread-name", 0, 0, 0);
	printf("set name %d\n", r);
	r = prctl(PR_GET_NAME, (unsigned long)name, 0, 0, 0);
	printf("get name %d '%s'\n", r, name);
	errno = 0;
	r = prctl(0x7fff, 0, 0, 0, 0);
	printf("prctl unknown %d %s\n", r, errno == EINVAL ? "EINVAL" : "?");
	return 0;
}
