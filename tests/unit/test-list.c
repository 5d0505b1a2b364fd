/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The intrusive list (daemon/shared/list.h): order, the self-pointing
 * unlinked node (unlinking twice is harmless), removal of the current
 * entry while iterating, and nested iteration.
 */

#include <check.h>
#include <stdlib.h>

#include "list.h"
#include "unit.h"

typedef struct Entry {
        List link;
        List other;             /* in a second list at the same time */
        int value;
} Entry;

/* The values in head's order, checked against the backward links too. */
static size_t collect(List *head, int *out, size_t max) {
        size_t n = 0, back = 0;
        Entry *e;

        list_for_each_entry(e, head, link) {
                ck_assert_uint_lt(n, max);
                out[n++] = e->value;
        }
        for (List *l = head->prev; l != head; l = l->prev) {
                ck_assert_uint_lt(back, n);
                ck_assert_int_eq(list_entry(l, Entry, link)->value, out[n - 1 - back]);
                back++;
        }
        ck_assert_uint_eq(back, n);
        return n;
}

START_TEST(test_empty_and_unlinked) {
        List head = LIST_INIT(head);
        Entry e = { .value = 1 };
        size_t n = 0;
        Entry *it;

        ck_assert(list_is_empty(&head));
        list_for_each_entry(it, &head, link)
                n++;
        ck_assert_uint_eq(n, 0);

        list_init(&e.link);
        ck_assert(!list_is_linked(&e.link));
        list_link_tail(&head, &e.link);
        ck_assert(list_is_linked(&e.link));
        ck_assert(!list_is_empty(&head));
        list_unlink(&e.link);
        ck_assert(!list_is_linked(&e.link));
        ck_assert(list_is_empty(&head));
        /* Twice: still harmless, the head untouched. */
        list_unlink(&e.link);
        ck_assert(list_is_empty(&head));
        ck_assert_ptr_eq(head.next, &head);
        ck_assert_ptr_eq(head.prev, &head);
}
END_TEST

START_TEST(test_order_and_unlink_middle) {
        List head = LIST_INIT(head);
        Entry e[5];
        int got[8];

        for (int i = 0; i < 5; i++) {
                e[i].value = i;
                list_link_tail(&head, &e[i].link);
        }
        ck_assert_uint_eq(collect(&head, got, 8), 5);
        for (int i = 0; i < 5; i++)
                ck_assert_int_eq(got[i], i);

        list_unlink(&e[2].link);
        list_unlink(&e[0].link);
        list_unlink(&e[4].link);
        ck_assert_uint_eq(collect(&head, got, 8), 2);
        ck_assert_int_eq(got[0], 1);
        ck_assert_int_eq(got[1], 3);
        /* Re-linked at the tail. */
        list_link_tail(&head, &e[0].link);
        ck_assert_uint_eq(collect(&head, got, 8), 3);
        ck_assert_int_eq(got[2], 0);
}
END_TEST

START_TEST(test_unlink_current_while_iterating) {
        List head = LIST_INIT(head), moved = LIST_INIT(moved);
        Entry e[10], *it;
        int got[10];
        size_t visited = 0;

        for (int i = 0; i < 10; i++) {
                e[i].value = i;
                list_link_tail(&head, &e[i].link);
        }
        /* Unlink odd entries, move them to another list: the walk goes on
         * with the entry after the one unlinked. */
        list_for_each_entry(it, &head, link) {
                visited++;
                if (it->value % 2) {
                        list_unlink(&it->link);
                        list_link_tail(&moved, &it->link);
                }
        }
        ck_assert_uint_eq(visited, 10);
        ck_assert_uint_eq(collect(&head, got, 10), 5);
        for (int i = 0; i < 5; i++)
                ck_assert_int_eq(got[i], 2 * i);
        ck_assert_uint_eq(collect(&moved, got, 10), 5);
        for (int i = 0; i < 5; i++)
                ck_assert_int_eq(got[i], 2 * i + 1);

        /* Unlink everything as we go. */
        list_for_each_entry(it, &head, link)
                list_unlink(&it->link);
        ck_assert(list_is_empty(&head));
}
END_TEST

START_TEST(test_nested_and_two_lists) {
        List a = LIST_INIT(a), b = LIST_INIT(b);
        Entry e[4], *x, *y;
        int pairs = 0, sum = 0;

        for (int i = 0; i < 4; i++) {
                e[i].value = i + 1;
                list_link_tail(&a, &e[i].link);
                list_init(&e[i].other);
        }
        list_link_tail(&b, &e[3].other);
        list_link_tail(&b, &e[1].other);

        list_for_each_entry(x, &a, link)
                list_for_each_entry(y, &a, link) {
                        pairs++;
                        sum += x->value * y->value;
                }
        ck_assert_int_eq(pairs, 16);
        ck_assert_int_eq(sum, 10 * 10);

        /* One entry in two lists: unlinking from one leaves the other. */
        sum = 0;
        list_for_each_entry(x, &b, other)
                sum = sum * 10 + x->value;
        ck_assert_int_eq(sum, 42);
        list_unlink(&e[3].link);
        ck_assert(list_is_linked(&e[3].other));
        ck_assert_ptr_eq(b.next, &e[3].other);
}
END_TEST

int main(void) {
        Suite *s = suite_create("list");
        TCase *tc = tcase_create("list");

        tcase_add_test(tc, test_empty_and_unlinked);
        tcase_add_test(tc, test_order_and_unlink_middle);
        tcase_add_test(tc, test_unlink_current_while_iterating);
        tcase_add_test(tc, test_nested_and_two_lists);
        suite_add_tcase(s, tc);
        return unit_run(s);
}
