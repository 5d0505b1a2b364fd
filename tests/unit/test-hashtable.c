/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The intrusive hash table (daemon/shared/hashtable.c): lookups through
 * growth, several nodes under one key, removal while walking a key's chain
 * and while walking every bucket, removals that leave the table empty and
 * inserts after that, and the FNV-1a string hash against known values.
 */

#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hashtable.h"
#include "unit.h"
#include "util.h"

typedef struct Item {
        HashNode node;
        uint64_t key;
        unsigned slot;                  /* in the model of test_random_against_model */
        bool inserted;
        unsigned seen;
} Item;

static Item *item_of(HashNode *n) {
        return container_of(n, Item, node);
}

static size_t count_key(const HashTable *t, uint64_t key) {
        size_t n = 0;

        for (HashNode *node = hashtable_first(t, key); node; node = hashtable_next(node)) {
                ck_assert_uint_eq(node->key, key);
                n++;
        }
        return n;
}

/* Every node reachable from the buckets, counted, and each in the bucket
 * its key belongs to (the one hashtable_first() searches). */
static size_t count_all(const HashTable *t) {
        size_t n = 0;

        for (size_t b = 0; b < t->n_buckets; b++)
                for (HashNode *node = t->buckets[b]; node; node = node->next) {
                        HashNode *found = hashtable_first(t, node->key);
                        bool reachable = false;
                        for (; found; found = hashtable_next(found))
                                reachable |= found == node;
                        ck_assert_msg(reachable, "node with key %llu not found by its key",
                                      (unsigned long long) node->key);
                        n++;
                }
        return n;
}

START_TEST(test_empty) {
        HashTable t = HASHTABLE_INIT;
        Item a = { .key = 7 };

        ck_assert_ptr_null(hashtable_first(&t, 0));
        ck_assert_ptr_null(hashtable_first(&t, 7));
        /* Removing from a table that never had a bucket is harmless. */
        hashtable_remove(&t, &a.node);
        ck_assert_uint_eq(t.n_nodes, 0);
        hashtable_destroy(&t);
        ck_assert_ptr_null(t.buckets);
        ck_assert_uint_eq(t.n_buckets, 0);
}
END_TEST

START_TEST(test_growth) {
        enum { N = 5000 };
        HashTable t = HASHTABLE_INIT;
        Item *items = calloc(N, sizeof(*items));
        size_t last_buckets = 0;

        ck_assert_ptr_nonnull(items);
        for (size_t i = 0; i < N; i++) {
                items[i].key = i * 3;   /* dense keys, as pids and client ids are */
                ck_assert_int_eq(hashtable_insert(&t, &items[i].node, items[i].key), 0);
                ck_assert_uint_eq(t.n_nodes, i + 1);
                /* A power of two, at least the number of nodes, and never
                 * smaller than before. */
                ck_assert_uint_ge(t.n_buckets, 16);
                ck_assert_uint_eq(t.n_buckets & (t.n_buckets - 1), 0);
                ck_assert_uint_le(t.n_nodes, t.n_buckets);
                ck_assert_uint_ge(t.n_buckets, last_buckets);
                if (t.n_buckets != last_buckets) {
                        /* Just grown: everything moved to its new bucket. */
                        for (size_t j = 0; j <= i; j++)
                                ck_assert_ptr_eq(hashtable_first(&t, items[j].key), &items[j].node);
                        last_buckets = t.n_buckets;
                }
        }
        ck_assert_uint_eq(t.n_buckets, 8192);
        ck_assert_uint_eq(count_all(&t), N);
        for (size_t i = 0; i < N; i++) {
                ck_assert_ptr_eq(hashtable_first(&t, i * 3), &items[i].node);
                ck_assert_ptr_null(hashtable_first(&t, i * 3 + 1));
        }
        hashtable_destroy(&t);
        free(items);
}
END_TEST

