/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The bounded free list (daemon/shared/mempool.c): a freed object is the
 * next one handed out, the pool keeps at most max_free objects whatever
 * is freed into it, trimming gives everything back, and (under
 * AddressSanitizer) a kept object is poisoned but for its link.
 */

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mempool.h"
#include "unit.h"

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#endif

static size_t chain_length(const MemPool *p) {
        size_t n = 0;

        for (void *o = p->free; o; o = *(void **) o)
                n++;
        return n;
}

START_TEST(test_init) {
        MemPool a = MEMPOOL_INIT(64), b = MEMPOOL_INIT_MAX(48, 1000), c = MEMPOOL_INIT_MAX(4096, 100);

        ck_assert_uint_eq(a.size, 64);
        ck_assert_uint_eq(a.max_free, MEMPOOL_MAX_FREE_BYTES / 64);
        ck_assert_uint_eq(a.n_free, 0);
        ck_assert_ptr_null(a.free);
        /* Whole objects only: 1000 / 48 = 20. */
        ck_assert_uint_eq(b.max_free, 20);
        /* A bound under one object keeps none. */
        ck_assert_uint_eq(c.max_free, 0);
}
END_TEST

START_TEST(test_reuse_last_freed_first) {
        MemPool p = MEMPOOL_INIT(32);
        void *a = mempool_alloc(&p), *b = mempool_alloc(&p), *c = mempool_alloc(&p);

        ck_assert_ptr_nonnull(a);
        ck_assert_ptr_nonnull(b);
        ck_assert_ptr_nonnull(c);
        memset(a, 0xa5, 32);
        memset(b, 0xa5, 32);
        mempool_free(&p, a);
        mempool_free(&p, b);
        ck_assert_uint_eq(p.n_free, 2);
        ck_assert_ptr_eq(mempool_alloc(&p), b);
        ck_assert_ptr_eq(mempool_alloc(&p), a);
        ck_assert_uint_eq(p.n_free, 0);
        ck_assert_ptr_null(p.free);
        /* Empty again: a new object from malloc, not one in use. */
        {
                void *d = mempool_alloc(&p);
                ck_assert_ptr_nonnull(d);
                ck_assert_ptr_ne(d, a);
                ck_assert_ptr_ne(d, b);
                ck_assert_ptr_ne(d, c);
                mempool_free(&p, d);
        }
        mempool_free(&p, NULL);
        ck_assert_uint_eq(p.n_free, 1);
        mempool_free(&p, a);
        mempool_free(&p, b);
        mempool_free(&p, c);
        ck_assert_uint_eq(p.n_free, 4);
        mempool_trim(&p);
        ck_assert_uint_eq(p.n_free, 0);
        ck_assert_ptr_null(p.free);
}
END_TEST

START_TEST(test_bound) {
        enum { N = 100 };
        MemPool p = MEMPOOL_INIT_MAX(sizeof(void *) * 4, sizeof(void *) * 4 * 10);
        void *objs[N];

        ck_assert_uint_eq(p.max_free, 10);
        for (size_t i = 0; i < N; i++) {
                objs[i] = mempool_alloc(&p);
                ck_assert_ptr_nonnull(objs[i]);
        }
        /* Freeing 100 keeps 10: the first ten freed; the others go back to
         * malloc (LeakSanitizer would see them if they were lost). */
        for (size_t i = 0; i < N; i++) {
                mempool_free(&p, objs[i]);
                ck_assert_uint_eq(p.n_free, i < 10 ? i + 1 : 10);
        }
        ck_assert_uint_eq(chain_length(&p), 10);
        for (size_t i = 0; i < 10; i++)
                ck_assert_ptr_eq(mempool_alloc(&p), objs[9 - i]);
        ck_assert_uint_eq(p.n_free, 0);
        for (size_t i = 0; i < 10; i++)
                mempool_free(&p, objs[i]);
        mempool_trim(&p);
        ck_assert_uint_eq(p.n_free, 0);
}
END_TEST

START_TEST(test_keeps_none) {
        MemPool p = MEMPOOL_INIT_MAX(128, 64);
        void *o = mempool_alloc(&p);

        ck_assert_ptr_nonnull(o);
        mempool_free(&p, o);
        ck_assert_uint_eq(p.n_free, 0);
        ck_assert_ptr_null(p.free);
}
END_TEST

/* The smallest object: exactly the link. */
START_TEST(test_pointer_sized) {
        MemPool p = MEMPOOL_INIT(sizeof(void *));
        void *a = mempool_alloc(&p), *b = mempool_alloc(&p);

        mempool_free(&p, a);
        mempool_free(&p, b);
        ck_assert_uint_eq(chain_length(&p), 2);
        ck_assert_ptr_eq(mempool_alloc(&p), b);
        mempool_free(&p, b);
        mempool_trim(&p);
        ck_assert_uint_eq(p.n_free, 0);
}
END_TEST

#ifdef __SANITIZE_ADDRESS__
START_TEST(test_kept_objects_poisoned) {
        MemPool p = MEMPOOL_INIT(64);
        char *o = mempool_alloc(&p);

        ck_assert(!__asan_region_is_poisoned(o, 64));
        mempool_free(&p, o);
        /* The link stays usable (the pool reads it), the rest is poisoned. */
        ck_assert(!__asan_address_is_poisoned(o));
        for (size_t i = sizeof(void *); i < 64; i++)
                ck_assert(__asan_address_is_poisoned(o + i));
        ck_assert_ptr_eq(mempool_alloc(&p), o);
        ck_assert(!__asan_region_is_poisoned(o, 64));
        mempool_free(&p, o);
        mempool_trim(&p);
}
END_TEST
#endif

int main(void) {
        Suite *s = suite_create("mempool");
        TCase *tc = tcase_create("mempool");

        tcase_add_test(tc, test_init);
        tcase_add_test(tc, test_reuse_last_freed_first);
        tcase_add_test(tc, test_bound);
        tcase_add_test(tc, test_keeps_none);
        tcase_add_test(tc, test_pointer_sized);
#ifdef __SANITIZE_ADDRESS__
        tcase_add_test(tc, test_kept_objects_poisoned);
#endif
        suite_add_tcase(s, tc);
        return unit_run(s);
}
