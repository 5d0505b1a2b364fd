/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sigbrokerctl's human output of the daemon's answers: stats, clients,
 * groups, status and monitor events. The answers are read with json-c and
 * laid out by libsmartcols (ctl-table.c); only the values are formatted
 * here: counts (1.2M), bytes (4 MiB), durations and times.
 */

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl-layout.h"

/* ---- reading the answer: what is missing reads as 0, "" or empty, so
 * that a newer daemon's extra or an older one's absent fields do no harm ---- */

static struct json_object *jget(struct json_object *o, const char *key) {
        struct json_object *v = NULL;

        return json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static size_t jlen(struct json_object *a) {
        return json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

static struct json_object *jat(struct json_object *a, size_t i) {
        return i < jlen(a) ? json_object_array_get_idx(a, i) : NULL;
}

static uint64_t ju64(struct json_object *o, const char *key) {
        return json_object_get_uint64(jget(o, key));
}

static int64_t ji64(struct json_object *o, const char *key) {
        return json_object_get_int64(jget(o, key));
}

static const char *jstr(struct json_object *o, const char *key) {
        struct json_object *v = jget(o, key);

        return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
}

static const char *jstr_at(struct json_object *a, size_t i) {
        struct json_object *v = jat(a, i);

        return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* ---- values ---- */

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

static const char *fmt_id(int64_t v, char buf[static 32]) {
        if (v < 0)
                return "-";     /* the process is gone */
        snprintf(buf, 32, "%lld", (long long) v);
        return buf;
}

/* Signal names as the daemon sends them, space-separated, with runs of
 * three or more consecutive numbers shortened: "USR1 RTMIN..RTMIN+4". */
static char *signal_list(struct json_object *names) {
        size_t n = jlen(names), size = 0;
        char *s = NULL;
        FILE *f = open_memstream(&s, &size);

        if (!f)
                return NULL;
        for (size_t i = 0; i < n;) {
                const char *first = jstr_at(names, i);
                int a = first ? sigbroker_signal_from_string(first) : -1;
                size_t j = i + 1;

                while (a > 0 && j < n && jstr_at(names, j) &&
                       sigbroker_signal_from_string(jstr_at(names, j)) == a + (int) (j - i))
                        j++;
                if (j - i >= 3)
                        fprintf(f, "%s%s..%s", i ? " " : "", first, jstr_at(names, j - 1));
                else {
                        fprintf(f, "%s%s", i ? " " : "", first ? first : "?");
                        j = i + 1;
                }
                i = j;
        }
        if (fclose(f) != 0)
                return NULL;
        return s;
}

static char *string_list(struct json_object *names) {
        size_t size = 0;
        char *s = NULL;
        FILE *f = open_memstream(&s, &size);

        if (!f)
                return NULL;
        for (size_t i = 0; i < jlen(names); i++)
                fprintf(f, "%s%s", i ? " " : "", jstr_at(names, i) ? jstr_at(names, i) : "?");
        if (fclose(f) != 0)
                return NULL;
        return s;
}

/* ---- name/value sections (stats, status): tables without headings, two
 * pairs a row, the same widths in every section so that they line up ---- */

static const CtlColumn pair_columns[] = {
        { "NAME", 23, SCOLS_FL_STRICTWIDTH, SCOLS_JSON_STRING, true, "" },
        { "VALUE", 10, SCOLS_FL_RIGHT | SCOLS_FL_STRICTWIDTH, SCOLS_JSON_STRING, true, "" },
        { "NAME2", 23, SCOLS_FL_STRICTWIDTH, SCOLS_JSON_STRING, true, "" },
        { "VALUE2", 10, SCOLS_FL_RIGHT | SCOLS_FL_STRICTWIDTH, SCOLS_JSON_STRING, true, "" },
};

/* One pair a row (status): the values are sentences, left-aligned. */
static const CtlColumn single_columns[] = {
        { "NAME", 17, SCOLS_FL_STRICTWIDTH, SCOLS_JSON_STRING, true, "" },
        { "VALUE", 0, 0, SCOLS_JSON_STRING, true, "" },
};

typedef struct Pairs {
        const Ctl *ctl;
        CtlTable t;
        bool open;
        struct libscols_line *row;
        size_t column, width;           /* width: 2 (one pair a row) or 4 columns */
} Pairs;

static int pairs_flush(Pairs *ps) {
        int r = 0;

        if (ps->open) {
                r = ctl_table_print(&ps->t);
                ctl_table_done(&ps->t);
        }
        ps->open = false;
        ps->row = NULL;
        return r;
}

/* A section: its title (not with --no-legend), then pairs, one or two a
 * row. The previous section is printed first. */
static int pairs_section(Pairs *ps, const char *title, size_t per_row) {
        const Ctl text = { .command = ps->ctl->command, .no_legend = true };
        int r = pairs_flush(ps);

        if (r < 0)
                return r;
        if (title && !ps->ctl->no_legend)
                printf("%s\n", title);
        ps->width = per_row * 2;
        r = ctl_table_new(&ps->t, &text, "pairs", per_row == 1 ? single_columns : pair_columns, ps->width);
        ps->open = r >= 0;
        return r;
}

static void pair(Pairs *ps, const char *name, const char *value) {
        char label[64];

        if (!ps->open)
                return;
        if (!ps->row || ps->column == ps->width) {
                ps->row = ctl_table_row(&ps->t);
                ps->column = 0;
        }
        snprintf(label, sizeof(label), "%s%s", !ps->ctl->no_legend && ps->column == 0 ? "  " : "", name);
        ctl_table_set(&ps->t, ps->row, ps->column, label);
        ctl_table_set(&ps->t, ps->row, ps->column + 1, value);
        ps->column += 2;
}

static void pair_count(Pairs *ps, const char *name, struct json_object *o, const char *key) {
        char buf[32];
        pair(ps, name, fmt_count(ju64(o, key), buf));
}

static void pair_bytes(Pairs *ps, const char *name, struct json_object *o, const char *key) {
        char buf[32];
        pair(ps, name, fmt_bytes(ju64(o, key), buf));
}

/* ---- stats ---- */

enum { LAT_PRIORITY, LAT_STAGE, LAT_COUNT, LAT_MEAN, LAT_P50, LAT_P90, LAT_P99 };
static const CtlColumn latency_columns[] = {
        [LAT_PRIORITY] = { "PRIORITY", 0, 0, SCOLS_JSON_STRING, true, "" },
        [LAT_STAGE] = { "STAGE", 0, 0, SCOLS_JSON_STRING, true, "" },
        [LAT_COUNT] = { "COUNT", 0, SCOLS_FL_RIGHT, SCOLS_JSON_STRING, true, "" },
        [LAT_MEAN] = { "MEAN", 0, SCOLS_FL_RIGHT, SCOLS_JSON_STRING, true, "" },
        [LAT_P50] = { "P50", 0, SCOLS_FL_RIGHT, SCOLS_JSON_STRING, true, "" },
        [LAT_P90] = { "P90", 0, SCOLS_FL_RIGHT, SCOLS_JSON_STRING, true, "" },
        [LAT_P99] = { "P99", 0, SCOLS_FL_RIGHT, SCOLS_JSON_STRING, true, "" },
};

/* The upper bound of the bucket where the q-quantile falls: what a log2
 * histogram can tell. UINT64_MAX: beyond the last bound. */
static uint64_t quantile_bound(struct json_object *h, struct json_object *bounds, double q) {
        struct json_object *buckets = jget(h, "buckets");
        uint64_t count = ju64(h, "count"), seen = 0;
        uint64_t rank = (uint64_t) (q * (double) count + 0.999999);

        for (size_t i = 0; i < jlen(buckets); i++) {
                seen += json_object_get_uint64(jat(buckets, i));
                if (seen >= rank)
                        return json_object_get_uint64(jat(bounds, i));
        }
        return UINT64_MAX;
}

static void latency_row(CtlTable *t, const char *band, const char *stage, struct json_object *h,
                        struct json_object *bounds) {
        static const double qs[] = { 0.5, 0.9, 0.99 };
        struct libscols_line *row = ctl_table_row(t);
        uint64_t count = ju64(h, "count");
        char a[32], b[sizeof(a) + 2];

        ctl_table_set(t, row, LAT_PRIORITY, band);
        ctl_table_set(t, row, LAT_STAGE, stage);
        ctl_table_set(t, row, LAT_COUNT, fmt_count(count, a));
        if (count == 0) {
                for (size_t i = LAT_MEAN; i <= LAT_P99; i++)
                        ctl_table_set(t, row, i, "-");
                return;
        }
        ctl_table_set(t, row, LAT_MEAN, fmt_ns(ju64(h, "sum_ns") / count, a));
        for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
                uint64_t v = quantile_bound(h, bounds, qs[i]);
                if (v == UINT64_MAX)
                        snprintf(b, sizeof(b), ">%s", fmt_ns(json_object_get_uint64(jat(bounds, jlen(bounds) - 1)), a));
                else
                        snprintf(b, sizeof(b), "<=%s", fmt_ns(v, a));
                ctl_table_set(t, row, LAT_P50 + i, b);
        }
}

static int show_latency(const Ctl *ctl, struct json_object *latency) {
        struct json_object *bounds = jget(latency, "bucket_bounds_ns"), *bands = jget(latency, "bands");
        CtlTable t;
        int r;

        if (ctl_table_new(&t, ctl, "latency", latency_columns, sizeof(latency_columns) / sizeof(latency_columns[0])) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < jlen(bands); i++) {
                struct json_object *b = jat(bands, i);
                latency_row(&t, jstr(b, "band"), "written", jget(b, "written"), bounds);
                latency_row(&t, ctl->no_legend ? jstr(b, "band") : "", "acked", jget(b, "acked"), bounds);
        }
        if (!ctl->no_legend)
                printf("Latency from send to written and to acknowledged, by priority band\n");
        r = ctl_table_print(&t);
        ctl_table_done(&t);
        return r;
}

enum { ST_ID, ST_PID, ST_COMMAND, ST_SENT, ST_DELIVERED, ST_MERGED, ST_REFUSED, ST_DENIED, ST_DROPPED, ST_BYTES_SENT,
       ST_BYTES_DELIVERED };
const CtlColumn ctl_stats_columns[] = {
        [ST_ID] = { "ID", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, true, "client id" },
        [ST_PID] = { "PID", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, true, "process id" },
        [ST_COMMAND] = { "COMMAND", 0, 0, SCOLS_JSON_STRING, true, "command name" },
        [ST_SENT] = { "SENT", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, true, "signals sent" },
        [ST_DELIVERED] = { "DELIVERED", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, true, "signals delivered to it" },
        [ST_MERGED] = { "MERGED", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, true, "merged into a pending one" },
        [ST_REFUSED] = { "REFUSED", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, true, "refused: queue full" },
        [ST_DENIED] = { "DENIED", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, true, "denied by the policy" },
        [ST_DROPPED] = { "DROPPED", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, true, "dropped for drop-oldest" },
        [ST_BYTES_SENT] = { "BYTES-SENT", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, false, "payload bytes sent" },
        [ST_BYTES_DELIVERED] = { "BYTES-DELIVERED", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, false,
                                 "payload bytes delivered" },
};
const size_t ctl_stats_n_columns = sizeof(ctl_stats_columns) / sizeof(ctl_stats_columns[0]);

/* The per-client counters: the only table of stats that -o selects from. */
static int show_client_counters(const Ctl *ctl, struct json_object *clients) {
        static const char *const keys[] = {
                [ST_SENT] = "sent", [ST_DELIVERED] = "delivered", [ST_MERGED] = "merged",
                [ST_REFUSED] = "refused", [ST_DENIED] = "denied", [ST_DROPPED] = "dropped",
                [ST_BYTES_SENT] = "bytes_sent", [ST_BYTES_DELIVERED] = "bytes_delivered",
        };
        CtlTable t;
        int r;

        if (ctl_table_new(&t, ctl, "clients", ctl_stats_columns, ctl_stats_n_columns) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < jlen(clients); i++) {
                struct json_object *c = jat(clients, i), *k = jget(c, "counters");
                struct libscols_line *row = ctl_table_row(&t);
                char v[32];

                ctl_table_setf(&t, row, ST_ID, "%llu", (unsigned long long) ju64(c, "id"));
                ctl_table_setf(&t, row, ST_PID, "%lld", (long long) ji64(c, "pid"));
                ctl_table_set(&t, row, ST_COMMAND, jstr(c, "comm"));
                for (size_t j = ST_SENT; j <= ST_BYTES_DELIVERED; j++)
                        ctl_table_set(&t, row, j,
                                      ctl->json ? (snprintf(v, sizeof(v), "%llu", (unsigned long long) ju64(k, keys[j])), v)
                                      : j >= ST_BYTES_SENT ? fmt_bytes(ju64(k, keys[j]), v)
                                                           : fmt_count(ju64(k, keys[j]), v));
        }
        r = ctl_table_print(&t);
        ctl_table_done(&t);
        return r;
}

int show_stats(const Ctl *ctl, struct json_object *stats) {
        /* The counters, by section: a title starts one. in_global: the
         * key is in "global", else at the top of the answer. */
        static const struct {
                const char *title, *label, *key;
                bool in_global, bytes;
        } counters[] = {
                { "Signals", "sent", "sent", true, false },
                { NULL, "delivered", "delivered", true, false },
                { NULL, "merged", "merged", true, false },
                { NULL, "refused (queue full)", "refused", true, false },
                { NULL, "denied (policy)", "denied", true, false },
                { NULL, "dropped (drop-oldest)", "dropped", true, false },
                { NULL, "payload sent", "bytes_sent", true, true },
                { NULL, "payload delivered", "bytes_delivered", true, true },
                { "Connections", "connected", "connections", false, false },
                { NULL, "accepted in all", "connections_total", false, false },
                { NULL, "closed", "disconnections_total", false, false },
                { NULL, "protocol violations", "violations", false, false },
                { "Queues", "pending", "pending", false, false },
                { NULL, "pending bytes", "pending_bytes", false, true },
                { NULL, "in flight (not acked)", "in_flight", false, false },
                { NULL, "named groups", "groups", false, false },
                { "Monitors", "monitoring", "monitors", false, false },
                { NULL, "events written", "monitor_events", false, false },
                { NULL, "events missed", "monitor_missed", false, false },
        };
        struct json_object *g = jget(stats, "global"), *clients = jget(stats, "clients");
        Pairs ps = { .ctl = ctl };
        int r;

        if (ctl->output)
                return show_client_counters(ctl, clients);
        for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
                struct json_object *o = counters[i].in_global ? g : stats;

                if (counters[i].title && pairs_section(&ps, counters[i].title, 2) < 0)
                        return -ENOMEM;
                if (counters[i].bytes)
                        pair_bytes(&ps, counters[i].label, o, counters[i].key);
                else
                        pair_count(&ps, counters[i].label, o, counters[i].key);
        }
        r = pairs_flush(&ps);
        if (r < 0)
                return r;
        if (!ctl->no_legend)
                putchar('\n');
        r = show_latency(ctl, jget(stats, "latency"));
        if (r < 0 || jlen(clients) == 0)
                return r;
        if (!ctl->no_legend)
                printf("\nClients\n");
        return show_client_counters(ctl, clients);
}

/* ---- clients ---- */

enum { CL_ID, CL_PID, CL_UID, CL_GID, CL_PGID, CL_SID, CL_COMMAND, CL_QUEUE, CL_FLIGHT, CL_WINDOW, CL_SIGNALS,
       CL_GROUPS, CL_DROP_OLDEST, CL_BLOCKED, CL_MONITOR, CL_HELD, CL_BYTES, CL_CONNECTED };
const CtlColumn ctl_clients_columns[] = {
        [CL_ID] = { "ID", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, true, "client id" },
        [CL_PID] = { "PID", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, true, "process id" },
        [CL_UID] = { "UID", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, true, "user id" },
        [CL_GID] = { "GID", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, false, "group id" },
        [CL_PGID] = { "PGID", 0, SCOLS_FL_RIGHT, SCOLS_JSON_STRING, true, "process group now ('-': gone)" },
        [CL_SID] = { "SID", 0, SCOLS_FL_RIGHT, SCOLS_JSON_STRING, true, "session now ('-': gone)" },
        [CL_COMMAND] = { "COMMAND", 0, 0, SCOLS_JSON_STRING, true, "command name" },
        [CL_QUEUE] = { "QUEUE", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, true, "signals pending for it" },
        [CL_FLIGHT] = { "FLIGHT", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, true, "written, not yet acknowledged" },
        [CL_WINDOW] = { "WINDOW", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, true, "its window" },
        [CL_SIGNALS] = { "SIGNALS", 0, SCOLS_FL_WRAP, SCOLS_JSON_STRING, true, "signals subscribed" },
        [CL_GROUPS] = { "GROUPS", 0, SCOLS_FL_WRAP, SCOLS_JSON_STRING, true, "named groups joined" },
        [CL_DROP_OLDEST] = { "DROP-OLDEST", 0, 0, SCOLS_JSON_STRING, false, "signals subscribed with drop-oldest" },
        [CL_BLOCKED] = { "BLOCKED", 0, 0, SCOLS_JSON_STRING, false, "its blocked signals" },
        [CL_MONITOR] = { "MONITOR", 0, 0, SCOLS_JSON_BOOLEAN, false, "whether it monitors" },
        [CL_HELD] = { "HELD", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, false, "pending and blocked" },
        [CL_BYTES] = { "BYTES", 0, SCOLS_FL_RIGHT, SCOLS_JSON_STRING, false, "payload bytes pending for it" },
        [CL_CONNECTED] = { "CONNECTED", 0, SCOLS_FL_RIGHT, SCOLS_JSON_STRING, false, "time connected" },
};
const size_t ctl_clients_n_columns = sizeof(ctl_clients_columns) / sizeof(ctl_clients_columns[0]);

int show_clients(const Ctl *ctl, struct json_object *clients) {
        size_t n = jlen(clients);
        CtlTable t;
        int r;

        if (n == 0 && !ctl->json) {
                if (!ctl->no_legend)
                        printf("No clients.\n");
                return 0;
        }
        if (ctl_table_new(&t, ctl, "clients", ctl_clients_columns, ctl_clients_n_columns) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                struct json_object *c = jat(clients, i);
                struct libscols_line *row = ctl_table_row(&t);
                _cleanup_(freep) char *subscribed = signal_list(jget(c, "subscriptions"));
                _cleanup_(freep) char *drop = signal_list(jget(c, "drop_oldest"));
                _cleanup_(freep) char *blocked = signal_list(jget(c, "blocked"));
                _cleanup_(freep) char *groups = string_list(jget(c, "groups"));
                char v[32];

                ctl_table_setf(&t, row, CL_ID, "%llu", (unsigned long long) ju64(c, "id"));
                ctl_table_setf(&t, row, CL_PID, "%lld", (long long) ji64(c, "pid"));
                ctl_table_setf(&t, row, CL_UID, "%llu", (unsigned long long) ju64(c, "uid"));
                ctl_table_setf(&t, row, CL_GID, "%llu", (unsigned long long) ju64(c, "gid"));
                ctl_table_set(&t, row, CL_PGID, fmt_id(ji64(c, "pgid"), v));
                ctl_table_set(&t, row, CL_SID, fmt_id(ji64(c, "sid"), v));
                ctl_table_set(&t, row, CL_COMMAND, jstr(c, "comm"));
                ctl_table_setf(&t, row, CL_QUEUE, "%llu", (unsigned long long) ju64(c, "queue_depth"));
                ctl_table_setf(&t, row, CL_FLIGHT, "%llu", (unsigned long long) ju64(c, "in_flight"));
                ctl_table_setf(&t, row, CL_WINDOW, "%llu", (unsigned long long) ju64(c, "window"));
                ctl_table_set(&t, row, CL_SIGNALS, subscribed);
                ctl_table_set(&t, row, CL_GROUPS, groups);
                ctl_table_set(&t, row, CL_DROP_OLDEST, drop);
                ctl_table_set(&t, row, CL_BLOCKED, blocked);
                ctl_table_set(&t, row, CL_MONITOR, json_object_get_boolean(jget(c, "monitor")) ? "true" : "false");
                ctl_table_setf(&t, row, CL_HELD, "%llu", (unsigned long long) ju64(c, "held"));
                ctl_table_set(&t, row, CL_BYTES, fmt_bytes(ju64(c, "queue_bytes"), v));
                ctl_table_set(&t, row, CL_CONNECTED, fmt_uptime(ju64(c, "connected_sec"), v));
        }
        r = ctl_table_print(&t);
        ctl_table_done(&t);
        return r;
}

/* ---- groups ---- */

enum { GR_GROUP, GR_KIND, GR_ID, GR_PID, GR_UID, GR_COMMAND };
const CtlColumn ctl_groups_columns[] = {
        [GR_GROUP] = { "GROUP", 0, 0, SCOLS_JSON_STRING, true, "group name, process group or session id" },
        [GR_KIND] = { "KIND", 0, 0, SCOLS_JSON_STRING, true, "named, process group or session" },
        [GR_ID] = { "ID", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, true, "member's client id" },
        [GR_PID] = { "PID", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, true, "member's process id" },
        [GR_UID] = { "UID", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, true, "member's user id" },
        [GR_COMMAND] = { "COMMAND", 0, 0, SCOLS_JSON_STRING, true, "member's command name" },
};
const size_t ctl_groups_n_columns = sizeof(ctl_groups_columns) / sizeof(ctl_groups_columns[0]);

/* Rows of each set's members; the set's name on its first row only, but on
 * every one in JSON. Returns how many members were left out. */
static uint64_t group_rows(const Ctl *ctl, CtlTable *t, struct json_object *sets, const char *kind, const char *key) {
        uint64_t hidden = 0;

        for (size_t i = 0; i < jlen(sets); i++) {
                struct json_object *s = jat(sets, i), *members = jget(s, "members");
                uint64_t size = jget(s, "size") ? ju64(s, "size") : jlen(members);
                char label[32];

                if (key)
                        snprintf(label, sizeof(label), "%lld", (long long) ji64(s, key));
                for (size_t j = 0; j == 0 || j < jlen(members); j++) {
                        struct json_object *m = jat(members, j);
                        struct libscols_line *row = ctl_table_row(t);

                        if (j == 0 || ctl->json) {
                                ctl_table_set(t, row, GR_GROUP, key ? label : jstr(s, "name"));
                                ctl_table_set(t, row, GR_KIND, kind);
                        }
                        if (!m)
                                break;
                        ctl_table_setf(t, row, GR_ID, "%llu", (unsigned long long) ju64(m, "id"));
                        ctl_table_setf(t, row, GR_PID, "%lld", (long long) ji64(m, "pid"));
                        ctl_table_setf(t, row, GR_UID, "%llu", (unsigned long long) ju64(m, "uid"));
                        ctl_table_set(t, row, GR_COMMAND, jstr(m, "comm"));
                }
                if (size > jlen(members))
                        hidden += size - jlen(members);
        }
        return hidden;
}

int show_groups(const Ctl *ctl, struct json_object *groups) {
        uint64_t hidden = 0;
        CtlTable t;
        int r;

        if (ctl_table_new(&t, ctl, "groups", ctl_groups_columns, ctl_groups_n_columns) < 0)
                return -ENOMEM;
        hidden += group_rows(ctl, &t, jget(groups, "named"), "named", NULL);
        hidden += group_rows(ctl, &t, jget(groups, "process_groups"), "process group", "pgid");
        hidden += group_rows(ctl, &t, jget(groups, "sessions"), "session", "sid");
        r = ctl_table_print(&t);
        ctl_table_done(&t);
        if (r >= 0 && hidden > 0 && !ctl->no_legend && !ctl->json)
                printf("(%llu more: other users' clients, not shown)\n", (unsigned long long) hidden);
        return r;
}

/* ---- status ---- */

int show_status(const Ctl *ctl, struct json_object *st) {
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
        struct json_object *l = jget(st, "limits"), *sockets = jget(st, "sockets");
        char a[64], b[32], c[96];
        Pairs ps = { .ctl = ctl };

        snprintf(c, sizeof(c), "sigbrokerd %s, pid %lld", jstr(st, "version"), (long long) ji64(st, "pid"));
        if (pairs_section(&ps, c, 1) < 0)
                return -ENOMEM;
        snprintf(c, sizeof(c), "%s (since %s)", fmt_uptime(ju64(st, "uptime_sec"), b),
                 fmt_time(ju64(st, "started_realtime_ns"), true, a));
        pair(&ps, "up:", c);
        /* A daemon that reports each listening socket lists them all. */
        for (size_t i = 0; i < jlen(sockets); i++)
                pair(&ps, i == 0 ? "socket:" : "", jstr_at(sockets, i) ? jstr_at(sockets, i) : jstr(jat(sockets, i), "path"));
        if (jlen(sockets) == 0) {
                snprintf(c, sizeof(c), "%s%s", jstr(st, "socket"),
                         json_object_get_boolean(jget(st, "socket_activated")) ? " (socket activation)" : "");
                pair(&ps, "socket:", c);
        }
        pair(&ps, "config:", jstr(st, "config"));
        if (!json_object_get_boolean(jget(st, "restart_journal")))
                pair(&ps, "restart journal:", "no");
        else if (ju64(st, "restart_capacity") && ju64(st, "restart_capacity") < ju64(l, "max_connections")) {
                snprintf(c, sizeof(c), "yes: clients survive a restart, up to %llu of them (max-connections is more)",
                         (unsigned long long) ju64(st, "restart_capacity"));
                pair(&ps, "restart journal:", c);
        } else
                pair(&ps, "restart journal:", "yes: clients survive a restart");
        pair_count(&ps, "clients:", st, "clients");
        pair_count(&ps, "named groups:", st, "groups");
        snprintf(c, sizeof(c), "%llu signals, %s", (unsigned long long) ju64(st, "pending"),
                 fmt_bytes(ju64(st, "pending_bytes"), b));
        pair(&ps, "pending:", c);
        if (pairs_section(&ps, json_object_get_boolean(jget(l, "limit_root")) ? "Limits (root too)"
                                                                               : "Limits (uid 0 exempt from the per-uid ones)",
                          2) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
                if (limits[i].bytes)
                        pair_bytes(&ps, limits[i].name, l, limits[i].key);
                else
                        pair_count(&ps, limits[i].name, l, limits[i].key);
        }
        return pairs_flush(&ps);
}

/* ---- monitor events: one line each, not a table ---- */

static void show_peer(struct json_object *p) {
        printf("client %llu, pid %lld, uid %llu (%s)", (unsigned long long) ju64(p, "id"), (long long) ji64(p, "pid"),
               (unsigned long long) ju64(p, "uid"), jstr(p, "comm"));
}

static void show_target(struct json_object *t) {
        const char *kind = jstr(t, "kind");

        if (strcmp(kind, "group") == 0)
                printf("group %s", jstr(t, "name"));
        else if (strcmp(kind, "broadcast") == 0)
                printf("broadcast");
        else
                printf("%s %llu", *kind ? kind : "target", (unsigned long long) ju64(t, "id"));
}

void show_monitor_event(struct json_object *e) {
        static const char *const outcomes[] = { "queued", "merged", "refused", "denied" };
        struct json_object *r = jget(e, "result"), *rx = jget(e, "receivers");
        const char *sep = "";
        uint64_t missed = ju64(e, "missed");
        char t[64];

        if (missed > 0)
                printf("-- %llu event%s missed: this monitor did not read fast enough --\n",
                       (unsigned long long) missed, missed == 1 ? "" : "s");
        if (strcmp(jstr(e, "type"), "signal") != 0)
                return;
        printf("%s.%06llu %s priority %llu to ", fmt_time(ju64(e, "realtime_ns"), false, t),
               (unsigned long long) (ju64(e, "realtime_ns") % 1000000000u / 1000u),
               *jstr(e, "name") ? jstr(e, "name") : "(invalid signal)", (unsigned long long) ju64(e, "priority"));
        show_target(jget(e, "target"));
        printf(":");
        for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++)
                if (ju64(r, outcomes[i]) > 0) {
                        printf("%s %s %llu", sep, outcomes[i], (unsigned long long) ju64(r, outcomes[i]));
                        sep = ",";
                }
        if (*jstr(r, "error"))
                printf(" %s", jstr(r, "error"));
        printf("\n  from ");
        show_peer(jget(e, "sender"));
        putchar('\n');
        for (size_t i = 0; i < jlen(rx); i++) {
                struct json_object *p = jat(rx, i);
                const char *outcome = jstr(p, "outcome");
                bool dropping = strcmp(outcome, "queued_dropping_oldest") == 0;

                printf("  %-8s ", dropping ? "queued" : outcome);
                show_peer(p);
                printf("%s\n", dropping ? ", dropped its oldest" : "");
        }
        if (ju64(e, "receivers_omitted") > 0)
                printf("  and %llu receivers more\n", (unsigned long long) ju64(e, "receivers_omitted"));
}
