/*
 * Answers to QUERY: status, statistics, clients, groups, reload, monitor,
 * disconnect. Answers are text (JSON, or OpenMetrics for statistics) built
 * in memory and sent as DATA chunks. What concerns other users' clients,
 * and everything that changes the broker, is for administrators only:
 * uid 0 or the admin group of sigbroker.conf(5).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void write_client(FILE *f, const Peer *p) {
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

void query_write_clients(Broker *b, const Peer *asker, FILE *f) {
        const char *sep = "";
        Peer *p;

        fputc('[', f);
        list_for_each_entry(p, &b->peers, link)
                if (query_may_see(asker, p)) {
                        fputs(sep, f);
                        write_client(f, p);
                        sep = ",";
                }
        fputc(']', f);
}

/* ---- groups: named, and the process groups and sessions of the clients ---- */

static void write_member(FILE *f, const Peer *p) {
        fprintf(f, "{\"id\":%llu,\"pid\":%d,\"uid\":%u,\"comm\":", (unsigned long long) p->id, (int) p->pid,
                (unsigned) p->uid);
        json_string(f, p->comm);
        fputc('}', f);
}

static void write_named_groups(Broker *b, const Peer *asker, FILE *f) {
        const char *sep = "";

        fputs("\"named\":[", f);
        for (size_t i = 0; i < b->groups.n_buckets; i++)
                for (HashNode *n = b->groups.buckets[i]; n; n = n->next) {
                        Group *g = container_of(n, Group, node);
                        const char *msep = "";
                        Membership *m;

                        fprintf(f, "%s{\"name\":", sep);
                        json_string(f, g->name);
                        fprintf(f, ",\"size\":%u,\"members\":[", g->n_members);
                        list_for_each_entry(m, &g->members, group_link)
                                if (query_may_see(asker, m->peer)) {
                                        fputs(msep, f);
                                        write_member(f, m->peer);
                                        msep = ",";
                                }
                        fputs("]}", f);
                        sep = ",";
                }
        fputc(']', f);
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
static int write_process_sets(Broker *b, const Peer *asker, FILE *f, const char *name, const char *key,
                              pid_t (*get)(const Peer *p)) {
        _cleanup_free_ ProcessSet *sets = calloc(MAX(b->n_peers, 1u), sizeof(*sets));
        size_t n = 0;
        Peer *p;

        if (!sets)
                return -ENOMEM;
        list_for_each_entry(p, &b->peers, link) {
                pid_t id;
                if (n == b->n_peers || !query_may_see(asker, p) || (id = get(p)) < 0)
                        continue;
                sets[n++] = (ProcessSet) { .id = id, .peer = p };
        }
        qsort(sets, n, sizeof(*sets), process_set_compare);

        fprintf(f, "\"%s\":[", name);
        for (size_t i = 0; i < n; i++) {
                if (i == 0 || sets[i].id != sets[i - 1].id)
                        fprintf(f, "%s{\"%s\":%d,\"members\":[", i ? "]}," : "", key, (int) sets[i].id);
                else
                        fputc(',', f);
                write_member(f, sets[i].peer);
        }
        fputs(n ? "]}]" : "]", f);
        return 0;
}

static int write_groups(Broker *b, const Peer *asker, FILE *f) {
        int r;

        fputc('{', f);
        write_named_groups(b, asker, f);
        fputc(',', f);
        r = write_process_sets(b, asker, f, "process_groups", "pgid", peer_get_pgid);
        if (r < 0)
                return r;
        fputc(',', f);
        r = write_process_sets(b, asker, f, "sessions", "sid", peer_get_sid);
        if (r < 0)
                return r;
        fputc('}', f);
        return 0;
}

/* ---- status ---- */

static void write_status(Broker *b, FILE *f) {
        const Limits *l = &b->limits;

        fprintf(f, "{\"version\":\"%s\",\"pid\":%d,\"started_realtime_ns\":%llu,\"uptime_sec\":%llu,\"socket\":",
                SB_VERSION, (int) getpid(), (unsigned long long) b->started_realtime_ns,
                (unsigned long long) ((now_ns(CLOCK_MONOTONIC) - b->started_monotonic_ns) / 1000000000u));
        json_string(f, b->socket_path ? b->socket_path : "(socket activation)");
        fprintf(f, ",\"socket_activated\":%s,\"config\":", b->socket_activated ? "true" : "false");
        json_string(f, b->options.config_path);
        fprintf(f,
                ",\"restart_journal\":%s,\"restart_capacity\":%u,\"restart_journal_bytes\":%llu,\"clients\":%u,\"groups\":%u,\"pending\":%u,\"pending_bytes\":%llu,"
                "\"limits\":{\"max_queue\":%u,\"max_queue_bytes\":%llu,"
                "\"max_payload\":%u,\"default_window\":%u,\"max_window\":%u,\"max_connections_per_uid\":%u,"
                "\"max_pending_per_uid\":%u,\"max_bytes_per_uid\":%llu,\"max_connections\":%u,"
                "\"max_pending\":%u,\"max_bytes\":%llu,\"max_groups_per_client\":%u,\"limit_root\":%s}}",
                b->journal ? "true" : "false", b->restart_capacity, (unsigned long long) state_journal_size(b), b->n_peers, b->n_groups, b->total_pending,
                (unsigned long long) b->total_bytes, l->max_queue, (unsigned long long) l->max_queue_bytes,
                l->max_payload, l->default_window, l->max_window, l->max_connections_per_uid,
                l->max_pending_per_uid, (unsigned long long) l->max_bytes_per_uid, l->max_connections,
                l->max_pending, (unsigned long long) l->max_bytes, l->max_groups_per_client,
                l->limit_root ? "true" : "false");
}

/* ---- dispatch ---- */

static int answer(Broker *b, Peer *p, uint64_t serial, const SbQuery *q) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        int r = 0;

        if (!f)
                return send_error(p, serial, ENOMEM);
        switch (q->kind) {
        case SB_QUERY_STATUS:
                write_status(b, f);
                break;
        case SB_QUERY_STATS:
                if (q->flags & SB_QUERY_OPENMETRICS)
                        stats_write_openmetrics(b, p, f);
                else
                        stats_write_json(b, p, f);
                break;
        case SB_QUERY_CLIENTS:
                query_write_clients(b, p, f);
                break;
        case SB_QUERY_GROUPS:
                r = write_groups(b, p, f);
                break;
        }
        if (fclose(f) != 0 || r < 0)
                return send_error(p, serial, ENOMEM);
        return send_text(p, serial, 0, text, len, false);
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
         * told to come back, so its backlog stays bounded. */
        if (p->out_len - p->out_head > PEER_OUT_SOFT_MAX)
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
