/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Answers to QUERY: status, statistics, clients, groups, reload, monitor,
 * disconnect. Answers are text (JSON, or OpenMetrics for statistics) sent
 * as DATA chunks. Those that grow with the broker are scripts (answer.h)
 * whose text is written a part at a time as the client reads
 * (peer_queue_answer()), charged to the asking uid meanwhile. What concerns other users' clients,
 * and everything that changes the broker, is for administrators only:
 * uid 0 or the admin group of sigbroker.conf(5).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "broker.h"
#include "json.h"
#include "monitor.h"
#include "state.h"
#include "query.h"
#include "sb-build.h"
#include "user.h"
#include "util.h"

static int send_text(Peer *p, uint64_t serial, int error, const char *text, size_t len, bool more) {
        size_t at = 0;

        do {
                size_t chunk = MIN(len - at, (size_t) SB_DATA_MAX);
                SbFrame f = {
                        .type = SB_MSG_DATA,
                        .data = {
                                .reply_serial = serial,
                                .error = error,
                                .flags = (at + chunk < len || more) ? SB_DATA_MORE : 0,
                                .data = text + at,
                                .data_len = (uint32_t) chunk,
                        },
                };
                if (peer_queue_frame(p, &f) < 0)
                        return -PEER_E_DISCONNECT;
                at += chunk;
        } while (at < len);
        return 0;
}

static int send_error(Peer *p, uint64_t serial, int error) {
        return send_text(p, serial, error, "", 0, false);
}

bool query_may_see(const Peer *asker, const Peer *p) {
        return asker->uid == p->uid || peer_is_admin(asker);
}

/* ---- clients ---- */

void query_write_client(FILE *f, const Peer *p) {
        const char *sep = "";
        Membership *m;

        fprintf(f, "{\"id\":%llu,\"pid\":%d,\"uid\":%u,\"gid\":%u,\"pgid\":%d,\"sid\":%d,\"comm\":",
                (unsigned long long) p->id, (int) p->pid, (unsigned) p->uid, (unsigned) p->gid,
                (int) peer_get_pgid(p), (int) peer_get_sid(p));
        json_string(f, p->comm);
        fprintf(f, ",\"monitor\":%s,\"subscriptions\":", p->monitor ? "true" : "false");
        json_mask(f, p->subscribed);
        fputs(",\"drop_oldest\":", f);
        json_mask(f, p->drop_oldest);
        fputs(",\"blocked\":", f);
        json_mask(f, p->blocked);
        fputs(",\"groups\":[", f);
        list_for_each_entry(m, (List *) &p->memberships, peer_link) {
                fputs(sep, f);
                json_string(f, m->group->name);
                sep = ",";
        }
        fprintf(f,
                "],\"queue_depth\":%u,\"held\":%u,\"queue_bytes\":%llu,\"window\":%u,\"in_flight\":%u,"
                "\"connected_sec\":%llu,",
                peer_pending(p), queue_length(&p->held), (unsigned long long) peer_pending_bytes(p), p->window,
                p->in_flight, (unsigned long long) ((now_ns(CLOCK_MONOTONIC) - p->connected_ns) / 1000000000u));
        stats_write_peer_counters(f, p);
        fputc('}', f);
}

/* Whom the asker may see, in the order they connected. */
static int script_clients(Broker *b, const Peer *asker, Answer *a) {
        Peer *p;
        int r = answer_open(a, "[");

        list_for_each_entry(p, &b->peers, link)
                if (r >= 0 && query_may_see(asker, p))
                        r = answer_client(a, p->id);
        return r < 0 ? r : answer_close(a, "]");
}

/* ---- groups: named, and the process groups and sessions of the clients ---- */

void query_write_member(FILE *f, const Peer *p) {
        fprintf(f, "{\"id\":%llu,\"pid\":%d,\"uid\":%u,\"comm\":", (unsigned long long) p->id, (int) p->pid,
                (unsigned) p->uid);
        json_string(f, p->comm);
        fputc('}', f);
}

