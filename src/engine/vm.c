/*
 * The engine's top: making an image (load, stack, vCPU, the SYSCALL probe),
 * running its main() to wait_for_requests, and destroying images and forks.
 * The exit handlers of the layers below are registered here, once.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_internal.h"
#include "files.h"

static pthread_once_t exits_once = PTHREAD_ONCE_INIT;

static void
exits_register(void)
{
	tk_linux_register();
	tk_call_register();
}

static struct tk_image *
image_new(const struct tk_vm_config *cfg)
{
	struct tk_image *img = calloc(1, sizeof *img);
	struct tk_vm *vm;

	if (img == NULL)
		return (NULL);
	vm = &img->vm;
	vm->magic = TK_VM_MAGIC;
	vm->role = TK_ROLE_IMAGE;
	vm->state = TK_STATE_LOADED;
	vm->vm_fd = vm->vcpu_fd = vm->mem_fd = -1;
	atomic_init(&img->refs, 1);
	vm->cb.write = cfg->write;
	vm->cb.read = cfg->read;
	vm->cb.log = cfg->log;
	vm->cb.hypercall = cfg->hypercall;
	vm->cb.opaque = cfg->opaque;
	vm->cb.verbose = cfg->verbose;
	return (img);
}

/* Memory, the program and its stack, the vCPU, and how SYSCALL reaches us. */
static int
image_load(struct tk_vm *vm, const char *path, const struct tk_vm_config *cfg,
    uint64_t mem, char *err, size_t errlen)
{
	static const char *const no_env[] = { NULL };
	const char *const default_argv[] = { path, NULL };
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	struct tk_elf_image elf;
	int r;

	/* Its name, as Linux sets it at exec: the file's, cut to 15 bytes. */
	memcpy(vm->proc.comm, base, strnlen(base, sizeof vm->proc.comm - 1));
	vm->proc.files = tk_files_new();
	if (vm->proc.files == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-ENOMEM);
	}
	r = tk_fs_open((struct tk_fs **)(uintptr_t)&vm->fs, path,
	    cfg->read_paths, cfg->n_read_paths, err, errlen);
	if (r == 0 && cfg->no_system_libs)
		tk_fs_no_system_libs((struct tk_fs *)(uintptr_t)vm->fs);
	if (r == 0)
		r = tk_kvm_vm_create(vm, 0, err, errlen);
	if (r == 0)
		r = tk_mem_create(vm, mem, cfg->forkable, err, errlen);
	if (r == 0)
		r = tk_elf_load(vm, path, &elf, err, errlen);
	if (r == 0)
		r = tk_stack_build(vm, &elf, cfg->argv ? cfg->argv :
		    default_argv, cfg->envp ? cfg->envp : no_env, err, errlen);
	if (r == 0)
		r = tk_memslots_set(vm, err, errlen);
	if (r == 0)
		r = tk_vcpu_create(vm, err, errlen);
	if (r == 0)
		r = tk_cpu_setup(vm, err, errlen);
	if (r == 0) {
		r = tk_watch_register(&vm->watch, vm->run);
		if (r < 0)
			snprintf(err, errlen, "cannot start the watchdog: %s",
			    strerror(-r));
	}
	if (r == 0)
		r = tk_syscall_path_decide(vm, err, errlen);
	return (r);
}

int
tk_vm_create(struct tk_vm **vmp, const char *path,
    const struct tk_vm_config *cfg, char *err, size_t errlen)
{
	uint64_t mem = cfg->max_memory ? cfg->max_memory : TK_DEFAULT_MAX_MEMORY;
	struct tk_image *img;
	int kfd, r;

	*vmp = NULL;
	if (mem < TK_MIN_MEMORY || mem > TK_MAX_MEMORY) {
		snprintf(err, errlen, "guest memory must be between %llu MiB and "
		    "%llu MiB", TK_MIN_MEMORY >> 20, TK_MAX_MEMORY >> 20);
		return (-EINVAL);
	}
	kfd = tk_kvm_fd(err, errlen);
	if (kfd < 0)
		return (kfd);
	(void)pthread_once(&exits_once, exits_register);
	img = image_new(cfg);
	if (img == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-ENOMEM);
	}
	r = image_load(&img->vm, path, cfg, mem, err, errlen);
	if (r < 0) {
		tk_image_unref(img);
		return (r);
	}
	*vmp = &img->vm;
	return (0);
}

int
tk_vm_run(struct tk_vm *vm, uint64_t timeout_ns, struct tk_result *res)
{
	int r;

	TK_VM_CHECK(vm);
	memset(res, 0, sizeof *res);
	vm->res = res;
	if (vm->role != TK_ROLE_IMAGE || (vm->state != TK_STATE_LOADED &&
	    vm->state != TK_STATE_WAITING) ||
	    atomic_load(&tk_image_of(vm)->refs) > 1) {
		tk_stop(vm, TK_STOP_ERROR, 0, 0, "%s", vm->state == TK_STATE_ENDED ?
		    "the program has already ended" :
		    "a fork, or a VM with forks or served calls, only runs calls");
		return (-EINVAL);
	}
	tk_state_set(vm, TK_STATE_RUNNING);
	tk_vcpu_run(vm, timeout_ns ? tk_now_ns() + timeout_ns : 0, timeout_ns);
	if (res->stop == TK_STOP_WAIT) {
		r = tk_image_pause(tk_image_of(vm));
		tk_state_set(vm, r == 0 ? TK_STATE_WAITING : TK_STATE_ENDED);
		return (r);
	}
	tk_state_set(vm, TK_STATE_ENDED);
	return (0);
}

void
tk_vm_destroy(struct tk_vm *vm)
{
	if (vm == NULL)
		return;
	TK_VM_CHECK(vm);
	/* Forks hold references: the last one out frees the image. */
	if (vm->role == TK_ROLE_FORK)
		tk_fork_free(tk_fork_of(vm));
	else
		tk_image_unref(tk_image_of(vm));
}
