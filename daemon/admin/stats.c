/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The STATS answer: counters, queue depths and latency histograms, global
 * and per client, as JSON or as OpenMetrics text (the exposition format of
 * Prometheus and OpenMetrics 1.0, ending in "# EOF").
 */

#include <stddef.h>
#include <string.h>

#include "json.h"
#include "query.h"
#include "util.h"

typedef struct Counters {
        uint64_t sent, delivered, merged, refused, denied, dropped, bytes_sent, bytes_delivered;
} Counters;

static Counters global_counters(const Metrics *m) {
        return (Counters) { m->sent, m->delivered, m->merged, m->refused, m->denied, m->dropped,
                            m->bytes_sent, m->bytes_delivered };
}

static Counters peer_counters(const PeerStats *s) {
        return (Counters) { s->sent, s->delivered, s->merged, s->refused, s->denied, s->dropped,
                            s->bytes_sent, s->bytes_delivered };
}

static uint32_t total_in_flight(const Broker *b) {
        uint32_t n = 0;
        Peer *p;

        list_for_each_entry(p, (List *) &b->peers, link)
                n += p->in_flight;
        return n;
}

static uint32_t n_monitors(const Broker *b) {
        uint32_t n = 0;
        Peer *p;

        list_for_each_entry(p, (List *) &b->peers, link)
                n += p->monitor;
        return n;
}

static void band_name(unsigned band, char buf[static 8]) {
        unsigned lo = band * METRICS_BAND_WIDTH;
        unsigned hi = band + 1 == METRICS_BANDS ? SB_PRIORITY_MAX : lo + METRICS_BAND_WIDTH - 1;
        snprintf(buf, 8, "%u-%u", lo, hi);
}

/* ---- JSON ---- */

static void json_counters(FILE *f, const char *name, const Counters *c) {
        fprintf(f,
                "\"%s\":{\"sent\":%llu,\"delivered\":%llu,\"merged\":%llu,\"refused\":%llu,"
                "\"denied\":%llu,\"dropped\":%llu,\"bytes_sent\":%llu,\"bytes_delivered\":%llu}",
                name, (unsigned long long) c->sent, (unsigned long long) c->delivered,
                (unsigned long long) c->merged, (unsigned long long) c->refused, (unsigned long long) c->denied,
                (unsigned long long) c->dropped, (unsigned long long) c->bytes_sent,
                (unsigned long long) c->bytes_delivered);
}

static void json_histogram(FILE *f, const char *name, const Histogram *h) {
        fprintf(f, "\"%s\":{\"count\":%llu,\"sum_ns\":%llu,\"buckets\":[", name, (unsigned long long) h->count,
                (unsigned long long) h->sum_ns);
        for (unsigned i = 0; i < METRICS_BUCKETS; i++)
                fprintf(f, "%s%llu", i ? "," : "", (unsigned long long) h->buckets[i]);
        fputs("]}", f);
}

/* Buckets are not cumulative; what is over the last bound is counted in
 * count only. */
static void json_latency(FILE *f, const Metrics *m) {
        fputs("\"latency\":{\"bucket_bounds_ns\":[", f);
        for (unsigned i = 0; i < METRICS_BUCKETS; i++)
                fprintf(f, "%s%llu", i ? "," : "", (unsigned long long) metrics_bucket_bound_ns(i));
        fputs("],\"bands\":[", f);
        for (unsigned band = 0; band < METRICS_BANDS; band++) {
                char name[8];
                band_name(band, name);
                fprintf(f, "%s{\"band\":\"%s\",\"min_priority\":%u,\"max_priority\":%s,", band ? "," : "", name,
                        band * METRICS_BAND_WIDTH, strchr(name, '-') + 1);
                json_histogram(f, "written", &m->latency[LATENCY_WRITTEN][band]);
                fputc(',', f);
                json_histogram(f, "acked", &m->latency[LATENCY_ACKED][band]);
                fputc('}', f);
        }
        fputs("]}", f);
}

void stats_write_peer_counters(FILE *f, const Peer *p) {
        Counters c = peer_counters(&p->stats);
        json_counters(f, "counters", &c);
}

void stats_write_json_head(Broker *b, FILE *f) {
        const Metrics *m = &b->metrics;
        Counters c = global_counters(m);

        fputc('{', f);
        json_counters(f, "global", &c);
        fprintf(f,
                ",\"connections\":%u,\"connections_total\":%llu,\"disconnections_total\":%llu,"
                "\"violations\":%llu,\"pending\":%u,\"pending_bytes\":%llu,\"in_flight\":%u,\"groups\":%u,"
                "\"monitors\":%u,\"monitor_events\":%llu,\"monitor_missed\":%llu,"
                "\"hello_timeouts\":%llu,\"reserve_refused\":%llu,\"answers_refused\":%llu,\"answer_bytes\":%llu,",
                b->n_peers, (unsigned long long) m->connections, (unsigned long long) m->disconnections,
                (unsigned long long) m->violations, b->total_pending, (unsigned long long) b->total_bytes,
                total_in_flight(b), b->n_groups, n_monitors(b), (unsigned long long) m->monitor_events,
                (unsigned long long) m->monitor_missed, (unsigned long long) m->hello_timeouts,
                (unsigned long long) m->reserve_refused, (unsigned long long) m->answers_refused,
                (unsigned long long) b->answer_bytes);
        json_latency(f, m);
        fputs(",\"clients\":", f);
}

