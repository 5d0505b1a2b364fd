/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The receiver's pending queue: delivery order, coalescing bookkeeping,
 * drop-oldest and re-insertion, on the data structure alone; and the free
 * lists its objects come from. */

#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "queue.h"

static Pending *push(Queue *q, uint32_t signo, uint8_t prio, uint64_t order) {
        Signal *s = signal_new(signo, prio, &order, sizeof(order));
        Pending *p = queue_push(q, s, order);
        signal_unref(s);
        ck_assert_ptr_nonnull(p);
        return p;
}

static uint64_t pop_order(Queue *q) {
        Pending *p = queue_pop(q);
        uint64_t o;
        ck_assert_ptr_nonnull(p);
        o = p->order;
        pending_free(p);
        return o;
}

START_TEST(test_order_priority_signo_fifo) {
        Queue q = QUEUE_INIT;
        /* (signo, priority) in send order 1..8 */
        static const uint32_t in[][2] = { { 40, 0 }, { 35, 0 }, { 36, 5 }, { 35, 5 }, { 10, 0 }, { 35, 5 }, { 64, 99 }, { 34, 0 } };
        static const uint64_t want[] = { 7, 4, 6, 3, 5, 8, 2, 1 };

        for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
                push(&q, in[i][0], (uint8_t) in[i][1], i + 1);
        ck_assert_uint_eq(queue_length(&q), 8);
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
                ck_assert_uint_eq(pop_order(&q), want[i]);
        ck_assert_ptr_null(queue_pop(&q));
        ck_assert_ptr_null(q.heap);     /* an empty queue holds no memory */
        ck_assert_uint_eq(q.bytes, 0);
}
END_TEST

/* Mostly in-order pushes (the sorted fast path) mixed with pops, pushes out
 * of order, merges, drop-oldest and removal from the middle, each checked
 * against a plain list searched for the first entry in delivery order. */
static bool ref_before(const Pending *a, const Pending *b) {
        if (a->priority != b->priority)
                return a->priority > b->priority;
        if (a->signal->signo != b->signal->signo)
                return a->signal->signo < b->signal->signo;
        return a->order < b->order;
}

static size_t ref_first(Pending **ref, size_t n) {
        size_t best = 0;

        for (size_t i = 1; i < n; i++)
                if (ref_before(ref[i], ref[best]))
                        best = i;
        return best;
}

static void ref_take(Pending **ref, size_t *n, const Pending *p) {
        for (size_t i = 0; i < *n; i++)
                if (ref[i] == p) {
                        ref[i] = ref[--*n];
                        return;
                }
        ck_abort_msg("entry not in the reference");
}

START_TEST(test_sorted_runs_against_reference) {
        enum { MAX = 700 };
        Pending *ref[MAX];
        Queue q = QUEUE_INIT;
        uint64_t order = 0;
        size_t n = 0;

        srand(11);
        for (int step = 0; step < 60000; step++) {
                int op = rand() % 100;

                if (op < 50 && n < MAX) {               /* in order: same priority and signal */
                        ref[n++] = push(&q, 35, 0, ++order);
                } else if (op < 53 && n < MAX) {        /* out of order */
                        ref[n++] = push(&q, 33 + (uint32_t) (rand() % 5), (uint8_t) (rand() % 3), ++order);
                } else if (op < 90 && n > 0) {
                        Pending *want = ref[ref_first(ref, n)], *got = queue_pop(&q);
                        if (got != want)        /* not ck_assert: it writes to a pipe each time */
                                ck_abort_msg("step %d: popped order %llu, want %llu", step,
                                             got ? (unsigned long long) got->order : 0ULL,
                                             (unsigned long long) want->order);
                        ref_take(ref, &n, got);
                        pending_free(got);
                } else if (op < 93 && n > 0) {          /* a merge raises one */
                        Pending *p = ref[(size_t) rand() % n];
                        queue_merge(&q, p, (uint8_t) (p->priority + 1));
                } else if (op < 96 && n > 0) {
                        Pending *p = queue_remove_oldest(&q, 35);
                        if (p) {
                                ref_take(ref, &n, p);
                                pending_free(p);
                        }
                } else if (n > 0) {
                        Pending *p = ref[(size_t) rand() % n];
                        queue_remove(&q, p);
                        ref_take(ref, &n, p);
                        pending_free(p);
                }
                if (queue_length(&q) != n)
                        ck_abort_msg("step %d: %u entries, want %zu", step, queue_length(&q), n);
                for (uint32_t i = 0; i < q.n; i++)      /* what the restart journal reads */
                        if (q.heap[i]->index != q.front + i)
                                ck_abort_msg("step %d: entry %u has index %u", step, i, q.heap[i]->index);
        }
        queue_clear(&q, NULL, NULL);
        queue_release_idle(&q);
        ck_assert_ptr_null(q.heap);
}
END_TEST