static int script_named_groups(Broker *b, const Peer *asker, Answer *a) {
        int r = answer_open(a, "{\"named\":[");

        for (size_t i = 0; r >= 0 && i < b->groups.n_buckets; i++)
                for (HashNode *n = b->groups.buckets[i]; r >= 0 && n; n = n->next) {
                        Group *g = container_of(n, Group, node);
                        _cleanup_free_ char *head = NULL;
                        size_t len = 0;
                        FILE *f = open_memstream(&head, &len);
                        Membership *m;

                        if (!f)
                                return -ENOMEM;
                        fputs("{\"name\":", f);
                        json_string(f, g->name);
                        fprintf(f, ",\"size\":%u,\"members\":[", g->n_members);
                        if (fclose(f) != 0)
                                return -ENOMEM;
                        r = answer_element(a, head, len);
                        list_for_each_entry(m, &g->members, group_link)
                                if (r >= 0 && query_may_see(asker, m->peer))
                                        r = answer_member(a, m->peer->id);
                        if (r >= 0)
                                r = answer_close(a, "]}");
                }
        return r < 0 ? r : answer_close(a, "]");
}

typedef struct ProcessSet {
        pid_t id;                       /* pgid or sid */
        const Peer *peer;
} ProcessSet;

static int process_set_compare(const void *a, const void *b) {
        const ProcessSet *x = a, *y = b;

        if (x->id != y->id)
                return x->id < y->id ? -1 : 1;
        return x->peer->id < y->peer->id ? -1 : x->peer->id > y->peer->id;
}

/* Clients by their process group or session as the kernel says it is now;
 * clients whose process is gone are in none. */
static int script_process_sets(Broker *b, const Peer *asker, Answer *a, const char *name, const char *key,
                               pid_t (*get)(const Peer *p)) {
        _cleanup_free_ ProcessSet *sets = calloc(MAX(b->n_peers, 1u), sizeof(*sets));
        char text[64];
        size_t n = 0;
        Peer *p;
        int r;

        if (!sets)
                return -ENOMEM;
        list_for_each_entry(p, &b->peers, link) {
                pid_t id;
                if (n == b->n_peers || !query_may_see(asker, p) || (id = get(p)) < 0)
                        continue;
                sets[n++] = (ProcessSet) { .id = id, .peer = p };
        }
        qsort(sets, n, sizeof(*sets), process_set_compare);

        snprintf(text, sizeof(text), ",\"%s\":[", name);
        r = answer_open(a, text);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                if (i == 0 || sets[i].id != sets[i - 1].id) {
                        if (i > 0 && (r = answer_close(a, "]}")) < 0)
                                break;
                        r = answer_element(a, text, (size_t) snprintf(text, sizeof(text), "{\"%s\":%d,\"members\":[",
                                                                      key, (int) sets[i].id));
                }
                if (r >= 0)
                        r = answer_member(a, sets[i].peer->id);
        }
        if (r >= 0 && n > 0)
                r = answer_close(a, "]}");
        return r < 0 ? r : answer_close(a, "]");
}

static int script_groups(Broker *b, const Peer *asker, Answer *a) {
        int r = script_named_groups(b, asker, a);

        if (r >= 0)
                r = script_process_sets(b, asker, a, "process_groups", "pgid", peer_get_pgid);
        if (r >= 0)
                r = script_process_sets(b, asker, a, "sessions", "sid", peer_get_sid);
        return r < 0 ? r : answer_close(a, "}");
}

static int script_stats(Broker *b, const Peer *asker, Answer *a) {
        _cleanup_free_ char *head = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&head, &len);
        int r;

        if (!f)
                return -ENOMEM;
        stats_write_json_head(b, f);
        if (fclose(f) != 0)
                return -ENOMEM;
        r = answer_open(a, head);
        if (r >= 0)
                r = script_clients(b, asker, a);
        return r < 0 ? r : answer_close(a, "}");
}

/* ---- status ---- */