/* ---- OpenMetrics ---- */

static void om_family(FILE *f, const char *name, const char *type, const char *unit, const char *help) {
        fprintf(f, "# TYPE sigbroker_%s %s\n", name, type);
        if (unit)
                fprintf(f, "# UNIT sigbroker_%s %s\n", name, unit);
        fprintf(f, "# HELP sigbroker_%s %s\n", name, help);
}

static void om_counter(FILE *f, const char *name, const char *unit, const char *help, uint64_t v) {
        om_family(f, name, "counter", unit, help);
        fprintf(f, "sigbroker_%s_total %llu\n", name, (unsigned long long) v);
}

static void om_gauge(FILE *f, const char *name, const char *unit, const char *help, uint64_t v) {
        om_family(f, name, "gauge", unit, help);
        fprintf(f, "sigbroker_%s %llu\n", name, (unsigned long long) v);
}

/* Nanoseconds as seconds, exactly, in decimal: 1500 → 0.0000015. */
static void om_seconds(FILE *f, uint64_t ns) {
        char frac[16];
        size_t n;

        fprintf(f, "%llu", (unsigned long long) (ns / 1000000000u));
        snprintf(frac, sizeof(frac), "%09llu", (unsigned long long) (ns % 1000000000u));
        for (n = strlen(frac); n > 0 && frac[n - 1] == '0'; n--)
                ;
        if (n > 0)
                fprintf(f, ".%.*s", (int) n, frac);
}

static void om_histogram(FILE *f, const char *name, const char *help, const Histogram *hs) {
        om_family(f, name, "histogram", "seconds", help);
        for (unsigned band = 0; band < METRICS_BANDS; band++) {
                const Histogram *h = &hs[band];
                uint64_t cumulative = 0;
                char bn[8];

                band_name(band, bn);
                for (unsigned i = 0; i < METRICS_BUCKETS; i++) {
                        cumulative += h->buckets[i];
                        fprintf(f, "sigbroker_%s_bucket{band=\"%s\",le=\"", name, bn);
                        om_seconds(f, metrics_bucket_bound_ns(i));
                        fprintf(f, "\"} %llu\n", (unsigned long long) cumulative);
                }
                fprintf(f, "sigbroker_%s_bucket{band=\"%s\",le=\"+Inf\"} %llu\n", name, bn,
                        (unsigned long long) h->count);
                fprintf(f, "sigbroker_%s_count{band=\"%s\"} %llu\n", name, bn, (unsigned long long) h->count);
                fprintf(f, "sigbroker_%s_sum{band=\"%s\"} ", name, bn);
                om_seconds(f, h->sum_ns);
                fputc('\n', f);
        }
}

/* A label value: backslash, double quote and newline escaped, anything
 * that is not printable UTF-8 replaced by '?'. */
static void om_label_value(FILE *f, const char *s) {
        size_t len = strlen(s);

        for (size_t i = 0; i < len;) {
                unsigned char c = (unsigned char) s[i];
                size_t n;
                if (c == '\\' || c == '"')
                        fprintf(f, "\\%c", c);
                else if (c == '\n')
                        fputs("\\n", f);
                else if (c >= 0x20 && c < 0x7f)
                        fputc(c, f);
                else if (c >= 0x80 && (n = utf8_sequence_length(s + i, len - i)) > 0) {
                        fwrite(s + i, 1, n, f);
                        i += n;
                        continue;
                } else
                        fputc('?', f);
                i++;
        }
}

static void om_client_labels(FILE *f, const Peer *p) {
        fprintf(f, "{client=\"%llu\",pid=\"%d\",uid=\"%u\",comm=\"", (unsigned long long) p->id, (int) p->pid,
                (unsigned) p->uid);
        om_label_value(f, p->comm);
        fputs("\"}", f);
}

typedef struct ClientCounter {
        const char *name, *unit, *help;
        size_t offset;                  /* in PeerStats */
} ClientCounter;

static void om_client_family(Broker *b, const Peer *asker, FILE *f, const char *name, const char *type,
                             const char *unit, const char *help, uint64_t (*value)(const Peer *p, size_t offset),
                             size_t offset) {
        bool counter = strcmp(type, "counter") == 0;
        Peer *p;

        om_family(f, name, type, unit, help);
        list_for_each_entry(p, &b->peers, link)
                if (query_may_see(asker, p)) {
                        fprintf(f, "sigbroker_%s%s", name, counter ? "_total" : "");
                        om_client_labels(f, p);
                        fprintf(f, " %llu\n", (unsigned long long) value(p, offset));
                }
}