START_TEST(test_many_random_keep_order) {
        Queue q = QUEUE_INIT;
        uint32_t last_prio = 1000, last_signo = 0;
        uint64_t last_order = 0;

        srand(7);
        for (uint64_t i = 1; i <= 5000; i++)
                push(&q, 32 + (uint32_t) (rand() % 33), (uint8_t) (rand() % 100), i);
        for (int i = 0; i < 5000; i++) {
                Pending *p = queue_pop(&q);
                uint32_t prio = p->priority, signo = p->signal->signo;
                if (prio == last_prio && signo == last_signo)
                        ck_assert_uint_gt(p->order, last_order);
                else if (prio == last_prio)
                        ck_assert_uint_gt(signo, last_signo);
                else
                        ck_assert_uint_lt(prio, last_prio);
                last_prio = prio;
                last_signo = signo;
                last_order = p->order;
                pending_free(p);
        }
        queue_release_idle(&q);         /* a large array waits for it */
        ck_assert_ptr_null(q.heap);
}
END_TEST

START_TEST(test_standard_signal_lookup_and_merge) {
        Queue q = QUEUE_INIT;
        Pending *usr1, *p;

        push(&q, 35, 10, 1);
        usr1 = push(&q, 10, 0, 2);
        ck_assert_ptr_eq(queue_find_standard(&q, 10), usr1);
        ck_assert_ptr_null(queue_find_standard(&q, 12));
        ck_assert_ptr_null(queue_find_standard(&q, 35));        /* real-time: never merged */

        queue_merge(&q, usr1, 0);
        queue_merge(&q, usr1, 50);                              /* a higher priority moves it up */
        ck_assert_uint_eq(usr1->merged, 2);
        ck_assert_uint_eq(usr1->priority, 50);
        p = queue_pop(&q);
        ck_assert_ptr_eq(p, usr1);
        pending_free(p);
        ck_assert_ptr_null(queue_find_standard(&q, 10));        /* gone once taken */
        pending_free(queue_pop(&q));
}
END_TEST

START_TEST(test_remove_oldest_and_reinsert) {
        Queue q = QUEUE_INIT;
        Pending *p;
        uint64_t bytes;

        for (uint64_t i = 1; i <= 6; i++)
                push(&q, i % 2 ? 40 : 41, 0, i);
        bytes = q.bytes;
        p = queue_remove_oldest(&q, 41);
        ck_assert_uint_eq(p->order, 2);
        ck_assert_uint_eq(q.bytes, bytes - pending_cost(p->signal));
        ck_assert_int_eq(queue_push_pending(&q, p), 0);         /* back where it belongs */
        ck_assert_uint_eq(q.bytes, bytes);
        ck_assert_ptr_null(queue_remove_oldest(&q, 42));
        for (uint64_t i = 1; i <= 6; i += 2)
                ck_assert_uint_eq(pop_order(&q), i);            /* 40 before 41 */
        for (uint64_t i = 2; i <= 6; i += 2)
                ck_assert_uint_eq(pop_order(&q), i);
}
END_TEST

START_TEST(test_remove_from_middle) {
        Queue q = QUEUE_INIT;
        Pending *ps[20];

        for (uint64_t i = 0; i < 20; i++)
                ps[i] = push(&q, 50, (uint8_t) (i * 7 % 13), i + 1);
        for (int i = 0; i < 20; i += 3) {
                queue_remove(&q, ps[i]);
                pending_free(ps[i]);
        }
        for (uint32_t last = 100; queue_length(&q) > 0;) {
                Pending *p = queue_pop(&q);
                ck_assert_uint_le(p->priority, last);
                last = p->priority;
                ck_assert_uint_ne((p->order - 1) % 3, 0);
                pending_free(p);
        }
}
END_TEST

START_TEST(test_signal_shared_by_receivers) {
        Queue a = QUEUE_INIT, b = QUEUE_INIT;
        Signal *s = signal_new(35, 1, "payload", 7);

        ck_assert_ptr_nonnull(queue_push(&a, s, 1));
        ck_assert_ptr_nonnull(queue_push(&b, s, 2));
        ck_assert_uint_eq(s->n_ref, 3);
        ck_assert_uint_eq(a.bytes, 7 + PENDING_OVERHEAD);
        signal_unref(s);
        queue_clear(&a, NULL, NULL);
        ck_assert_uint_eq(s->n_ref, 1);
        ck_assert_mem_eq(queue_peek(&b)->signal->payload, "payload", 7);
        queue_clear(&b, NULL, NULL);
}
END_TEST

