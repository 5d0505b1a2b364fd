/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Intrusive chained hash table keyed by 64-bit integers. Nodes live inside
 * the objects they index, so inserting allocates nothing but the bucket
 * array as it grows. Several nodes may share a key (several connections of
 * one pid); walk them with hashtable_first()/hashtable_next().
 */

#include <stddef.h>
#include <stdint.h>

typedef struct HashNode {
        struct HashNode *next;
        uint64_t key;
} HashNode;

typedef struct HashTable {
        HashNode **buckets;
        size_t n_buckets;       /* a power of two, or 0 before the first insert */
        size_t n_nodes;
} HashTable;

#define HASHTABLE_INIT { NULL, 0, 0 }

/* Returns 0 or -ENOMEM (the node is then not inserted). */
int hashtable_insert(HashTable *t, HashNode *node, uint64_t key);
void hashtable_remove(HashTable *t, HashNode *node);
HashNode *hashtable_first(const HashTable *t, uint64_t key);
HashNode *hashtable_next(const HashNode *node);
void hashtable_destroy(HashTable *t);

/* FNV-1a, for string keys. */
uint64_t hash_string(const char *s, size_t len);
