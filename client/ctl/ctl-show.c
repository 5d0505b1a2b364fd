/*
 * sigbrokerctl's human output of the daemon's answers: stats, clients,
 * groups, status and monitor events, laid out from the parsed JSON in
 * aligned columns that fit 80 columns (a long command or group name may
 * push its own row wider, never the others).
 */

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl-show.h"
#include "protocol.h"

/* ---- formatting ---- */

/* Counts: exact below a million, then 1.2M, 3.4G, 5.6T. */
static const char *fmt_count(uint64_t v, char buf[static 32]) {
        static const char units[] = "MGTPE";
        double d = (double) v;
        int u = -1;

        if (v < 1000000) {
                snprintf(buf, 32, "%llu", (unsigned long long) v);
                return buf;
        }
        while (d >= 999.95e3 && u < 4) {
                d /= 1000;
                u++;
        }
        snprintf(buf, 32, "%.1f%c", d / 1000, units[u]);
        return buf;
}

/* Bytes: exact when a whole number of its unit, else one decimal. */
static const char *fmt_bytes(uint64_t v, char buf[static 32]) {
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
        unsigned u = 0;
        uint64_t div = 1;

        while (u + 1 < sizeof(units) / sizeof(units[0]) && v / div >= 1024) {
                div *= 1024;
                u++;
        }
        if (v % div == 0)
                snprintf(buf, 32, "%llu %s", (unsigned long long) (v / div), units[u]);
        else
                snprintf(buf, 32, "%.1f %s", (double) v / (double) div, units[u]);
        return buf;
}

/* Durations in nanoseconds: 850ns, 12.3us, 4.56ms, 1.23s; '-' for none. */
static const char *fmt_ns(uint64_t ns, char buf[static 32]) {
        if (ns < 1000)
                snprintf(buf, 32, "%lluns", (unsigned long long) ns);
        else if (ns < 1000000)
                snprintf(buf, 32, "%.3gus", (double) ns / 1e3);
        else if (ns < 1000000000)
                snprintf(buf, 32, "%.3gms", (double) ns / 1e6);
        else
                snprintf(buf, 32, "%.3gs", (double) ns / 1e9);
        return buf;
}

static const char *fmt_uptime(uint64_t sec, char buf[static 32]) {
        if (sec >= 86400)
                snprintf(buf, 32, "%llud %lluh", (unsigned long long) (sec / 86400),
                         (unsigned long long) (sec % 86400 / 3600));
        else if (sec >= 3600)
                snprintf(buf, 32, "%lluh %02llumin", (unsigned long long) (sec / 3600),
                         (unsigned long long) (sec % 3600 / 60));
        else if (sec >= 60)
                snprintf(buf, 32, "%llumin %02llus", (unsigned long long) (sec / 60), (unsigned long long) (sec % 60));
        else
                snprintf(buf, 32, "%llus", (unsigned long long) sec);
        return buf;
}

/* Local time of day, with the date in front if with_date. */
static const char *fmt_time(uint64_t realtime_ns, bool with_date, char buf[static 64]) {
        time_t t = (time_t) (realtime_ns / 1000000000u);
        struct tm tm;

        if (!localtime_r(&t, &tm) ||
            strftime(buf, 64, with_date ? "%Y-%m-%d %H:%M:%S" : "%H:%M:%S", &tm) == 0)
                snprintf(buf, 64, "?");
        return buf;
}

/* Two "name value" pairs a line, in two aligned columns. */
typedef struct Pairs {
        int column;
} Pairs;

static void pair(Pairs *ps, const char *name, const char *value) {
        printf(ps->column == 0 ? "  %-23s %10s" : "   %-23s %10s\n", name, value);
        ps->column ^= 1;
}

static void pairs_end(Pairs *ps) {
        if (ps->column)
                putchar('\n');
        ps->column = 0;
}

static void pair_count(Pairs *ps, const char *name, const Json *o, const char *key) {
        char buf[32];
        pair(ps, name, fmt_count(json_get_u64(o, key), buf));
}

static void pair_bytes(Pairs *ps, const char *name, const Json *o, const char *key) {
        char buf[32];
        pair(ps, name, fmt_bytes(json_get_u64(o, key), buf));
}

