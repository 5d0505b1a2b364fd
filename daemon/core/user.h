#pragma once

/*
 * Per-uid accounting: connections held and signals pending, charged to the
 * uid that caused them (the connecting user; the sending user). A User
 * lives while anything is charged to it.
 */

#include <stdint.h>
#include <sys/types.h>

#include "hashtable.h"

typedef struct User {
        HashNode node;                  /* in Broker.users, by uid */
        HashTable *table;
        unsigned n_ref;
        uid_t uid;
        uint32_t connections;
        uint32_t pending;
        uint64_t bytes;
} User;

/* Find or create the User of uid in table. NULL on ENOMEM. */
User *user_ref_by_uid(HashTable *table, uid_t uid);
User *user_ref(User *u);
User *user_unref(User *u);