static void write_status(Broker *b, FILE *f) {
        const Limits *l = &b->limits;

        fprintf(f, "{\"version\":\"%s\",\"pid\":%d,\"started_realtime_ns\":%llu,\"uptime_sec\":%llu,\"socket\":",
                SB_VERSION, (int) getpid(), (unsigned long long) b->started_realtime_ns,
                (unsigned long long) ((now_ns(CLOCK_MONOTONIC) - b->started_monotonic_ns) / 1000000000u));
        json_string(f, b->socket_path ? b->socket_path : "");
        fprintf(f, ",\"socket_activated\":%s,\"config\":", b->socket_activated ? "true" : "false");
        json_string(f, b->options.config_path);
        fprintf(f,
                ",\"restart_journal\":%s,\"restart_capacity\":%u,\"restart_journal_bytes\":%llu,\"clients\":%u,\"groups\":%u,\"pending\":%u,\"pending_bytes\":%llu,"
                "\"limits\":{\"max_queue\":%u,\"max_queue_bytes\":%llu,"
                "\"max_payload\":%u,\"default_window\":%u,\"max_window\":%u,\"max_connections_per_uid\":%u,"
                "\"max_pending_per_uid\":%u,\"max_bytes_per_uid\":%llu,\"max_connections\":%u,"
                "\"max_pending\":%u,\"max_bytes\":%llu,\"max_groups_per_client\":%u,\"limit_root\":%s,"
                "\"max_received_per_uid\":%u,\"max_received_bytes_per_uid\":%llu,\"max_answer_bytes_per_uid\":%llu,"
                "\"max_answer_bytes\":%llu,\"hello_timeout_sec\":%u,\"reserved_connections\":%u}}",
                b->journal ? "true" : "false", b->restart_capacity, (unsigned long long) state_journal_size(b), b->n_peers, b->n_groups, b->total_pending,
                (unsigned long long) b->total_bytes, l->max_queue, (unsigned long long) l->max_queue_bytes,
                l->max_payload, l->default_window, l->max_window, l->max_connections_per_uid,
                l->max_pending_per_uid, (unsigned long long) l->max_bytes_per_uid, l->max_connections,
                l->max_pending, (unsigned long long) l->max_bytes, l->max_groups_per_client,
                l->limit_root ? "true" : "false", l->max_received_per_uid,
                (unsigned long long) l->max_received_bytes_per_uid, (unsigned long long) l->max_answer_bytes_per_uid,
                (unsigned long long) l->max_answer_bytes, l->hello_timeout_sec, l->reserved_connections);
}

/* ---- dispatch ---- */

/* Answers larger than one DATA chunk are held while the client reads them,
 * charged to its uid (max-answer-bytes-per-uid) and to all uids together
 * (max-answer-bytes). Uid 0 (unless limit-root) has max-answer-bytes of its
 * own instead, so that others cannot crowd it out. One that would not fit
 * is refused with ENOBUFS and a reason, not queued: a client that asks on
 * many connections and never reads cannot make the daemon grow. NULL: it
 * fits. */
static const char *answer_refusal(const Broker *b, const Peer *p, uint64_t len) {
        const Limits *l = &b->limits;

        if (p->uid == 0 && !l->limit_root)
                return p->user->answer_bytes + len > l->max_answer_bytes
                               ? "answers not yet read by root's clients fill root's answer budget "
                                 "(max-answer-bytes): read them first"
                               : NULL;
        if (p->user->answer_bytes + len > l->max_answer_bytes_per_uid)
                return "answers not yet read by this uid's clients fill its answer budget "
                       "(max-answer-bytes-per-uid): read them first";
        if (b->answer_bytes + len > l->max_answer_bytes)
                return "answers not yet read fill the broker's answer budget (max-answer-bytes): try again later";
        return NULL;
}

static int refuse_answer(Peer *p, uint64_t serial, const char *why) {
        p->broker->metrics.answers_refused++;
        return send_text(p, serial, ENOBUFS, why, strlen(why), false);
}

/* A part of a scripted answer is this large, give or take one client's
 * entry (a few KiB), so that it fits a DATA frame. */
#define ANSWER_PART (SB_DATA_MAX - 16384)

static int script_next(Peer *p, void *state, char **ret_text, size_t *ret_len) {
        FILE *f = open_memstream(ret_text, ret_len);
        bool more;

        if (!f)
                return -ENOMEM;
        more = answer_write(state, p->broker, f, ANSWER_PART);
        return fclose(f) != 0 ? -ENOMEM : more;
}

static void script_free(void *state) {
        answer_free(state);
}

/* Text made whole (OpenMetrics), handed out a chunk at a time. */
typedef struct TextSource {
        char *text;
        size_t len, at;
} TextSource;

static int text_next(Peer *p, void *state, char **ret_text, size_t *ret_len) {
        TextSource *t = state;
        size_t n = MIN(t->len - t->at, (size_t) SB_DATA_MAX);

        *ret_text = malloc(MAX(n, (size_t) 1));
        if (!*ret_text)
                return -ENOMEM;
        memcpy(*ret_text, t->text + t->at, n);
        *ret_len = n;
        t->at += n;
        return t->at < t->len;
}

static void text_free(void *state) {
        TextSource *t = state;

        free(t->text);
        free(t);
}

/* The answers that grow with the broker (clients, groups, statistics) are
 * scripts, written out as the client reads; the others are small text,
 * but OpenMetrics, which is text held whole while it is read. */
