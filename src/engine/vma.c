/*
 * The anonymous mappings of a guest's mmap area, as a sorted array of
 * disjoint ranges with neighbours merged.  Programs keep few mappings (malloc
 * merges), so a linear array beats a tree here, and copying it is cheap.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tk_internal.h"

static uint64_t
align_up(uint64_t v, uint64_t a)
{
	return ((v + a - 1) & ~(a - 1));
}

uint64_t
tk_vma_find(const struct tk_vm *vm, uint64_t len, uint64_t align)
{
	uint64_t at = align_up(vm->lay.mmap_start, align);
	unsigned i;

	for (i = 0; i < vm->proc.vmas.n; i++) {
		if (at + len <= vm->proc.vmas.v[i].start && at + len > at)
			return (at);
		if (vm->proc.vmas.v[i].end > at)
			at = align_up(vm->proc.vmas.v[i].end, align);
	}
	if (at + len <= vm->lay.mmap_end && at + len > at)
		return (at);
	return (0);
}

int
tk_vma_overlaps(const struct tk_vm *vm, uint64_t start, uint64_t end)
{
	for (unsigned i = 0; i < vm->proc.vmas.n; i++)
		if (vm->proc.vmas.v[i].start < end && start < vm->proc.vmas.v[i].end)
			return (1);
	return (0);
}

int
tk_vma_covers(const struct tk_vm *vm, uint64_t start, uint64_t end)
{
	for (unsigned i = 0; i < vm->proc.vmas.n && start < end; i++) {
		if (vm->proc.vmas.v[i].end <= start)
			continue;
		if (vm->proc.vmas.v[i].start > start)
			return (0);
		start = vm->proc.vmas.v[i].end;
	}
	return (start >= end);
}

static int
vmas_reserve(struct tk_vmas *s, unsigned more)
{
	struct tk_vma *v;
	unsigned cap;

	if (s->n + more <= s->cap)
		return (0);
	cap = s->cap ? s->cap * 2 : 16;
	while (cap < s->n + more)
		cap *= 2;
	v = realloc(s->v, cap * sizeof *v);
	if (v == NULL)
		return (-ENOMEM);
	s->v = v;
	s->cap = cap;
	return (0);
}

int
tk_vma_insert(struct tk_vm *vm, uint64_t start, uint64_t end)
{
	struct tk_vmas *s = &vm->proc.vmas;
	unsigned i;

	if (vmas_reserve(s, 1) < 0)
		return (-ENOMEM);
	for (i = 0; i < s->n && s->v[i].start < start; i++)
		continue;
	memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof s->v[0]);
	s->v[i] = (struct tk_vma){ start, end };
	s->n++;
	if (i + 1 < s->n && s->v[i].end == s->v[i + 1].start) {
		s->v[i].end = s->v[i + 1].end;
		memmove(&s->v[i + 1], &s->v[i + 2],
		    (s->n - i - 2) * sizeof s->v[0]);
		s->n--;
	}
	if (i > 0 && s->v[i - 1].end == s->v[i].start) {
		s->v[i - 1].end = s->v[i].end;
		memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof s->v[0]);
		s->n--;
	}
	return (0);
}

int
tk_vma_remove(struct tk_vm *vm, uint64_t start, uint64_t end)
{
	struct tk_vmas *s = &vm->proc.vmas;
	unsigned i = 0;

	/* Splitting one range in two needs one more slot. */
	if (vmas_reserve(s, 1) < 0)
		return (-ENOMEM);
	while (i < s->n) {
		struct tk_vma *v = &s->v[i];

		if (v->end <= start || v->start >= end) {
			i++;
		} else if (v->start < start && v->end > end) {
			memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof *v);
			s->n++;
			s->v[i].end = start;
			s->v[i + 1].start = end;
			return (0);
		} else if (v->start < start) {
			v->end = start;
			i++;
		} else if (v->end > end) {
			v->start = end;
			i++;
		} else {
			memmove(v, v + 1, (s->n - i - 1) * sizeof *v);
			s->n--;
		}
	}
	return (0);
}

void
tk_vma_free(struct tk_vmas *vmas)
{
	free(vmas->v);
	memset(vmas, 0, sizeof *vmas);
}
