/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stddef.h>
#include <stdlib.h>

#include "user.h"

User *user_ref_by_uid(HashTable *table, uid_t uid) {
        HashNode *node = hashtable_first(table, uid);
        User *u;

        if (node)
                return user_ref((User *) ((char *) node - offsetof(User, node)));
        u = calloc(1, sizeof(*u));
        if (!u)
                return NULL;
        u->n_ref = 1;
        u->uid = uid;
        u->table = table;
        if (hashtable_insert(table, &u->node, uid) < 0) {
                free(u);
                return NULL;
        }
        return u;
}

User *user_ref(User *u) {
        if (u)
                u->n_ref++;
        return u;
}

User *user_unref(User *u) {
        if (u && --u->n_ref == 0) {
                hashtable_remove(u->table, &u->node);
                free(u);
        }
        return NULL;
}
