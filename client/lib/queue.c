/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The local queue: deliveries and gap records read from the socket but not
 * yet consumed, in the order the daemon sent them. Entries are taken from
 * anywhere in it (a blocked or handler-less signal stays while later ones
 * go), hence a list. Small entries are recycled, as many as the queue ever
 * held at once (which the window bounds): a busy receiver then allocates
 * nothing per signal, and the heap does not grow and shrink with each
 * packet.
 */

#include <string.h>

#include "internal.h"

#define ENTRY_SMALL 256         /* payload bytes every entry can hold */
#define CACHE_MAX 4096          /* small entries kept for reuse, at most */

Entry *sb_queue_push(Queue *q, size_t payload_len) {
        Entry *e;

        if (payload_len <= ENTRY_SMALL && q->cache) {
                e = q->cache;
                q->cache = e->next;
                q->n_cache--;
        } else {
                size_t capacity = payload_len > ENTRY_SMALL ? payload_len : ENTRY_SMALL;

                e = malloc(sizeof(Entry) + capacity);
                if (!e)
                        return NULL;
                e->capacity = capacity;
        }

        e->info = (sigbroker_info) { .payload = e->data };
        e->acked = false;
        e->next = NULL;
        e->prev = q->tail;
        if (q->tail)
                q->tail->next = e;
        else
                q->head = e;
        q->tail = e;
        q->n++;
        q->n_unacked++;
        if (q->n > q->n_peak)
                q->n_peak = q->n;
        return e;
}

void sb_queue_unlink(Queue *q, Entry *e) {
        assert(q->n > 0);

        if (e->prev)
                e->prev->next = e->next;
        else
                q->head = e->next;
        if (e->next)
                e->next->prev = e->prev;
        else
                q->tail = e->prev;
        e->prev = e->next = NULL;
        q->n--;
        if (!e->acked)
                q->n_unacked--;
        q->generation++;
}

/* Free an entry that is no longer in the queue. */
void sb_queue_release(Queue *q, Entry *e) {
        if (!e)
                return;
        if (e->capacity == ENTRY_SMALL && q->n_cache < q->n_peak && q->n_cache < CACHE_MAX) {
                e->next = q->cache;
                q->cache = e;
                q->n_cache++;
                return;
        }
        free(e);
}

void sb_queue_done(Queue *q) {
        Entry *e;

        while ((e = q->head)) {
                q->head = e->next;
                free(e);
        }
        while ((e = q->cache)) {
                q->cache = e->next;
                free(e);
        }
        *q = (Queue) {};
}
