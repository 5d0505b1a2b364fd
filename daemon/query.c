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
#include "user.h"
#include "sb-build.h"
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

static void json_string(FILE *f, const char *s) {
        fputc('"', f);
        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;
                if (c == '"' || c == '\\')
                        fprintf(f, "\\%c", c);
                else if (c < 0x20)
                        fprintf(f, "\\u%04x", c);
                else
                        fputc(c, f);
        }
        fputc('"', f);
}

static void json_mask(FILE *f, uint64_t mask) {
        const char *sep = "";
        char name[16];

        fputc('[', f);
        for (int signo = 1; signo <= SB_SIGNO_MAX; signo++)
                if (mask & SB_SIGMASK(signo)) {
                        fprintf(f, "%s", sep);
                        json_string(f, sb_signal_to_string(signo, name));
                        sep = ",";
                }
        fputc(']', f);
}

static void json_counters(FILE *f, const char *name, uint64_t sent, uint64_t delivered, uint64_t merged,
                          uint64_t refused, uint64_t denied, uint64_t dropped, uint64_t bytes_sent,
                          uint64_t bytes_delivered) {
        fprintf(f,
                "\"%s\":{\"sent\":%llu,\"delivered\":%llu,\"merged\":%llu,\"refused\":%llu,"
                "\"denied\":%llu,\"dropped\":%llu,\"bytes_sent\":%llu,\"bytes_delivered\":%llu}",
                name, (unsigned long long) sent, (unsigned long long) delivered, (unsigned long long) merged,
                (unsigned long long) refused, (unsigned long long) denied, (unsigned long long) dropped,
                (unsigned long long) bytes_sent, (unsigned long long) bytes_delivered);
}

static bool may_see(const Peer *asker, const Peer *p) {
        return asker->uid == p->uid || peer_is_admin(asker);
}

static void json_client(FILE *f, const Peer *p) {
        const PeerStats *s = &p->stats;
        const char *sep = "";
        Membership *m;

        fprintf(f, "{\"id\":%llu,\"pid\":%d,\"uid\":%u,\"gid\":%u,\"pgid\":%d,\"sid\":%d,\"comm\":",
                (unsigned long long) p->id, (int) p->pid, (unsigned) p->uid, (unsigned) p->gid,
                (int) peer_get_pgid(p), (int) peer_get_sid(p));
        json_string(f, p->comm);
        fprintf(f, ",\"subscriptions\":");
        json_mask(f, p->subscribed);
        fprintf(f, ",\"blocked\":");
        json_mask(f, p->blocked);
        fprintf(f, ",\"groups\":[");
        list_for_each_entry(m, (List *) &p->memberships, peer_link) {
                fprintf(f, "%s", sep);
                json_string(f, m->group->name);
                sep = ",";
        }
        fprintf(f, "],\"queue_depth\":%u,\"queue_bytes\":%llu,\"window\":%u,\"in_flight\":%u,", peer_pending(p),
                (unsigned long long) peer_pending_bytes(p), p->window, p->in_flight);
        json_counters(f, "counters", s->sent, s->delivered, s->merged, s->refused, s->denied, s->dropped,
                      s->bytes_sent, s->bytes_delivered);
        fputc('}', f);
}

static void write_clients(Broker *b, Peer *asker, FILE *f) {
        const char *sep = "";
        Peer *p;

        fputc('[', f);
        list_for_each_entry(p, &b->peers, link)
                if (may_see(asker, p)) {
                        fprintf(f, "%s", sep);
                        json_client(f, p);
                        sep = ",";
                }
        fputc(']', f);
}

static void write_stats(Broker *b, Peer *asker, FILE *f) {
        const Metrics *m = &b->metrics;

        fputc('{', f);
        json_counters(f, "global", m->sent, m->delivered, m->merged, m->refused, m->denied, m->dropped,
                      m->bytes_sent, m->bytes_delivered);
        fprintf(f,
                ",\"connections\":%u,\"connections_total\":%llu,\"violations\":%llu,"
                "\"pending\":%u,\"pending_bytes\":%llu,\"groups\":%u,\"clients\":",
                b->n_peers, (unsigned long long) m->connections, (unsigned long long) m->violations,
                b->total_pending, (unsigned long long) b->total_bytes, b->n_groups);
        write_clients(b, asker, f);
        fputc('}', f);
}

static void openmetrics_counter(FILE *f, const char *name, const char *help, uint64_t v) {
        fprintf(f, "# TYPE sigbroker_%s counter\n# HELP sigbroker_%s %s\nsigbroker_%s_total %llu\n", name, name,
                help, name, (unsigned long long) v);
}

