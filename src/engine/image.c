/*
 * An image: the program loaded and run to its wait_for_requests.  Its pause
 * (vCPU, process state, call stack) is what every fork starts from and what
 * every reset puts back.  Forks hold a reference: the image lives until its
 * owner and its last fork are done with it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tk_internal.h"
#include "files.h"

int
tk_proc_copy(struct tk_proc *dst, const struct tk_proc *src)
{
	struct tk_vma *v = dst->vmas.v;
	struct tk_files *files = dst->files;
	unsigned cap = dst->vmas.cap;

	/* First the descriptors: a failure leaves (dst) as it was but them. */
	if (tk_files_copy(&files, src->files) < 0) {
		dst->files = files;
		return (-ENOMEM);
	}
	if (cap < src->vmas.n) {
		cap = src->vmas.n + 16;
		v = realloc(v, cap * sizeof *v);
		if (v == NULL) {
			dst->files = files;
			return (-ENOMEM);
		}
	}
	memcpy(dst, src, sizeof *dst);
	dst->files = files;
	if (src->vmas.n > 0)
		memcpy(v, src->vmas.v, src->vmas.n * sizeof *v);
	dst->vmas.v = v;
	dst->vmas.cap = cap;
	return (0);
}

int
tk_image_pause(struct tk_image *img)
{
	struct tk_vm *vm = &img->vm;
	struct tk_vcpu_state *st = tk_vcpu_state_save(vm);

	if (st == NULL || tk_proc_copy(&img->proc, &vm->proc) < 0) {
		tk_vcpu_state_free(st);
		tk_stop(vm, TK_STOP_ERROR, 0, 0, "cannot save the paused VM");
		return (-EIO);
	}
	tk_vcpu_state_free(img->vcpu);
	img->vcpu = st;
	/* Calls run below the paused stack and its red zone. */
	vm->call_rsp = vm->snap_call_rsp = (vm->user_rsp - 128) & ~15ULL;
	return (0);
}

void
tk_image_unref(struct tk_image *img)
{
	if (atomic_fetch_sub(&img->refs, 1) != 1)
		return;
	tk_vm_core_release(&img->vm);
	tk_vcpu_state_free(img->vcpu);
	tk_vma_free(&img->proc.vmas);
	tk_files_free(img->proc.files);
	tk_fs_free((struct tk_fs *)(uintptr_t)img->vm.fs);
	img->vm.magic = 0;
	free(img);
}
