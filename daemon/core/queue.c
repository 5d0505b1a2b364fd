/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "queue.h"
#include "util.h"

#define HEAP_CAP_MIN 8u
#define SIGNAL_GRAIN 32u                /* see PENDING_OVERHEAD */

#define HEAP_POOL(cap) MEMPOOL_INIT((cap) * sizeof(Pending *))
#define SIGNAL_POOL(i) MEMPOOL_INIT(sizeof(Signal) + (i) * SIGNAL_GRAIN)

/*
 * The free lists are this file's, not a Broker's: the daemon has one
 * thread, a Signal is shared by the Queues of all its receivers and
 * outlives each, and this API (signal_new(), pending_free()) has no
 * context to carry a pool in. Each list keeps at most
 * MEMPOOL_MAX_FREE_BYTES, and queue_pools_trim() empties them.
 */
static MemPool pending_pool = MEMPOOL_INIT_MAX(sizeof(Pending), PENDING_POOL_MAX_BYTES);
static MemPool head_pool = MEMPOOL_INIT(SB_DELIVER_HEAD_SIZE);
static MemPool heap_pools[] = { HEAP_POOL(8), HEAP_POOL(16), HEAP_POOL(32) };
/* Payloads of up to 0, 32, ..., 256 bytes; larger ones are rarer, and
 * memcpy() and the socket cost more than malloc() for them. */
static MemPool signal_pools[] = {
        SIGNAL_POOL(0), SIGNAL_POOL(1), SIGNAL_POOL(2), SIGNAL_POOL(3), SIGNAL_POOL(4),
        SIGNAL_POOL(5), SIGNAL_POOL(6), SIGNAL_POOL(7), SIGNAL_POOL(8),
};

static MemPool *signal_pool(uint32_t payload_len) {
        uint32_t i = (payload_len + SIGNAL_GRAIN - 1) / SIGNAL_GRAIN;

        return payload_len <= (ELEMENTSOF(signal_pools) - 1) * SIGNAL_GRAIN ? &signal_pools[i] : NULL;
}

static MemPool *heap_pool(uint32_t cap) {
        for (size_t i = 0; i < ELEMENTSOF(heap_pools); i++)
                if (cap == HEAP_CAP_MIN << i)
                        return &heap_pools[i];
        return NULL;
}

static void *pool_alloc(MemPool *pool, size_t size) {
        return pool ? mempool_alloc(pool) : malloc(size);
}

static void pool_free(MemPool *pool, void *obj) {
        if (pool)
                mempool_free(pool, obj);
        else
                free(obj);
}

const MemPool *queue_pool_of_pending(void) {
        return &pending_pool;
}

const MemPool *queue_pool_of_signal(uint32_t payload_len) {
        return signal_pool(payload_len);
}

const MemPool *queue_pool_of_heap(uint32_t cap) {
        return heap_pool(cap);
}

void queue_pools_trim(void) {
        mempool_trim(&pending_pool);
        mempool_trim(&head_pool);
        for (size_t i = 0; i < ELEMENTSOF(heap_pools); i++)
                mempool_trim(&heap_pools[i]);
        for (size_t i = 0; i < ELEMENTSOF(signal_pools); i++)
                mempool_trim(&signal_pools[i]);
}

Signal *signal_new(uint32_t signo, uint8_t priority, const void *payload, uint32_t payload_len) {
        Signal *s = pool_alloc(signal_pool(payload_len), sizeof(*s) + payload_len);

        if (!s)
                return NULL;
        *s = (Signal) {
                .n_ref = 1,
                .signo = signo,
                .priority = priority,
                .payload_len = payload_len,
        };
        if (payload_len > 0)
                memcpy(s->payload, payload, payload_len);
        return s;
}

Signal *signal_ref(Signal *s) {
        if (s)
                s->n_ref++;
        return s;
}

Signal *signal_unref(Signal *s) {
        if (s && --s->n_ref == 0) {
                mempool_free(&head_pool, s->head);
                pool_free(signal_pool(s->payload_len), s);
        }
        return NULL;
}