static void openmetrics_gauge(FILE *f, const char *name, const char *help, uint64_t v) {
        fprintf(f, "# TYPE sigbroker_%s gauge\n# HELP sigbroker_%s %s\nsigbroker_%s %llu\n", name, name, help,
                name, (unsigned long long) v);
}

static void write_openmetrics(Broker *b, FILE *f) {
        const Metrics *m = &b->metrics;

        openmetrics_counter(f, "signals_sent", "Send requests handled.", m->sent);
        openmetrics_counter(f, "signals_delivered", "Signals written to receivers.", m->delivered);
        openmetrics_counter(f, "signals_merged", "Sends coalesced into a pending standard signal.", m->merged);
        openmetrics_counter(f, "signals_refused", "Deliveries refused for lack of room.", m->refused);
        openmetrics_counter(f, "signals_denied", "Deliveries denied by policy.", m->denied);
        openmetrics_counter(f, "signals_dropped", "Pending signals dropped by drop-oldest subscriptions.", m->dropped);
        openmetrics_counter(f, "payload_sent_bytes", "Payload bytes in send requests.", m->bytes_sent);
        openmetrics_counter(f, "payload_delivered_bytes", "Payload bytes written to receivers.", m->bytes_delivered);
        openmetrics_counter(f, "connections", "Connections accepted.", m->connections);
        openmetrics_counter(f, "protocol_violations", "Connections closed for protocol violations.", m->violations);
        openmetrics_gauge(f, "clients", "Clients connected.", b->n_peers);
        openmetrics_gauge(f, "pending_signals", "Signals pending in the broker.", b->total_pending);
        openmetrics_gauge(f, "pending_bytes", "Bytes charged for pending signals.", b->total_bytes);
        fputs("# EOF\n", f);
}

static void write_groups(Broker *b, FILE *f) {
        const char *sep = "";

        fputs("{\"named\":{", f);
        for (size_t i = 0; i < b->groups.n_buckets; i++)
                for (HashNode *n = b->groups.buckets[i]; n; n = n->next) {
                        Group *g = container_of(n, Group, node);
                        const char *msep = "";
                        Membership *m;
                        fprintf(f, "%s", sep);
                        json_string(f, g->name);
                        fputs(":[", f);
                        list_for_each_entry(m, &g->members, group_link) {
                                fprintf(f, "%s%llu", msep, (unsigned long long) m->peer->id);
                                msep = ",";
                        }
                        fputc(']', f);
                        sep = ",";
                }
        fputs("}}", f);
}

static void write_status(Broker *b, FILE *f) {
        const Limits *l = &b->limits;

        fprintf(f, "{\"version\":\"%s\",\"pid\":%d,\"uptime_sec\":%llu,\"socket\":", SB_VERSION, (int) getpid(),
                (unsigned long long) ((now_ns(CLOCK_MONOTONIC) - b->started_monotonic_ns) / 1000000000u));
        json_string(f, b->socket_path ? b->socket_path : "(socket activation)");
        fprintf(f, ",\"config\":");
        json_string(f, b->options.config_path);
        fprintf(f,
                ",\"clients\":%u,\"pending\":%u,\"limits\":{\"max_queue\":%u,\"max_queue_bytes\":%llu,"
                "\"max_payload\":%u,\"default_window\":%u,\"max_window\":%u,\"max_connections_per_uid\":%u,"
                "\"max_pending_per_uid\":%u,\"max_bytes_per_uid\":%llu,\"max_connections\":%u,"
                "\"max_pending\":%u,\"max_bytes\":%llu}}",
                b->n_peers, b->total_pending, l->max_queue, (unsigned long long) l->max_queue_bytes, l->max_payload,
                l->default_window, l->max_window, l->max_connections_per_uid, l->max_pending_per_uid,
                (unsigned long long) l->max_bytes_per_uid, l->max_connections, l->max_pending,
                (unsigned long long) l->max_bytes);
}

static int answer(Broker *b, Peer *p, uint64_t serial, const SbQuery *q) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);

        if (!f)
                return send_error(p, serial, ENOMEM);
        switch (q->kind) {
        case SB_QUERY_STATUS:
                write_status(b, f);
                break;
        case SB_QUERY_STATS:
                if (q->flags & SB_QUERY_OPENMETRICS)
                        write_openmetrics(b, f);
                else
                        write_stats(b, p, f);
                break;
        case SB_QUERY_CLIENTS:
                write_clients(b, p, f);
                break;
        case SB_QUERY_GROUPS:
                write_groups(b, f);
                break;
        }
        if (fclose(f) != 0)
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
                return send_error(p, serial, peer_is_admin(p) ? EOPNOTSUPP : EPERM);
        default:
                return send_error(p, serial, EOPNOTSUPP);
        }
}