/* ---- free lists ---- */

static uint32_t n_free(const MemPool *pool) {
        ck_assert_ptr_nonnull(pool);
        return pool->n_free;
}

START_TEST(test_pool_reuses_freed_objects) {
        Queue q = QUEUE_INIT;
        Pending *p, *again;
        Signal *s, *t;

        queue_pools_trim();
        p = push(&q, 35, 0, 1);
        s = p->signal;
        ck_assert_ptr_eq(queue_pop(&q), p);
        pending_free(p);                                        /* the Pending, its Signal, the array */
        ck_assert_uint_eq(n_free(queue_pool_of_pending()), 1);
        ck_assert_uint_eq(n_free(queue_pool_of_signal(sizeof(uint64_t))), 1);
        ck_assert_uint_eq(n_free(queue_pool_of_heap(8)), 1);

        again = push(&q, 35, 0, 2);                             /* payload 8: the same class as 20 below */
        ck_assert_ptr_eq(again, p);
        ck_assert_ptr_eq(again->signal, s);
        ck_assert_uint_eq(n_free(queue_pool_of_pending()), 0);
        ck_assert_uint_eq(n_free(queue_pool_of_signal(sizeof(uint64_t))), 0);
        ck_assert_uint_eq(n_free(queue_pool_of_heap(8)), 0);
        queue_clear(&q, NULL, NULL);

        t = signal_new(36, 0, "twenty bytes of data", 20);
        ck_assert_ptr_eq(t, s);                                 /* freed by queue_clear() */
        ck_assert_mem_eq(t->payload, "twenty bytes of data", 20);
        ck_assert_uint_eq(t->n_ref, 1);
        signal_unref(t);
}
END_TEST

START_TEST(test_pool_keeps_at_most_its_bound) {
        const MemPool *pending_pool = queue_pool_of_pending(), *signal_pool = queue_pool_of_signal(0);
        Signal *shared = signal_new(40, 0, NULL, 0);
        uint32_t n = pending_pool->max_free + 100;
        Signal **signals = calloc(n, sizeof(*signals));
        Queue q = QUEUE_INIT;

        ck_assert_uint_le((uint64_t) pending_pool->max_free * pending_pool->size, PENDING_POOL_MAX_BYTES);
        ck_assert_uint_le((uint64_t) signal_pool->max_free * signal_pool->size, MEMPOOL_MAX_FREE_BYTES);
        ck_assert_uint_ge(pending_pool->max_free, 1024);       /* a few packets' worth */
        queue_pools_trim();
        for (uint64_t i = 1; i <= n; i++)
                ck_assert_ptr_nonnull(queue_push(&q, shared, i));
        signal_unref(shared);
        queue_clear(&q, NULL, NULL);
        ck_assert_uint_eq(n_free(pending_pool), pending_pool->max_free);

        for (uint32_t i = 0; i < n; i++)
                signals[i] = signal_new(41, 0, NULL, 0);
        for (uint32_t i = 0; i < n; i++)
                signal_unref(signals[i]);
        ck_assert_uint_eq(n_free(signal_pool), signal_pool->max_free);
        free(signals);

        queue_pools_trim();
        ck_assert_uint_eq(n_free(pending_pool), 0);
        ck_assert_uint_eq(n_free(signal_pool), 0);
}
END_TEST

START_TEST(test_pool_signal_size_classes) {
        /* Each class boundary of the 32-byte grain, and beyond the last. */
        static const uint32_t lens[] = { 0, 1, 31, 32, 33, 63, 64, 65, 128, 129, 224, 225, 255, 256, 257, 1024, 4096 };
        uint8_t payload[4096];

        for (size_t i = 0; i < sizeof(payload); i++)
                payload[i] = (uint8_t) (i * 7 + 1);
        for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
                const MemPool *pool = queue_pool_of_signal(lens[i]);
                Signal *s;

                queue_pools_trim();
                if (lens[i] > 256) {
                        ck_assert_ptr_null(pool);                       /* larger: plain malloc() */
                        s = signal_new(35, 0, payload, lens[i]);
                        ck_assert_mem_eq(s->payload, payload, lens[i]);
                        signal_unref(s);
                        continue;
                }
                /* The smallest class that holds it: the payload fits, one grain less would not. */
                ck_assert_uint_ge(pool->size, sizeof(Signal) + lens[i]);
                ck_assert_uint_lt(pool->size, sizeof(Signal) + lens[i] + 32);
                ck_assert_ptr_eq(pool, queue_pool_of_signal((lens[i] + 31) / 32 * 32));
                if (lens[i] % 32 == 1)
                        ck_assert_ptr_ne(queue_pool_of_signal(lens[i] - 1), pool);     /* past a boundary */
                s = signal_new(35, 0, payload, lens[i]);                /* under ASan: fits its object */
                ck_assert_mem_eq(s->payload, payload, lens[i]);
                signal_unref(s);
                ck_assert_uint_eq(n_free(pool), 1);
        }
}
END_TEST

