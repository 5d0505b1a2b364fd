/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Intrusive doubly linked list, in the manner of c-list: a List is both the
 * head and the link, an unlinked node points to itself, so unlinking twice
 * is harmless and "is this linked?" is one comparison.
 */

#include <stdbool.h>
#include <stddef.h>

typedef struct List {
        struct List *next, *prev;
} List;

#define LIST_INIT(name) { &(name), &(name) }

static inline void list_init(List *l) { l->next = l->prev = l; }
static inline bool list_is_empty(const List *l) { return l->next == l; }
static inline bool list_is_linked(const List *l) { return l->next != l; }

static inline void list_link_tail(List *head, List *n) {
        n->prev = head->prev;
        n->next = head;
        head->prev->next = n;
        head->prev = n;
}

static inline void list_unlink(List *n) {
        n->prev->next = n->next;
        n->next->prev = n->prev;
        list_init(n);
}

#define list_entry(ptr, type, member) ((type *) ((char *) (ptr) - offsetof(type, member)))

/* Iterate over entries; the body may unlink the current one. Nestable:
 * each use gets cursor names of its own. */
#define LIST_CONCAT_(a, b) a##b
#define LIST_CONCAT(a, b) LIST_CONCAT_(a, b)
#define list_for_each_entry(e, head, member) list_for_each_entry_(e, head, member, __COUNTER__)
#define list_for_each_entry_(e, head, member, id)                                       \
        for (List *LIST_CONCAT(_n, id) = (head)->next, *LIST_CONCAT(_t, id) = LIST_CONCAT(_n, id)->next; \
             LIST_CONCAT(_n, id) != (head) &&                                           \
             (((e) = list_entry(LIST_CONCAT(_n, id), __typeof__(*(e)), member)), 1);    \
             LIST_CONCAT(_n, id) = LIST_CONCAT(_t, id), LIST_CONCAT(_t, id) = LIST_CONCAT(_n, id)->next)
