/* The receiver's pending queue: delivery order, coalescing bookkeeping,
 * drop-oldest and re-insertion, on the data structure alone. */

#include <check.h>
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

int main(void) {
        Suite *s = suite_create("queue");
        TCase *tc = tcase_create("pending");
        SRunner *sr;
        int failed;

        tcase_add_test(tc, test_order_priority_signo_fifo);
        tcase_add_test(tc, test_many_random_keep_order);
        tcase_add_test(tc, test_standard_signal_lookup_and_merge);
        tcase_add_test(tc, test_remove_oldest_and_reinsert);
        tcase_add_test(tc, test_remove_from_middle);
        tcase_add_test(tc, test_signal_shared_by_receivers);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