START_TEST(test_extreme_keys) {
        HashTable t = HASHTABLE_INIT;
        Item a, b, c;

        ck_assert_int_eq(hashtable_insert(&t, &a.node, 0), 0);
        ck_assert_int_eq(hashtable_insert(&t, &b.node, UINT64_MAX), 0);
        ck_assert_int_eq(hashtable_insert(&t, &c.node, UINT64_C(1) << 63), 0);
        ck_assert_ptr_eq(hashtable_first(&t, 0), &a.node);
        ck_assert_ptr_eq(hashtable_first(&t, UINT64_MAX), &b.node);
        ck_assert_ptr_eq(hashtable_first(&t, UINT64_C(1) << 63), &c.node);
        ck_assert_ptr_null(hashtable_first(&t, 1));
        ck_assert_ptr_null(hashtable_first(&t, UINT64_MAX - 1));
        hashtable_destroy(&t);
}
END_TEST

START_TEST(test_duplicates) {
        enum { N = 40 };
        HashTable t = HASHTABLE_INIT;
        Item dup[N], other[N];

        /* Interleaved with other keys, so that chains mix keys. */
        for (size_t i = 0; i < N; i++) {
                ck_assert_int_eq(hashtable_insert(&t, &dup[i].node, 42), 0);
                ck_assert_int_eq(hashtable_insert(&t, &other[i].node, 1000 + i), 0);
        }
        ck_assert_uint_eq(count_key(&t, 42), N);

        /* Remove every other duplicate while walking the key's chain: take
         * the next one before removing the current. */
        {
                size_t i = 0, removed = 0;
                HashNode *next;
                for (HashNode *n = hashtable_first(&t, 42); n; n = next, i++) {
                        next = hashtable_next(n);
                        if (i % 2 == 0) {
                                hashtable_remove(&t, n);
                                ck_assert_ptr_null(n->next);
                                removed++;
                        }
                }
                ck_assert_uint_eq(i, N);
                ck_assert_uint_eq(removed, N / 2);
        }
        ck_assert_uint_eq(count_key(&t, 42), N / 2);
        ck_assert_uint_eq(t.n_nodes, N + N / 2);
        for (size_t i = 0; i < N; i++)
                ck_assert_ptr_eq(hashtable_first(&t, 1000 + i), &other[i].node);

        /* Removing a node twice, or one that is not in the table, changes
         * nothing. */
        hashtable_remove(&t, &other[0].node);
        hashtable_remove(&t, &other[0].node);
        ck_assert_uint_eq(t.n_nodes, N + N / 2 - 1);
        {
                Item stranger = { 0 };
                stranger.node.key = 42;
                hashtable_remove(&t, &stranger.node);
                ck_assert_uint_eq(t.n_nodes, N + N / 2 - 1);
                ck_assert_uint_eq(count_key(&t, 42), N / 2);
        }
        hashtable_destroy(&t);
}
END_TEST

/* Remove nodes while walking all buckets (as the state journal and the
 * queries walk the table), then refill: the table never shrinks, and
 * everything stays findable. */
START_TEST(test_remove_while_walking) {
        enum { N = 3000 };
        HashTable t = HASHTABLE_INIT;
        Item *items = calloc(N, sizeof(*items));
        size_t buckets, walked = 0;

        ck_assert_ptr_nonnull(items);
        for (size_t i = 0; i < N; i++) {
                items[i].key = i % 1000;        /* three nodes per key */
                ck_assert_int_eq(hashtable_insert(&t, &items[i].node, items[i].key), 0);
                items[i].inserted = true;
        }
        buckets = t.n_buckets;

        for (size_t b = 0; b < t.n_buckets; b++) {
                HashNode *next;
                for (HashNode *n = t.buckets[b]; n; n = next) {
                        Item *it = item_of(n);
                        next = n->next;
                        it->seen++;
                        walked++;
                        if (it->key % 3 != 0) {
                                hashtable_remove(&t, n);
                                it->inserted = false;
                        }
                }
        }
        ck_assert_uint_eq(walked, N);
        for (size_t i = 0; i < N; i++)
                ck_assert_uint_eq(items[i].seen, 1);
        ck_assert_uint_eq(t.n_nodes, 3 * 334);
        ck_assert_uint_eq(count_all(&t), t.n_nodes);
        ck_assert_uint_eq(t.n_buckets, buckets);
        for (uint64_t k = 0; k < 1000; k++)
                ck_assert_uint_eq(count_key(&t, k), k % 3 == 0 ? 3 : 0);

        /* Down to nothing, then up again. */
        for (size_t i = 0; i < N; i++)
                if (items[i].inserted) {
                        hashtable_remove(&t, &items[i].node);
                        items[i].inserted = false;
                }
        ck_assert_uint_eq(t.n_nodes, 0);
        ck_assert_uint_eq(count_all(&t), 0);
        for (uint64_t k = 0; k < 1000; k++)
                ck_assert_ptr_null(hashtable_first(&t, k));
        for (size_t i = 0; i < N; i++)
                ck_assert_int_eq(hashtable_insert(&t, &items[i].node, items[i].key + 5000), 0);
        ck_assert_uint_eq(t.n_buckets, buckets);
        ck_assert_uint_eq(count_all(&t), N);
        for (uint64_t k = 5000; k < 6000; k++)
                ck_assert_uint_eq(count_key(&t, k), 3);
        hashtable_destroy(&t);
        free(items);
}
END_TEST