/* Only shared Signals get one: its memory is then covered by the charge of
 * the second receiver's Pending, which assumes a whole Signal of its own. */
uint8_t *signal_head_alloc(Signal *s) {
        if (!s->head)
                s->head = mempool_alloc(&head_pool);
        return s->head;
}

/* Does a come out before b? */
static bool before(const Pending *a, const Pending *b) {
        if (a->priority != b->priority)
                return a->priority > b->priority;
        if (a->signal->signo != b->signal->signo)
                return a->signal->signo < b->signal->signo;
        return a->order < b->order;
}

static void place(Queue *q, uint32_t i, Pending *p) {
        q->heap[i] = p;
        p->index = q->front + i;
}

static Pending **array_start(const Queue *q) {
        return q->heap ? q->heap - q->front : NULL;
}

/* Entries back to the start of the array: for a push at its end, or to use
 * it as a heap. */
static void move_to_start(Queue *q) {
        if (q->front == 0)
                return;
        memmove(array_start(q), q->heap, q->n * sizeof(*q->heap));
        q->heap -= q->front;
        q->front = 0;
        for (uint32_t i = 0; i < q->n; i++)
                q->heap[i]->index = i;
}

/* From here on a heap: a sorted array already is one. */
static void make_heap(Queue *q) {
        move_to_start(q);
        q->unsorted = true;
}

static void sift_up(Queue *q, uint32_t i) {
        Pending *p = q->heap[i];

        while (i > 0) {
                uint32_t parent = (i - 1) / 2;
                if (!before(p, q->heap[parent]))
                        break;
                place(q, i, q->heap[parent]);
                i = parent;
        }
        place(q, i, p);
}

static void sift_down(Queue *q, uint32_t i) {
        Pending *p = q->heap[i];

        for (;;) {
                uint32_t child = 2 * i + 1;
                if (child >= q->n)
                        break;
                if (child + 1 < q->n && before(q->heap[child + 1], q->heap[child]))
                        child++;
                if (!before(q->heap[child], p))
                        break;
                place(q, i, q->heap[child]);
                i = child;
        }
        place(q, i, p);
}

static void heap_free(Pending **heap, uint32_t cap) {
        pool_free(heap_pool(cap), heap);
}

/* A full array of cap entries, moved to one of new_cap; NULL on ENOMEM,
 * with heap left as it was. */
static Pending **heap_grow(Pending **heap, uint32_t cap, uint32_t new_cap) {
        Pending **grown;

        if (cap > 0 && !heap_pool(cap) && !heap_pool(new_cap))
                return realloc(heap, new_cap * sizeof(*heap));  /* may grow in place */
        grown = pool_alloc(heap_pool(new_cap), new_cap * sizeof(*heap));
        if (grown && cap > 0) {
                memcpy(grown, heap, cap * sizeof(*heap));
                heap_free(heap, cap);
        }
        return grown;
}

/* Room for one more entry at heap[n]. Pops from the front leave room at the
 * start: the entries move back there once that is half the array, so each
 * move is paid for by as many pops. */
static int reserve(Queue *q) {
        Pending **heap;
        uint32_t cap;

        if (q->front + q->n < q->cap)
                return 0;
        if (q->front > 0 && q->front >= q->cap / 2) {
                move_to_start(q);
                return 0;
        }
        move_to_start(q);
        cap = q->cap ? q->cap * 2 : HEAP_CAP_MIN;
        heap = heap_grow(q->heap, q->cap, cap);
        if (!heap)
                return -ENOMEM;
        q->heap = heap;
        q->cap = cap;
        return 0;
}

static void account(Queue *q, const Pending *p, bool add) {
        uint32_t signo = p->signal->signo;

        if (add) {
                q->bytes += pending_cost(p->signal);
                if (!sb_signal_is_realtime(signo) && signo > 0)
                        q->standard |= UINT32_C(1) << signo;
        } else {
                q->bytes -= pending_cost(p->signal);
                if (!sb_signal_is_realtime(signo) && signo > 0)
                        q->standard &= ~(UINT32_C(1) << signo);
        }
}