/* Words separated by spaces, wrapped at 80 columns under indent. */
typedef struct Wrap {
        int indent, column;
} Wrap;

static void wrap_word(Wrap *w, const char *word) {
        int n = (int) strlen(word);

        if (w->column == 0) {
                printf("%*s%s", w->indent, "", word);
                w->column = w->indent + n;
        } else if (w->column + 1 + n > 79) {
                printf("\n%*s%s", w->indent + 2, "", word);
                w->column = w->indent + 2 + n;
        } else {
                printf(" %s", word);
                w->column += 1 + n;
        }
}

static void wrap_end(Wrap *w) {
        if (w->column)
                putchar('\n');
        w->column = 0;
}

/* A list of signal names as the daemon sends them, with runs of three or
 * more consecutive numbers shortened: USR1 RTMIN..RTMIN+4. */
static void wrap_signals(Wrap *w, const char *label, const Json *names) {
        size_t n = json_length(names);
        char word[48];

        if (n == 0)
                return;
        wrap_word(w, label);
        for (size_t i = 0; i < n;) {
                const char *first = json_at(names, i)->string;
                int a = first ? sb_signal_from_string(first) : -1;
                size_t j = i + 1;
                while (a > 0 && j < n && json_at(names, j)->string &&
                       sb_signal_from_string(json_at(names, j)->string) == a + (int) (j - i))
                        j++;
                if (j - i >= 3)
                        snprintf(word, sizeof(word), "%s..%s", first, json_at(names, j - 1)->string);
                else {
                        snprintf(word, sizeof(word), "%s", first ? first : "?");
                        j = i + 1;
                }
                wrap_word(w, word);
                i = j;
        }
}

/* ---- stats ---- */

/* The upper bound of the bucket where the q-quantile falls: what a log2
 * histogram can tell. UINT64_MAX: beyond the last bound. */
static uint64_t quantile_bound(const Json *h, const Json *bounds, double q) {
        const Json *buckets = json_get(h, "buckets");
        uint64_t count = json_get_u64(h, "count"), seen = 0;
        uint64_t rank = (uint64_t) (q * (double) count + 0.999999);

        for (size_t i = 0; i < json_length(buckets); i++) {
                seen += json_u64(json_at(buckets, i));
                if (seen >= rank)
                        return json_u64(json_at(bounds, i));
        }
        return UINT64_MAX;
}

static void latency_row(const char *band, const char *stage, const Json *h, const Json *bounds) {
        static const double qs[] = { 0.5, 0.9, 0.99 };
        uint64_t count = json_get_u64(h, "count");
        char a[32], b[sizeof(a) + 2];

        printf("  %-8s %-9s %9s", band, stage, fmt_count(count, a));
        if (count == 0) {
                printf(" %9s %9s %9s %9s\n", "-", "-", "-", "-");
                return;
        }
        printf(" %9s", fmt_ns(json_get_u64(h, "sum_ns") / count, a));
        for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
                uint64_t v = quantile_bound(h, bounds, qs[i]);
                if (v == UINT64_MAX)
                        snprintf(b, sizeof(b), ">%s", fmt_ns(json_u64(json_at(bounds, json_length(bounds) - 1)), a));
                else
                        snprintf(b, sizeof(b), "<=%s", fmt_ns(v, a));
                printf(" %9s", b);
        }
        putchar('\n');
}

static void show_latency(const Json *latency) {
        const Json *bounds = json_get(latency, "bucket_bounds_ns");
        const Json *bands = json_get(latency, "bands");

        printf("Latency from send to written and to acknowledged, by priority band\n");
        printf("  %-8s %-9s %9s %9s %9s %9s %9s\n", "PRIORITY", "STAGE", "COUNT", "MEAN", "P50", "P90", "P99");
        for (size_t i = 0; i < json_length(bands); i++) {
                const Json *b = json_at(bands, i);
                latency_row(json_get_string(b, "band"), "written", json_get(b, "written"), bounds);
                latency_row("", "acked", json_get(b, "acked"), bounds);
        }
}