/* glibc's chunk for malloc(n) on 64-bit: n plus its 8-byte header, in 16s. */
static size_t malloc_chunk(size_t n) {
        size_t c = (n + 8 + 15) & ~(size_t) 15;
        return c < 32 ? 32 : c;
}

START_TEST(test_pending_overhead_covers_memory) {
        /* One Pending's own memory: its object, its heap slot (twice, just
         * after the array doubled) and a whole Signal, never more than what
         * is charged for it (the comment at PENDING_OVERHEAD). */
        for (uint32_t len = 0; len <= 4096; len++) {
                const MemPool *pool = queue_pool_of_signal(len);
                size_t signal = pool ? pool->size : sizeof(Signal) + len;
                size_t used = malloc_chunk(sizeof(Pending)) + 2 * sizeof(Pending *) + malloc_chunk(signal);

                ck_assert_msg(used <= pending_cost(&(Signal) { .payload_len = len }),
                              "payload %u: %zu bytes used, charged less", len, used);
        }
}
END_TEST

START_TEST(test_pool_heap_arrays_released_when_empty) {
        Queue q = QUEUE_INIT;

        queue_pools_trim();
        push(&q, 35, 0, 1);
        ck_assert_ptr_nonnull(q.heap);
        pending_free(queue_pop(&q));
        ck_assert_ptr_null(q.heap);                             /* empty: the array is given up... */
        ck_assert_uint_eq(q.cap, 0);
        ck_assert_uint_eq(n_free(queue_pool_of_heap(8)), 1);    /* ...to its free list */

        for (uint64_t i = 1; i <= 40; i++)                      /* 8, 16, 32, then 64 from malloc() */
                push(&q, 35, 0, i);
        ck_assert_uint_eq(q.cap, 64);
        ck_assert_ptr_null(queue_pool_of_heap(64));
        ck_assert_uint_eq(n_free(queue_pool_of_heap(8)), 1);
        ck_assert_uint_eq(n_free(queue_pool_of_heap(16)), 1);
        ck_assert_uint_eq(n_free(queue_pool_of_heap(32)), 1);
        for (uint64_t i = 1; i <= 40; i++)
                ck_assert_uint_eq(pop_order(&q), i);            /* nothing lost in the moves */
        ck_assert_ptr_nonnull(q.heap);                          /* a large array waits for the tick */
        ck_assert_uint_eq(q.cap, 64);
        push(&q, 35, 0, 41);                                    /* ...and is used again meanwhile */
        ck_assert_uint_eq(q.cap, 64);
        ck_assert_uint_eq(pop_order(&q), 41);
        queue_release_idle(&q);
        ck_assert_ptr_null(q.heap);
        ck_assert_uint_eq(q.cap, 0);

        queue_pools_trim();
        ck_assert_uint_eq(n_free(queue_pool_of_heap(8)), 0);
        ck_assert_uint_eq(n_free(queue_pool_of_heap(16)), 0);
        ck_assert_uint_eq(n_free(queue_pool_of_heap(32)), 0);
        ck_assert_uint_eq(n_free(queue_pool_of_pending()), 0);
        ck_assert_uint_eq(n_free(queue_pool_of_signal(sizeof(uint64_t))), 0);
}
END_TEST

int main(void) {
        Suite *s = suite_create("queue");
        TCase *tc = tcase_create("pending");
        SRunner *sr;
        int failed;

        tcase_add_test(tc, test_order_priority_signo_fifo);
        tcase_add_test(tc, test_many_random_keep_order);
        tcase_add_test(tc, test_sorted_runs_against_reference);
        tcase_add_test(tc, test_standard_signal_lookup_and_merge);
        tcase_add_test(tc, test_remove_oldest_and_reinsert);
        tcase_add_test(tc, test_remove_from_middle);
        tcase_add_test(tc, test_signal_shared_by_receivers);
        suite_add_tcase(s, tc);
        tc = tcase_create("pools");
        tcase_add_test(tc, test_pool_reuses_freed_objects);
        tcase_add_test(tc, test_pool_keeps_at_most_its_bound);
        tcase_add_test(tc, test_pool_signal_size_classes);
        tcase_add_test(tc, test_pending_overhead_covers_memory);
        tcase_add_test(tc, test_pool_heap_arrays_released_when_empty);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
