/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A bounded free list of objects of one size, so that a hot path that
 * frees and allocates the same kind of object over and over does not go
 * through malloc() each time. Objects come from malloc(); a freed one is
 * kept for the next mempool_alloc() while the pool holds fewer than
 * max_free, and given back to malloc() beyond that, so a pool never keeps
 * more than MEMPOOL_MAX_FREE_BYTES however large a burst was.
 * mempool_trim() gives back all it keeps. Not thread-safe: the daemon has
 * one thread.
 */

#include <stddef.h>
#include <stdint.h>

/* A few packets' worth of deliveries (a window is up to 2048 frames) of
 * the smallest objects, and fewer of the larger. */
#define MEMPOOL_MAX_FREE_BYTES (128u * 1024)

typedef struct MemPool {
        void *free;                     /* linked through each free object's first word */
        size_t size;                    /* of every object, at least a pointer */
        uint32_t n_free, max_free;
} MemPool;

#define MEMPOOL_INIT(sz) MEMPOOL_INIT_MAX(sz, MEMPOOL_MAX_FREE_BYTES)
/* A pool that keeps up to max_bytes instead. */
#define MEMPOOL_INIT_MAX(sz, max_bytes) { NULL, (sz), 0, (max_bytes) / (sz) }

/* An uninitialised object of p->size bytes, or NULL on ENOMEM. */
void *mempool_alloc(MemPool *p);
/* Keep obj for reuse, or free it if the pool is full. Accepts NULL. */
void mempool_free(MemPool *p, void *obj);
/* Free all kept objects. */
void mempool_trim(MemPool *p);