static void client_counters_header(void) {
        printf("%6s %7s %-14s %7s %9s %7s %7s %7s %7s\n", "ID", "PID", "COMMAND", "SENT", "DELIVERED", "MERGED",
               "REFUSED", "DENIED", "DROPPED");
}

static void client_counters_row(const Json *c) {
        const Json *k = json_get(c, "counters");
        char v[6][32];

        printf("%6llu %7lld %-14.14s %7s %9s %7s %7s %7s %7s\n", (unsigned long long) json_get_u64(c, "id"),
               (long long) json_get_i64(c, "pid"), json_get_string(c, "comm"),
               fmt_count(json_get_u64(k, "sent"), v[0]), fmt_count(json_get_u64(k, "delivered"), v[1]),
               fmt_count(json_get_u64(k, "merged"), v[2]), fmt_count(json_get_u64(k, "refused"), v[3]),
               fmt_count(json_get_u64(k, "denied"), v[4]), fmt_count(json_get_u64(k, "dropped"), v[5]));
}

void show_stats(const Json *stats) {
        const Json *g = json_get(stats, "global");
        const Json *clients = json_get(stats, "clients");
        Pairs ps = {};

        printf("Signals\n");
        pair_count(&ps, "sent", g, "sent");
        pair_count(&ps, "delivered", g, "delivered");
        pair_count(&ps, "merged", g, "merged");
        pair_count(&ps, "refused (queue full)", g, "refused");
        pair_count(&ps, "denied (policy)", g, "denied");
        pair_count(&ps, "dropped (drop-oldest)", g, "dropped");
        pair_bytes(&ps, "payload sent", g, "bytes_sent");
        pair_bytes(&ps, "payload delivered", g, "bytes_delivered");
        pairs_end(&ps);
        printf("Connections\n");
        pair_count(&ps, "connected", stats, "connections");
        pair_count(&ps, "accepted in all", stats, "connections_total");
        pair_count(&ps, "closed", stats, "disconnections_total");
        pair_count(&ps, "protocol violations", stats, "violations");
        pairs_end(&ps);
        printf("Queues\n");
        pair_count(&ps, "pending", stats, "pending");
        pair_bytes(&ps, "pending bytes", stats, "pending_bytes");
        pair_count(&ps, "in flight (not acked)", stats, "in_flight");
        pair_count(&ps, "named groups", stats, "groups");
        pairs_end(&ps);
        printf("Monitors\n");
        pair_count(&ps, "monitoring", stats, "monitors");
        pair_count(&ps, "events written", stats, "monitor_events");
        pair_count(&ps, "events missed", stats, "monitor_missed");
        pairs_end(&ps);
        putchar('\n');
        show_latency(json_get(stats, "latency"));
        if (json_length(clients) > 0) {
                printf("\nClients\n");
                client_counters_header();
                for (size_t i = 0; i < json_length(clients); i++)
                        client_counters_row(json_at(clients, i));
        }
}

/* ---- clients ---- */

static const char *fmt_id(int64_t v, char buf[static 32]) {
        if (v < 0)
                return "-";     /* the process is gone */
        snprintf(buf, 32, "%lld", (long long) v);
        return buf;
}

void show_clients(const Json *clients) {
        size_t n = json_length(clients);

        if (n == 0) {
                printf("No clients.\n");
                return;
        }
        printf("%6s %7s %5s %5s %7s %7s %-15s %6s %6s %6s\n", "ID", "PID", "UID", "GID", "PGID", "SID", "COMMAND",
               "QUEUE", "FLIGHT", "WINDOW");
        for (size_t i = 0; i < n; i++) {
                const Json *c = json_at(clients, i), *groups = json_get(c, "groups");
                char pgid[32], sid[32], q[32];
                Wrap w = { .indent = 8 };

                printf("%6llu %7lld %5llu %5llu %7s %7s %-15s %6s %6llu %6llu\n",
                       (unsigned long long) json_get_u64(c, "id"), (long long) json_get_i64(c, "pid"),
                       (unsigned long long) json_get_u64(c, "uid"), (unsigned long long) json_get_u64(c, "gid"),
                       fmt_id(json_get_i64(c, "pgid"), pgid), fmt_id(json_get_i64(c, "sid"), sid),
                       json_get_string(c, "comm"), fmt_count(json_get_u64(c, "queue_depth"), q),
                       (unsigned long long) json_get_u64(c, "in_flight"), (unsigned long long) json_get_u64(c, "window"));
                wrap_signals(&w, "subscribed:", json_get(c, "subscriptions"));
                wrap_signals(&w, "drop-oldest:", json_get(c, "drop_oldest"));
                wrap_signals(&w, "blocked:", json_get(c, "blocked"));
                if (json_length(groups) > 0) {
                        wrap_word(&w, "groups:");
                        for (size_t j = 0; j < json_length(groups); j++)
                                wrap_word(&w, json_at(groups, j)->string ? json_at(groups, j)->string : "?");
                }
                if (json_get_bool(c, "monitor"))
                        wrap_word(&w, "monitor");
                wrap_end(&w);
        }
}