static int make_source(Broker *b, Peer *p, const SbQuery *q, PeerAnswerSource *ret) {
        Answer *a;
        int r;

        if (q->kind == SB_QUERY_STATUS || (q->kind == SB_QUERY_STATS && (q->flags & SB_QUERY_OPENMETRICS))) {
                TextSource *t = calloc(1, sizeof(*t));
                FILE *f = t ? open_memstream(&t->text, &t->len) : NULL;
                if (!f) {
                        free(t);
                        return -ENOMEM;
                }
                if (q->kind == SB_QUERY_STATUS)
                        write_status(b, f);
                else
                        stats_write_openmetrics(b, p, f);
                if (fclose(f) != 0) {
                        text_free(t);
                        return -ENOMEM;
                }
                *ret = (PeerAnswerSource) { .state = t, .next = text_next, .free = text_free, .cost = t->len };
                return 0;
        }
        a = answer_new();
        if (!a)
                return -ENOMEM;
        r = q->kind == SB_QUERY_CLIENTS ? script_clients(b, p, a)
            : q->kind == SB_QUERY_GROUPS ? script_groups(b, p, a)
                                         : script_stats(b, p, a);
        if (r < 0) {
                answer_free(a);
                return r;
        }
        *ret = (PeerAnswerSource) { .state = a, .next = script_next, .free = script_free, .cost = answer_cost(a) };
        return 0;
}

static int answer(Broker *b, Peer *p, uint64_t serial, const SbQuery *q) {
        /* Before the work of making it, which for a large broker takes
         * long enough to delay everyone else: an answer of this kind costs
         * about what the last one did. Only a uid that holds answers
         * already is refused on that guess (the last one may have been an
         * administrator's, who sees more). */
        uint64_t expected = b->answer_sizes[q->kind];
        const char *why = p->user->answer_bytes > 0 ? answer_refusal(b, p, expected) : NULL;
        PeerAnswerSource src;
        int r;

        if (why)
                return refuse_answer(p, serial, why);
        r = make_source(b, p, q, &src);
        if (r < 0)
                return send_error(p, serial, -r);
        b->answer_sizes[q->kind] = src.cost;
        why = answer_refusal(b, p, src.cost);
        if (why) {
                src.free(src.state);
                return refuse_answer(p, serial, why);
        }
        return peer_queue_answer(p, serial, &src) < 0 ? -PEER_E_DISCONNECT : 0;
}

static int reload(Broker *b, Peer *p, uint64_t serial) {
        _cleanup_free_ char *error = NULL;
        int r = broker_reload(b, &error);

        if (r < 0)
                return send_text(p, serial, -r, error ? error : "", error ? strlen(error) : 0, false);
        return send_text(p, serial, 0, "", 0, false);
}

static int disconnect(Broker *b, Peer *p, uint64_t serial, uint64_t id) {
        HashNode *n = hashtable_first(&b->peers_by_id, id);
        Peer *victim = n ? container_of(n, Peer, by_id) : NULL;

        if (!victim)
                return send_error(p, serial, ESRCH);
        if (victim == p)
                return send_error(p, serial, EINVAL);
        peer_free(victim);
        return send_error(p, serial, 0);
}

static int monitor(Broker *b, Peer *p, uint64_t serial) {
        if (p->monitor)
                return send_error(p, serial, EBUSY);   /* one stream per connection */
        if (monitor_start(b, p, serial) < 0)
                return send_error(p, serial, ENOMEM);
        state_log_monitor(b, p);
        return 0;
}

int broker_handle_query(Broker *b, Peer *p, uint64_t serial, const SbQuery *q) {
        /* Answers can be large; a client that asks faster than it reads is
         * told to come back, so its backlog stays bounded. An answer still
         * being read counts (peer_backlog()). */
        if (peer_backlog(p) > PEER_OUT_SOFT_MAX)
                return send_error(p, serial, EBUSY);
        switch (q->kind) {
        case SB_QUERY_STATUS:
        case SB_QUERY_STATS:
        case SB_QUERY_CLIENTS:
        case SB_QUERY_GROUPS:
                return answer(b, p, serial, q);
        case SB_QUERY_RELOAD:
                return peer_is_admin(p) ? reload(b, p, serial) : send_error(p, serial, EPERM);
        case SB_QUERY_DISCONNECT:
                return peer_is_admin(p) ? disconnect(b, p, serial, q->arg) : send_error(p, serial, EPERM);
        case SB_QUERY_MONITOR:
                return peer_is_admin(p) ? monitor(b, p, serial) : send_error(p, serial, EPERM);
        default:
                return send_error(p, serial, EOPNOTSUPP);
        }
}
