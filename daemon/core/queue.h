/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A receiver's pending signals, in delivery order: higher priority first,
 * then the lower signal number (the POSIX rule for real-time signals), then
 * send order. A binary heap of Pending entries; each entry points to the
 * Signal it stands for, which is shared by every receiver of one send and
 * holds the payload once.
 *
 * Limits are not this module's business: the broker checks them before it
 * pushes. The heap array is allocated on the first push and freed when the
 * queue empties (a large one by queue_release_idle(), later), so an idle
 * receiver costs nothing here.
 *
 * Signals, Pendings and the small heap arrays come from bounded free lists
 * (mempool.h) rather than from malloc() each time: routing a signal then
 * allocates nothing once the lists are warm.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mempool.h"

typedef struct User User;

/* Laid out without holes: its size counts in PENDING_OVERHEAD. */
typedef struct Signal {
        unsigned n_ref;
        uint32_t signo;
        uint64_t id;                    /* broker-wide, for the restart journal */
        uint64_t journal_generation;    /* the journal that has its record */
        uint32_t sender_pid, sender_uid, sender_gid;
        uint32_t payload_len;
        uint64_t sender_client_id;
        uint64_t realtime_ns, monotonic_ns;
        User *charged;                  /* the sender's uid, charged for every Pending */
        uint8_t *head;                  /* its DELIVER up to the payload, once a second receiver needs it */
        uint8_t priority;
        uint8_t payload[];
} Signal;

typedef struct Pending {
        Signal *signal;
        uint64_t order;                 /* send order, broker-wide */
        uint32_t merged;                /* sends coalesced into this one */
        uint32_t index;                 /* position in the heap */
        uint8_t priority;               /* may be raised by a merge */
} Pending;

/* What one Pending costs against the byte limits: its payload plus a fixed
 * share that covers, with malloc's own overhead, the Pending, its heap slot
 * and a whole Signal (shared Signals are counted once per receiver, so the
 * charge is never less than the memory used). On x86-64: the Pending is 32
 * bytes (48 with malloc's header), its heap slot 8 (16 at most when the
 * array has just doubled), and the Signal 88 plus its payload rounded up
 * to the pool's 32-byte grain (SIGNAL_GRAIN in queue.c), at most 128 +
 * payload_len with malloc's header: 192 + payload_len in all. That grain is
 * why the pooled Signal classes are so fine: a coarser one would waste more
 * than is charged. The smallest heap array (8 slots) is per non-empty
 * queue, not per Pending, and part of a connection's own cost. */
#define PENDING_OVERHEAD 192u

/* Freed Pendings kept for reuse, at most. A broadcast makes one Pending per
 * receiver: at fan-out 100 a sender a few thousand signals ahead has
 * hundreds of thousands in flight, and a pool of 128 KiB sent most of them
 * back through malloc(). */
#define PENDING_POOL_MAX_BYTES (1024u * 1024)
static inline uint64_t pending_cost(const Signal *s) { return (uint64_t) s->payload_len + PENDING_OVERHEAD; }

/* The entries are heap[0..n), in an array of cap that starts front slots
 * before heap. While every push has come in delivery order (the common
 * case: one priority, one signal number) the entries are sorted, and a pop
 * only moves heap on by one (front counts how far); the first push out of
 * order moves them back to the start and the array is used as a binary
 * heap, which a sorted array already is, until the queue empties again.
 * Pending.index counts from the start of the array. */
typedef struct Queue {
        Pending **heap;
        uint32_t n, cap;
        uint32_t front;
        uint32_t standard;              /* bit signo set: a standard signal is pending */
        uint64_t bytes;                 /* sum of pending_cost() */
        bool unsorted;                  /* used as a heap since a push out of order */
} Queue;

#define QUEUE_INIT { NULL, 0, 0, 0, 0, 0, false }

Signal *signal_new(uint32_t signo, uint8_t priority, const void *payload, uint32_t payload_len);
Signal *signal_ref(Signal *s);
Signal *signal_unref(Signal *s);
/* Room for s->head (SB_DELIVER_HEAD_SIZE bytes, freed with the Signal), for
 * a Signal that several receivers share: encoded once, patched for each.
 * Returns s->head, or NULL on ENOMEM. */
uint8_t *signal_head_alloc(Signal *s);

/* Takes a reference to signal. Returns the entry, or NULL on ENOMEM. */
Pending *queue_push(Queue *q, Signal *signal, uint64_t order);
/* Re-insert an entry taken with queue_pop(). -ENOMEM leaves it out. */
int queue_push_pending(Queue *q, Pending *p);
Pending *queue_peek(const Queue *q);
Pending *queue_pop(Queue *q);
/* The pending entry of standard signal signo, for coalescing. */
Pending *queue_find_standard(const Queue *q, uint32_t signo);
/* Merge one more send into p; a higher priority moves it up. */
void queue_merge(Queue *q, Pending *p, uint8_t priority);
/* Remove and return the oldest entry of signal signo (drop-oldest). */
Pending *queue_remove_oldest(Queue *q, uint32_t signo);
/* Remove an entry from anywhere in the queue. */
void queue_remove(Queue *q, Pending *p);
/* Free an entry that is out of the queue; drops its signal reference. */
void pending_free(Pending *p);
/* Pop and free every entry (release() first, if given), and the array. */
void queue_clear(Queue *q, void (*release)(Pending *p, void *userdata), void *userdata);
/* Free the array of an empty queue, as the broker does on its tick. */
void queue_release_idle(Queue *q);
static inline uint32_t queue_length(const Queue *q) { return q->n; }

/* The free lists behind signal_new(), queue_push() and the heap arrays, one
 * set per process; NULL: objects of that size come from malloc(). Exposed
 * for the tests. */
const MemPool *queue_pool_of_pending(void);
const MemPool *queue_pool_of_signal(uint32_t payload_len);
const MemPool *queue_pool_of_heap(uint32_t cap);
/* Give all kept objects back to malloc(), after a burst has drained. */
void queue_pools_trim(void);
