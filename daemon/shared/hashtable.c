/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>

#include "hashtable.h"

static size_t bucket_of(const HashTable *t, uint64_t key) {
        /* splitmix64's finalizer: pids and ids are dense, spread them. */
        key ^= key >> 30;
        key *= UINT64_C(0xbf58476d1ce4e5b9);
        key ^= key >> 27;
        key *= UINT64_C(0x94d049bb133111eb);
        key ^= key >> 31;
        return (size_t) key & (t->n_buckets - 1);
}

static int grow(HashTable *t) {
        size_t n = t->n_buckets ? t->n_buckets * 2 : 16;
        HashNode **old = t->buckets;
        size_t n_old = t->n_buckets;

        t->buckets = calloc(n, sizeof(*t->buckets));
        if (!t->buckets) {
                t->buckets = old;
                return -ENOMEM;
        }
        t->n_buckets = n;
        for (size_t i = 0; i < n_old; i++) {
                HashNode *next;
                for (HashNode *node = old[i]; node; node = next) {
                        size_t b = bucket_of(t, node->key);
                        next = node->next;
                        node->next = t->buckets[b];
                        t->buckets[b] = node;
                }
        }
        free(old);
        return 0;
}

int hashtable_insert(HashTable *t, HashNode *node, uint64_t key) {
        size_t b;

        if (t->n_nodes >= t->n_buckets) {
                int r = grow(t);
                if (r < 0 && t->n_buckets == 0)
                        return r;
                /* A failed grow past the first is harmless: chains get longer. */
        }
        node->key = key;
        b = bucket_of(t, key);
        node->next = t->buckets[b];
        t->buckets[b] = node;
        t->n_nodes++;
        return 0;
}

void hashtable_remove(HashTable *t, HashNode *node) {
        HashNode **p;

        if (t->n_buckets == 0)
                return;
        for (p = &t->buckets[bucket_of(t, node->key)]; *p; p = &(*p)->next)
                if (*p == node) {
                        *p = node->next;
                        node->next = NULL;
                        t->n_nodes--;
                        return;
                }
}

HashNode *hashtable_first(const HashTable *t, uint64_t key) {
        if (t->n_buckets == 0)
                return NULL;
        for (HashNode *node = t->buckets[bucket_of(t, key)]; node; node = node->next)
                if (node->key == key)
                        return node;
        return NULL;
}

HashNode *hashtable_next(const HashNode *node) {
        for (HashNode *n = node->next; n; n = n->next)
                if (n->key == node->key)
                        return n;
        return NULL;
}

void hashtable_destroy(HashTable *t) {
        free(t->buckets);
        *t = (HashTable) HASHTABLE_INIT;
}

uint64_t hash_string(const char *s, size_t len) {
        uint64_t h = UINT64_C(0xcbf29ce484222325);

        for (size_t i = 0; i < len; i++) {
                h ^= (unsigned char) s[i];
                h *= UINT64_C(0x100000001b3);
        }
        return h;
}
