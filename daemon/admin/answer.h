/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A large QUERY answer as a script, written out a part at a time as the
 * client reads (peer_queue_answer()). What it lists is decided when the
 * query is answered: the clients (by id), the groups and their members,
 * the process groups and sessions; what each client looks like is written
 * when its part is, and a client gone by then is left out. The script
 * costs 8 bytes per listed client or membership and the text of the
 * group headers, a tenth or less of the text it stands for, and that is
 * what the asking uid is charged.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct Broker Broker;
typedef struct Peer Peer;
typedef struct Answer Answer;

Answer *answer_new(void);
Answer *answer_free(Answer *a);

/* Text that opens a list (the next element needs no comma), that closes
 * one (the next needs one), and an element whose own list it opens (a
 * group's or a process set's header). Each returns 0 or -ENOMEM. */
int answer_open(Answer *a, const char *text);
int answer_close(Answer *a, const char *text);
int answer_element(Answer *a, const char *text, size_t len);
/* A client, written as in CLIENTS or as a group member. */
int answer_client(Answer *a, uint64_t id);
int answer_member(Answer *a, uint64_t id);

/* Bytes the script holds. */
size_t answer_cost(const Answer *a);

/* Write the next part, about max bytes, into f. True if more remain. */
bool answer_write(Answer *a, Broker *b, FILE *f, size_t max);
