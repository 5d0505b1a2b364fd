/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "broker.h"
#include "query.h"
#include "util.h"

typedef enum AnswerOp {
        OP_OPEN,                        /* text, then no comma */
        OP_CLOSE,                       /* text, then a comma before the next element */
        OP_ELEMENT,                     /* comma if due, text, then no comma */
        OP_CLIENT,                      /* comma if due, the client if still there */
        OP_MEMBER,
} AnswerOp;

#define OP_SHIFT 60
#define OP(op, v) (((uint64_t) (op) << OP_SHIFT) | (v))

struct Answer {
        uint64_t *ops;
        size_t n_ops, cap_ops, at;
        char *text;                     /* NUL-separated texts, ops hold offsets */
        size_t text_len, text_cap;
        bool comma;
};

Answer *answer_new(void) {
        return calloc(1, sizeof(Answer));
}

Answer *answer_free(Answer *a) {
        if (a) {
                free(a->ops);
                free(a->text);
                free(a);
        }
        return NULL;
}

static int push(Answer *a, uint64_t op) {
        if (a->n_ops == a->cap_ops) {
                size_t cap = MAX(a->cap_ops * 2, (size_t) 64);
                uint64_t *ops = realloc(a->ops, cap * sizeof(*ops));
                if (!ops)
                        return -ENOMEM;
                a->ops = ops;
                a->cap_ops = cap;
        }
        a->ops[a->n_ops++] = op;
        return 0;
}

static int push_text(Answer *a, AnswerOp op, const char *text, size_t len) {
        size_t at = a->text_len;

        if (a->text_len + len + 1 > a->text_cap) {
                size_t cap = MAX(a->text_cap * 2, a->text_len + len + 1);
                char *t = realloc(a->text, MAX(cap, (size_t) 256));
                if (!t)
                        return -ENOMEM;
                a->text = t;
                a->text_cap = MAX(cap, (size_t) 256);
        }
        memcpy(a->text + at, text, len);
        a->text[at + len] = '\0';
        a->text_len += len + 1;
        return push(a, OP(op, at));
}

int answer_open(Answer *a, const char *text) {
        return push_text(a, OP_OPEN, text, strlen(text));
}

int answer_close(Answer *a, const char *text) {
        return push_text(a, OP_CLOSE, text, strlen(text));
}

int answer_element(Answer *a, const char *text, size_t len) {
        return push_text(a, OP_ELEMENT, text, len);
}

int answer_client(Answer *a, uint64_t id) {
        return push(a, OP(OP_CLIENT, id));
}

int answer_member(Answer *a, uint64_t id) {
        return push(a, OP(OP_MEMBER, id));
}

size_t answer_cost(const Answer *a) {
        return sizeof(*a) + a->cap_ops * sizeof(*a->ops) + a->text_cap;
}

static void comma(Answer *a, FILE *f) {
        if (a->comma)
                fputc(',', f);
}

bool answer_write(Answer *a, Broker *b, FILE *f, size_t max) {
        long start = ftell(f);

        while (a->at < a->n_ops && ftell(f) - start < (long) max) {
                uint64_t op = a->ops[a->at++], v = op & ((UINT64_C(1) << OP_SHIFT) - 1);
                HashNode *n;

                switch ((AnswerOp) (op >> OP_SHIFT)) {
                case OP_OPEN:
                        fputs(a->text + v, f);
                        a->comma = false;
                        break;
                case OP_CLOSE:
                        fputs(a->text + v, f);
                        a->comma = true;
                        break;
                case OP_ELEMENT:
                        comma(a, f);
                        fputs(a->text + v, f);
                        a->comma = false;
                        break;
                case OP_CLIENT:
                case OP_MEMBER:
                        n = hashtable_first(&b->peers_by_id, v);
                        if (!n)
                                break;  /* gone since the query */
                        comma(a, f);
                        if (op >> OP_SHIFT == OP_CLIENT)
                                query_write_client(f, container_of(n, Peer, by_id));
                        else
                                query_write_member(f, container_of(n, Peer, by_id));
                        a->comma = true;
                        break;
                }
        }
        return a->at < a->n_ops;
}