/* Random inserts and removals against a count per key kept beside. */
START_TEST(test_random_against_model) {
        enum { N = 4000, KEYS = 257, STEPS = 60000 };
        HashTable t = HASHTABLE_INIT;
        Item *items = calloc(N, sizeof(*items));
        unsigned model[KEYS] = { 0 };
        size_t inserted = 0;
        uint64_t x = 0x2545f4914f6cdd1dULL;

        ck_assert_ptr_nonnull(items);
        for (size_t step = 0; step < STEPS; step++) {
                Item *it;
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                it = &items[x % N];
                if (it->inserted) {
                        hashtable_remove(&t, &it->node);
                        model[it->slot]--;
                        it->inserted = false;
                        inserted--;
                } else {
                        it->slot = (unsigned) ((x >> 20) % KEYS);
                        it->key = it->slot * UINT64_C(0x100000001);
                        ck_assert_int_eq(hashtable_insert(&t, &it->node, it->key), 0);
                        model[it->slot]++;
                        it->inserted = true;
                        inserted++;
                }
                ck_assert_uint_eq(t.n_nodes, inserted);
                if (step % 5000 == 0)
                        for (uint64_t k = 0; k < KEYS; k++)
                                ck_assert_uint_eq(count_key(&t, k * UINT64_C(0x100000001)), model[k]);
        }
        for (uint64_t k = 0; k < KEYS; k++)
                ck_assert_uint_eq(count_key(&t, k * UINT64_C(0x100000001)), model[k]);
        ck_assert_uint_eq(count_all(&t), inserted);
        hashtable_destroy(&t);
        free(items);
}
END_TEST

START_TEST(test_hash_string) {
        /* FNV-1a 64-bit reference values. */
        ck_assert_uint_eq(hash_string("", 0), UINT64_C(0xcbf29ce484222325));
        ck_assert_uint_eq(hash_string("a", 1), UINT64_C(0xaf63dc4c8601ec8c));
        ck_assert_uint_eq(hash_string("foobar", 6), UINT64_C(0x85944171f73967e8));
        /* The length counts, not a terminator: a prefix hashes differently,
         * and bytes past len do not count. */
        ck_assert_uint_eq(hash_string("foobarbaz", 6), UINT64_C(0x85944171f73967e8));
        ck_assert_uint_ne(hash_string("foo\0bar", 7), hash_string("foo", 3));
        /* Bytes are unsigned: 0xff is not sign-extended. */
        ck_assert_uint_eq(hash_string("\xff", 1), (UINT64_C(0xcbf29ce484222325) ^ 0xff) * UINT64_C(0x100000001b3));
}
END_TEST

int main(void) {
        Suite *s = suite_create("hashtable");
        TCase *tc = tcase_create("hashtable");

        tcase_add_test(tc, test_empty);
        tcase_add_test(tc, test_growth);
        tcase_add_test(tc, test_extreme_keys);
        tcase_add_test(tc, test_duplicates);
        tcase_add_test(tc, test_remove_while_walking);
        tcase_add_test(tc, test_random_against_model);
        tcase_add_test(tc, test_hash_string);
        /* Speed is not what is tested: room for sanitizers on a busy machine. */
        tcase_set_timeout(tc, 30);
        suite_add_tcase(s, tc);
        return unit_run(s);
}