/* ---- groups ---- */

static void member_row(const char *group, const char *kind, const Json *m) {
        /* A name longer than its column gets a row of its own. */
        if (strlen(group) > 20) {
                printf("%s\n", group);
                group = "";
        }
        if (!m) {
                printf("%-20s %-13s %6s\n", group, kind, "-");
                return;
        }
        printf("%-20s %-13s %6llu %7lld %5llu %s\n", group, kind, (unsigned long long) json_get_u64(m, "id"),
               (long long) json_get_i64(m, "pid"), (unsigned long long) json_get_u64(m, "uid"),
               json_get_string(m, "comm"));
}

static size_t show_sets(const Json *sets, const char *kind, const char *key) {
        for (size_t i = 0; i < json_length(sets); i++) {
                const Json *s = json_at(sets, i), *members = json_get(s, "members");
                uint64_t size = json_get(s, "size") ? json_get_u64(s, "size") : json_length(members);
                char name[32];
                const char *label;

                if (key) {
                        snprintf(name, sizeof(name), "%lld", (long long) json_get_i64(s, key));
                        label = name;
                } else
                        label = json_get_string(s, "name");
                if (json_length(members) == 0)
                        member_row(label, kind, NULL);
                for (size_t j = 0; j < json_length(members); j++)
                        member_row(j == 0 ? label : "", j == 0 ? kind : "", json_at(members, j));
                if (size > json_length(members))
                        printf("%-20s %-13s (%llu more: other users' clients, not shown)\n", "", "",
                               (unsigned long long) (size - json_length(members)));
        }
        return json_length(sets);
}

void show_groups(const Json *groups) {
        size_t n = 0;

        printf("%-20s %-13s %6s %7s %5s %s\n", "GROUP", "KIND", "ID", "PID", "UID", "COMMAND");
        n += show_sets(json_get(groups, "named"), "named", NULL);
        n += show_sets(json_get(groups, "process_groups"), "process group", "pgid");
        n += show_sets(json_get(groups, "sessions"), "session", "sid");
        if (n == 0)
                printf("(none)\n");
}

/* ---- status ---- */

