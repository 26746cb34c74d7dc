/*
 * Prints argc, argv and the environment exactly as received, then auxiliary
 * vector invariants that hold on any x86-64 Linux (no addresses, nothing
 * machine-specific), so the output is identical natively and in the sandbox.
 */
#include <stdio.h>
#include <sys/auxv.h>
#include <unistd.h>

static void
check(const char *what, int ok)
{
	printf("auxv %s: %s\n", what, ok ? "yes" : "NO");
}

int
main(int argc, char **argv, char **envp)
{
	int i;

	printf("argc=%d\n", argc);
	for (i = 0; i < argc; i++)
		printf("argv[%d]=[%s]\n", i, argv[i]);
	if (argv[argc] != NULL)
		printf("argv[argc] is not NULL\n");
	for (i = 0; envp[i] != NULL; i++)
		printf("envp[%d]=[%s]\n", i, envp[i]);
	printf("envc=%d\n", i);

	printf("auxv AT_PAGESZ=%lu\n", getauxval(AT_PAGESZ));
	check("AT_UID == getuid()", getauxval(AT_UID) == (unsigned long)getuid());
	check("AT_EUID == geteuid()", getauxval(AT_EUID) == (unsigned long)geteuid());
	check("AT_GID == getgid()", getauxval(AT_GID) == (unsigned long)getgid());
	check("AT_EGID == getegid()", getauxval(AT_EGID) == (unsigned long)getegid());
	check("AT_RANDOM != 0", getauxval(AT_RANDOM) != 0);
	check("AT_PHDR != 0", getauxval(AT_PHDR) != 0);
	check("AT_ENTRY != 0", getauxval(AT_ENTRY) != 0);
	check("AT_PHNUM > 0", getauxval(AT_PHNUM) > 0);
	check("AT_PHENT == 56", getauxval(AT_PHENT) == 56);
	check("AT_SECURE == 0", getauxval(AT_SECURE) == 0);
	return 0;
}
