/*
 * /dev/kvm: opened once per process, checked for what the sandbox needs,
 * and, when it cannot be opened, an error an admin can act on.  A leaf:
 * every file that talks to KVM starts here.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tk_internal.h"

static pthread_mutex_t kvm_lock = PTHREAD_MUTEX_INITIALIZER;
static int kvm_fd = -1;

/* Explains a failed open of /dev/kvm so that an admin knows what to do. */
static void
kvm_explain(int e, char *err, size_t errlen)
{
	struct passwd *pw = getpwuid(geteuid());
	const char *user = pw ? pw->pw_name : "running this program";
	const char *group = "kvm";
	struct group *g;
	struct stat st;

	if (e == EACCES || e == EPERM) {
		if (stat("/dev/kvm", &st) == 0 && (g = getgrgid(st.st_gid)) != NULL)
			group = g->gr_name;
		snprintf(err, errlen, "cannot open /dev/kvm: %s — add user %s to "
		    "the group owning /dev/kvm (usermod -aG %s %s; the device must "
		    "be mode 0660, group %s) and restart the process",
		    strerror(e), user, group, user, group);
	} else if (e == ENOENT || e == ENODEV || e == ENXIO) {
		snprintf(err, errlen, "cannot open /dev/kvm: %s — KVM is not "
		    "available here (load kvm_intel or kvm_amd, or enable nested "
		    "virtualisation)", strerror(e));
	} else {
		snprintf(err, errlen, "cannot open /dev/kvm: %s", strerror(e));
	}
}

int
tk_kvm_fd(char *err, size_t errlen)
{
	int fd, e = 0;

	(void)pthread_mutex_lock(&kvm_lock);
	if (kvm_fd < 0) {
		fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			e = errno;
		} else if (ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION ||
		    ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS) <= 0 ||
		    ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) <= 0) {
			close(fd);
			e = ENOTSUP;
		} else {
			kvm_fd = fd;
		}
	}
	fd = kvm_fd;
	(void)pthread_mutex_unlock(&kvm_lock);
	if (fd >= 0)
		return (fd);
	if (e == ENOTSUP)
		snprintf(err, errlen, "this KVM lacks the API version, "
		    "KVM_CAP_SYNC_REGS or KVM_CAP_IMMEDIATE_EXIT the sandbox needs");
	else
		kvm_explain(e, err, errlen);
	return (-e);
}

int
tk_kvm_available(char *err, size_t errlen)
{
	int r = tk_kvm_fd(err, errlen);

	return (r < 0 ? r : 0);
}

/* A module parameter that reads as on ("Y" or "1"). */
static int
param_on(const char *path)
{
	char v[4] = "";
	FILE *f = fopen(path, "re");

	if (f == NULL)
		return (0);
	if (fgets(v, sizeof v, f) == NULL)
		v[0] = '\0';
	(void)fclose(f);
	return (v[0] == 'Y' || v[0] == 'y' || v[0] == '1');
}

int
tk_kvm_nested_paging(void)
{
	return (param_on("/sys/module/kvm_intel/parameters/ept") ||
	    param_on("/sys/module/kvm_amd/parameters/npt"));
}
