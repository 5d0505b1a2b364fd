/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Per-uid accounting: connections held, signals pending and answers held,
 * charged to the uid that caused them (the connecting user; the sending
 * user and, separately, the receiving user; the asking user). A User lives
 * while anything is charged to it.
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
        uint32_t pending;               /* charged as the sender */
        uint64_t bytes;
        uint32_t received;              /* waiting in this uid's receivers' queues */
        uint64_t received_bytes;
        uint64_t answer_bytes;          /* QUERY answers held for this uid's clients */
} User;

/* Find or create the User of uid in table. NULL on ENOMEM. */
User *user_ref_by_uid(HashTable *table, uid_t uid);
User *user_ref(User *u);
User *user_unref(User *u);