static uint64_t stat_at(const Peer *p, size_t offset) {
        uint64_t v;
        memcpy(&v, (const char *) &p->stats + offset, sizeof(v));
        return v;
}

static uint64_t queue_depth(const Peer *p, size_t offset) {
        return peer_pending(p);
}

static uint64_t in_flight(const Peer *p, size_t offset) {
        return p->in_flight;
}

/* One family per counter, a sample per client the asker may see: the
 * families stay contiguous, as the format requires. */
static void om_clients(Broker *b, const Peer *asker, FILE *f) {
        static const ClientCounter counters[] = {
                { "client_signals_sent", NULL, "Send requests handled, per sending client.",
                  offsetof(PeerStats, sent) },
                { "client_signals_delivered", NULL, "Signals written to this client.",
                  offsetof(PeerStats, delivered) },
                { "client_signals_merged", NULL, "Sends coalesced into a signal pending for this client.",
                  offsetof(PeerStats, merged) },
                { "client_signals_refused", NULL, "Signals refused for lack of room, per receiving client.",
                  offsetof(PeerStats, refused) },
                { "client_signals_denied", NULL, "Signals denied by policy, per receiving client.",
                  offsetof(PeerStats, denied) },
                { "client_signals_dropped", NULL, "Pending signals dropped by drop-oldest, per receiving client.",
                  offsetof(PeerStats, dropped) },
                { "client_payload_sent_bytes", "bytes", "Payload bytes sent by this client.",
                  offsetof(PeerStats, bytes_sent) },
                { "client_payload_delivered_bytes", "bytes", "Payload bytes written to this client.",
                  offsetof(PeerStats, bytes_delivered) },
        };

        for (size_t i = 0; i < ELEMENTSOF(counters); i++)
                om_client_family(b, asker, f, counters[i].name, "counter", counters[i].unit, counters[i].help,
                                 stat_at, counters[i].offset);
        om_client_family(b, asker, f, "client_queue_depth", "gauge", NULL,
                         "Signals pending in the broker for this client.", queue_depth, 0);
        om_client_family(b, asker, f, "client_in_flight", "gauge", NULL,
                         "Signals written to this client and not yet acknowledged.", in_flight, 0);
}

void stats_write_openmetrics(Broker *b, const Peer *asker, FILE *f) {
        const Metrics *m = &b->metrics;

        om_counter(f, "signals_sent", NULL, "Send requests handled (probes too).", m->sent);
        om_counter(f, "signals_delivered", NULL, "Signals written to receivers.", m->delivered);
        om_counter(f, "signals_merged", NULL, "Sends coalesced into a pending standard signal.", m->merged);
        om_counter(f, "signals_refused", NULL, "Deliveries refused for lack of room.", m->refused);
        om_counter(f, "signals_denied", NULL, "Deliveries denied by policy.", m->denied);
        om_counter(f, "signals_dropped", NULL, "Pending signals dropped by drop-oldest subscriptions.", m->dropped);
        om_counter(f, "payload_sent_bytes", "bytes", "Payload bytes in send requests.", m->bytes_sent);
        om_counter(f, "payload_delivered_bytes", "bytes", "Payload bytes written to receivers.", m->bytes_delivered);
        om_counter(f, "connections", NULL, "Connections accepted.", m->connections);
        om_counter(f, "disconnections", NULL, "Connections closed.", m->disconnections);
        om_counter(f, "protocol_violations", NULL, "Connections closed for protocol violations.", m->violations);
        om_counter(f, "hello_timeouts", NULL, "Connections closed for not saying HELLO in time.", m->hello_timeouts);
        om_counter(f, "reserve_refused", NULL, "Connections refused: only the reserve for uid 0 and the admin group was left.",
                   m->reserve_refused);
        om_counter(f, "answers_refused", NULL, "Query answers refused for the answer budgets.", m->answers_refused);
        om_counter(f, "monitor_events", NULL, "Events written to monitors.", m->monitor_events);
        om_counter(f, "monitor_events_missed", NULL, "Events monitors missed because they did not read.",
                   m->monitor_missed);
        om_gauge(f, "clients", NULL, "Clients connected.", b->n_peers);
        om_gauge(f, "monitors", NULL, "Clients monitoring the traffic.", n_monitors(b));
        om_gauge(f, "groups", NULL, "Named groups.", b->n_groups);
        om_gauge(f, "pending_signals", NULL, "Signals pending in the broker, all receivers.", b->total_pending);
        om_gauge(f, "pending_bytes", "bytes", "Bytes charged for pending signals.", b->total_bytes);
        om_gauge(f, "in_flight_signals", NULL, "Signals written and not yet acknowledged, all receivers.",
                 total_in_flight(b));
        om_histogram(f, "latency_written_seconds",
                     "From the send to the delivery written to the receiver, per priority band.",
                     m->latency[LATENCY_WRITTEN]);
        om_histogram(f, "latency_acked_seconds",
                     "From the send to the receiver's acknowledgement, per priority band.",
                     m->latency[LATENCY_ACKED]);
        om_clients(b, asker, f);
        fputs("# EOF\n", f);
}