void show_status(const Json *st) {
        static const struct {
                const char *key, *name;
                bool bytes;
        } limits[] = {
                { "max_queue", "max-queue", false },
                { "max_queue_bytes", "max-queue-bytes", true },
                { "max_payload", "max-payload", true },
                { "default_window", "default-window", false },
                { "max_window", "max-window", false },
                { "max_groups_per_client", "max-groups-per-client", false },
                { "max_connections_per_uid", "max-connections-per-uid", false },
                { "max_connections", "max-connections", false },
                { "max_pending_per_uid", "max-pending-per-uid", false },
                { "max_pending", "max-pending", false },
                { "max_bytes_per_uid", "max-bytes-per-uid", true },
                { "max_bytes", "max-bytes", true },
        };
        const Json *l = json_get(st, "limits");
        char a[64], b[32], c[32];
        Pairs ps = {};

        printf("sigbrokerd %s, pid %lld\n", json_get_string(st, "version"), (long long) json_get_i64(st, "pid"));
        printf("  %-17s %s (since %s)\n", "up:", fmt_uptime(json_get_u64(st, "uptime_sec"), b),
               fmt_time(json_get_u64(st, "started_realtime_ns"), true, a));
        printf("  %-17s %s%s\n", "socket:", json_get_string(st, "socket"),
               json_get_bool(st, "socket_activated") ? " (socket activation)" : "");
        printf("  %-17s %s\n", "config:", json_get_string(st, "config"));
        printf("  %-17s %s", "restart journal:",
               json_get_bool(st, "restart_journal") ? "yes: clients survive a restart" : "no");
        if (json_get_u64(st, "restart_capacity") && json_get_u64(st, "restart_capacity") < json_get_u64(l, "max_connections"))
                printf(", up to %llu of them (max-connections is more)",
                       (unsigned long long) json_get_u64(st, "restart_capacity"));
        printf("\n");
        printf("  %-17s %llu\n", "clients:", (unsigned long long) json_get_u64(st, "clients"));
        printf("  %-17s %llu\n", "named groups:", (unsigned long long) json_get_u64(st, "groups"));
        printf("  %-17s %llu signals, %s\n", "pending:", (unsigned long long) json_get_u64(st, "pending"),
               fmt_bytes(json_get_u64(st, "pending_bytes"), c));
        printf("Limits%s\n", json_get_bool(l, "limit_root") ? " (root too)" : " (uid 0 exempt from the per-uid ones)");
        for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
                if (limits[i].bytes)
                        pair_bytes(&ps, limits[i].name, l, limits[i].key);
                else
                        pair_count(&ps, limits[i].name, l, limits[i].key);
        }
        pairs_end(&ps);
}

/* ---- monitor events ---- */

static void show_peer(const Json *p) {
        printf("client %llu, pid %lld, uid %llu (%s)", (unsigned long long) json_get_u64(p, "id"),
               (long long) json_get_i64(p, "pid"), (unsigned long long) json_get_u64(p, "uid"),
               json_get_string(p, "comm"));
}

static void show_target(const Json *t) {
        const char *kind = json_get_string(t, "kind");

        if (strcmp(kind, "group") == 0)
                printf("group %s", json_get_string(t, "name"));
        else if (strcmp(kind, "broadcast") == 0)
                printf("broadcast");
        else
                printf("%s %llu", *kind ? kind : "target", (unsigned long long) json_get_u64(t, "id"));
}

void show_monitor_event(const Json *e) {
        static const char *const outcomes[] = { "queued", "merged", "refused", "denied" };
        const Json *r = json_get(e, "result"), *rx = json_get(e, "receivers");
        const char *sep = "";
        uint64_t missed = json_get_u64(e, "missed");
        char t[64];

        if (missed > 0)
                printf("-- %llu event%s missed: this monitor did not read fast enough --\n",
                       (unsigned long long) missed, missed == 1 ? "" : "s");
        if (strcmp(json_get_string(e, "type"), "signal") != 0)
                return;
        printf("%s.%06llu %s priority %llu to ",
               fmt_time(json_get_u64(e, "realtime_ns"), false, t),
               (unsigned long long) (json_get_u64(e, "realtime_ns") % 1000000000u / 1000u),
               *json_get_string(e, "name") ? json_get_string(e, "name") : "(invalid signal)",
               (unsigned long long) json_get_u64(e, "priority"));
        show_target(json_get(e, "target"));
        printf(":");
        for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++)
                if (json_get_u64(r, outcomes[i]) > 0) {
                        printf("%s %s %llu", sep, outcomes[i], (unsigned long long) json_get_u64(r, outcomes[i]));
                        sep = ",";
                }
        if (*json_get_string(r, "error"))
                printf(" %s", json_get_string(r, "error"));
        printf("\n  from ");
        show_peer(json_get(e, "sender"));
        putchar('\n');
        for (size_t i = 0; i < json_length(rx); i++) {
                const Json *p = json_at(rx, i);
                const char *outcome = json_get_string(p, "outcome");
                bool dropping = strcmp(outcome, "queued_dropping_oldest") == 0;

                printf("  %-8s ", dropping ? "queued" : outcome);
                show_peer(p);
                printf("%s\n", dropping ? ", dropped its oldest" : "");
        }
        if (json_get_u64(e, "receivers_omitted") > 0)
                printf("  and %llu receivers more\n", (unsigned long long) json_get_u64(e, "receivers_omitted"));
}