int queue_push_pending(Queue *q, Pending *p) {
        if (reserve(q) < 0)
                return -ENOMEM;
        account(q, p, true);
        if (!q->unsorted && q->n > 0 && before(p, q->heap[q->n - 1]))
                make_heap(q);
        place(q, q->n++, p);
        if (q->unsorted)
                sift_up(q, q->n - 1);
        return 0;
}

Pending *queue_push(Queue *q, Signal *signal, uint64_t order) {
        Pending *p = mempool_alloc(&pending_pool);

        if (!p)
                return NULL;
        *p = (Pending) {
                .signal = signal_ref(signal),
                .order = order,
                .priority = signal->priority,
        };
        if (queue_push_pending(q, p) < 0) {
                pending_free(p);
                return NULL;
        }
        return p;
}

Pending *queue_peek(const Queue *q) {
        return q->n > 0 ? q->heap[0] : NULL;
}

void queue_release_idle(Queue *q) {
        if (q->n == 0 && q->heap) {
                heap_free(array_start(q), q->cap);
                q->heap = NULL;
                q->cap = q->front = 0;
        }
}

/* An emptied queue gives a pooled array back at once, so that an idle
 * receiver costs nothing; a larger one waits for queue_release_idle(), so
 * that a busy receiver that drains now and then does not grow its array
 * again through every size, with a realloc() and a copy each time. */
static void release_array_if_empty(Queue *q) {
        if (q->n > 0)
                return;
        move_to_start(q);
        q->unsorted = false;
        if (heap_pool(q->cap))
                queue_release_idle(q);
}

static Pending *remove_at(Queue *q, uint32_t i) {
        Pending *p = q->heap[i];
        Pending *last;

        if (i == 0 && !q->unsorted) {
                /* Sorted: the rest stays sorted behind it. */
                q->heap++;
                q->front++;
                q->n--;
        } else {
                if (!q->unsorted) {
                        make_heap(q);
                        i = p->index;
                }
                last = q->heap[--q->n];
                if (last != p) {
                        place(q, i, last);
                        if (i > 0 && before(last, q->heap[(i - 1) / 2]))
                                sift_up(q, i);
                        else
                                sift_down(q, i);
                }
        }
        account(q, p, false);
        release_array_if_empty(q);
        return p;
}

void queue_remove(Queue *q, Pending *p) {
        remove_at(q, p->index - q->front);
}

Pending *queue_pop(Queue *q) {
        return q->n > 0 ? remove_at(q, 0) : NULL;
}

Pending *queue_find_standard(const Queue *q, uint32_t signo) {
        if (signo == 0 || sb_signal_is_realtime(signo) || !(q->standard & (UINT32_C(1) << signo)))
                return NULL;
        /* At most one entry per standard signal; the bit says it is here. */
        for (uint32_t i = 0; i < q->n; i++)
                if (q->heap[i]->signal->signo == signo)
                        return q->heap[i];
        return NULL;
}

void queue_merge(Queue *q, Pending *p, uint8_t priority) {
        p->merged++;
        if (priority > p->priority) {
                p->priority = priority;
                make_heap(q);
                sift_up(q, p->index);
        }
}

Pending *queue_remove_oldest(Queue *q, uint32_t signo) {
        uint32_t oldest = UINT32_MAX;

        for (uint32_t i = 0; i < q->n; i++)
                if (q->heap[i]->signal->signo == signo &&
                    (oldest == UINT32_MAX || q->heap[i]->order < q->heap[oldest]->order))
                        oldest = i;
        return oldest == UINT32_MAX ? NULL : remove_at(q, oldest);
}

void pending_free(Pending *p) {
        if (!p)
                return;
        signal_unref(p->signal);
        mempool_free(&pending_pool, p);
}

void queue_clear(Queue *q, void (*release)(Pending *p, void *userdata), void *userdata) {
        Pending *p;

        while ((p = queue_pop(q))) {
                if (release)
                        release(p, userdata);
                pending_free(p);
        }
        queue_release_idle(q);
}
