/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <stdlib.h>

#include "mempool.h"

/* With AddressSanitizer, a kept object is poisoned but for its link, so a
 * use after mempool_free() is still caught as it is after free(). */
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#else
#define ASAN_POISON_MEMORY_REGION(addr, size) ((void) (addr), (void) (size))
#define ASAN_UNPOISON_MEMORY_REGION(addr, size) ((void) (addr), (void) (size))
#endif

static void *take(MemPool *p) {
        void *obj = p->free;

        p->free = *(void **) obj;
        p->n_free--;
        ASAN_UNPOISON_MEMORY_REGION(obj, p->size);
        return obj;
}

void *mempool_alloc(MemPool *p) {
        return p->free ? take(p) : malloc(p->size);
}

void mempool_free(MemPool *p, void *obj) {
        assert(p->size >= sizeof(void *));
        if (!obj)
                return;
        if (p->n_free >= p->max_free) {
                free(obj);
                return;
        }
        *(void **) obj = p->free;
        p->free = obj;
        p->n_free++;
        ASAN_POISON_MEMORY_REGION((char *) obj + sizeof(void *), p->size - sizeof(void *));
}

void mempool_trim(MemPool *p) {
        while (p->free)
                free(take(p));
}
