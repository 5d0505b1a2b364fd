/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Observability against the real daemon: the counters and latency
 * histograms of STATS add up to the traffic the test made, each counter
 * moves where its event happens, the OpenMetrics text passes a strict
 * checker, and the monitor stream sees every routed send, also when it
 * falls behind (it is told how many events it missed). Runs as any user:
 * the config makes the test's group the admin group. Other users, the
 * journal and sigbrokerctl's tables are in test-observability.sh and
 * test-journal.sh. */

#include <check.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "harness.h"
#include "sigbroker.h"

/* The daemon's JSON, read with json-c as sigbrokerctl reads it: a missing
 * member reads as NULL, 0 or "". */
typedef struct json_object Json;

static Json *json_get(const Json *o, const char *key) {
        Json *v = NULL;
        return json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static size_t json_length(const Json *a) {
        return json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

static Json *json_at(const Json *a, size_t i) {
        return i < json_length(a) ? json_object_array_get_idx(a, i) : NULL;
}

static uint64_t json_u64(const Json *j) {
        return json_object_get_uint64(j);
}

static uint64_t json_get_u64(const Json *o, const char *key) {
        return json_u64(json_get(o, key));
}

static int64_t json_get_i64(const Json *o, const char *key) {
        return json_object_get_int64(json_get(o, key));
}

static const char *json_get_string(const Json *o, const char *key) {
        Json *v = json_get(o, key);
        return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
}

/* A member that is there, and null. */
static bool json_has_null(const Json *o, const char *key) {
        Json *v = NULL;
        return json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &v) && !v;
}

static void json_free(Json *j) {
        json_object_put(j);
}

static Json *json_parse_or_fail(const char *text, const char *what) {
        enum json_tokener_error e;
        Json *j = json_tokener_parse_verbose(text, &e);

        ck_assert_msg(j, "%s is not JSON (%s): %s", what, json_tokener_error_desc(e), text);
        return j;
}

#define RTMIN 34
#define BANDS 4

static char admin_config[256];

static void make_admin_config(const char *extra) {
        snprintf(admin_config, sizeof(admin_config), "[admin]\ngroup = %u\n%s", (unsigned) getgid(),
                 extra ? extra : "");
}

static sigbroker *connect_or_die(const char *path, unsigned window) {
        sigbroker *sb = NULL;
        ck_assert_int_eq(sigbroker_connect_with(path, window, &sb), 0);
        return sb;
}

static uint64_t client_id(sigbroker *sb) {
        uint64_t id;
        ck_assert_int_eq(sigbroker_get_client_id(sb, &id), 0);
        return id;
}

static Json *query_json(sigbroker *sb, int kind) {
        char *text = NULL;
        Json *j;

        ck_assert_int_eq(sigbroker_query(sb, kind, 0, 0, &text), 0);
        j = json_parse_or_fail(text, "the answer");
        free(text);
        return j;
}

static Json *histogram(const Json *stats, unsigned band, const char *stage) {
        Json *h = json_get(json_at(json_get(json_get(stats, "latency"), "bands"), band), stage);
        ck_assert_msg(h, "no %s histogram for band %u", stage, band);
        return h;
}

static uint64_t observations(const Json *stats, const char *stage) {
        uint64_t n = 0;
        for (unsigned band = 0; band < BANDS; band++)
                n += json_get_u64(histogram(stats, band, stage), "count");
        return n;
}

static const Json *find_client(const Json *clients, uint64_t id) {
        for (size_t i = 0; i < json_length(clients); i++)
                if (json_get_u64(json_at(clients, i), "id") == id)
                        return json_at(clients, i);
        ck_abort_msg("client %llu not listed", (unsigned long long) id);
        return NULL;
}

static uint64_t counter(const Json *stats, uint64_t id, const char *name) {
        const Json *o = id ? json_get(find_client(json_get(stats, "clients"), id), "counters")
                           : json_get(stats, "global");
        ck_assert_msg(json_get(o, name), "no counter %s", name);
        return json_get_u64(o, name);
}

/* A histogram is consistent: buckets never more than the count, a sum of
 * at least count * 0 and (for a non-empty one) positive, 32 buckets. */
static void check_histogram(const Json *h) {
        const Json *buckets = json_get(h, "buckets");
        uint64_t in_buckets = 0, count = json_get_u64(h, "count");

        ck_assert_uint_eq(json_length(buckets), 32);
        for (size_t i = 0; i < json_length(buckets); i++)
                in_buckets += json_u64(json_at(buckets, i));
        ck_assert_uint_le(in_buckets, count);
        if (count > 0)
                ck_assert_uint_gt(json_get_u64(h, "sum_ns"), 0);
}

static char *run_ctl(const TestDaemon *d, const char *args, int *ret_status) {
        const char *ctl = getenv("SIGBROKERCTL");
        char cmd[512];

        ck_assert_msg(ctl, "SIGBROKERCTL is not set (run the tests through meson)");
        snprintf(cmd, sizeof(cmd), "'%s' --socket '%s' %s", ctl, d->socket, args);
        return run_capture(cmd, ret_status);
}

/* ---- counters and histograms add up to the traffic ---- */

START_TEST(test_counters_and_latency_match_the_traffic) {
        enum { N = 40 };
        uint64_t per_band[BANDS] = {}, bytes = 0, rx_id, tx_id;
        sigbroker_target t = { .kind = SIGBROKER_TARGET_CLIENT };
        sigbroker *rx, *tx;
        sigbroker_info info;
        Json *stats = NULL;
        TestDaemon d;
        char payload[8] = "abcdefg";
        int status;
        char *out;

        make_admin_config(NULL);
        daemon_start(&d, admin_config, NULL);
        rx = connect_or_die(d.socket, 0);
        tx = connect_or_die(d.socket, 0);
        rx_id = client_id(rx);
        tx_id = client_id(tx);
        ck_assert_int_eq(sigbroker_subscribe(rx, SIGBROKER_SIGMASK(RTMIN + 1), 0), 0);

        t.id = rx_id;
        for (int i = 0; i < N; i++) {
                int prio = (i * 37) % 100;
                size_t len = (size_t) (i % 8);
                ck_assert_int_eq(sigbroker_send(tx, &t, RTMIN + 1, prio, payload, len, NULL), 0);
                per_band[prio / 25]++;
                bytes += len;
        }
        for (int i = 0; i < N; i++)
                ck_assert_int_eq(sigbroker_wait(rx, 5000000, &info), RTMIN + 1);
        /* Waiting for more sends the acknowledgements first. */
        ck_assert_int_eq(sigbroker_wait(rx, 100000, &info), -EAGAIN);

        for (int i = 0; i < 500; i++) {
                json_free(stats);
                stats = query_json(tx, SIGBROKER_QUERY_STATS);
                if (observations(stats, "acked") >= N)
                        break;
                usleep(10000);
        }
        ck_assert_uint_eq(counter(stats, 0, "sent"), N);
        ck_assert_uint_eq(counter(stats, 0, "delivered"), N);
        ck_assert_uint_eq(counter(stats, 0, "bytes_sent"), bytes);
        ck_assert_uint_eq(counter(stats, 0, "bytes_delivered"), bytes);
        ck_assert_uint_eq(counter(stats, 0, "merged"), 0);
        ck_assert_uint_eq(counter(stats, 0, "refused"), 0);
        ck_assert_uint_eq(counter(stats, 0, "denied"), 0);
        ck_assert_uint_eq(counter(stats, 0, "dropped"), 0);
        ck_assert_uint_eq(counter(stats, tx_id, "sent"), N);
        ck_assert_uint_eq(counter(stats, tx_id, "bytes_sent"), bytes);
        ck_assert_uint_eq(counter(stats, rx_id, "delivered"), N);
        ck_assert_uint_eq(counter(stats, rx_id, "sent"), 0);
        for (unsigned band = 0; band < BANDS; band++) {
                ck_assert_msg(json_get_u64(histogram(stats, band, "written"), "count") == per_band[band],
                              "band %u: %llu written, expected %llu", band,
                              (unsigned long long) json_get_u64(histogram(stats, band, "written"), "count"),
                              (unsigned long long) per_band[band]);
                ck_assert_uint_eq(json_get_u64(histogram(stats, band, "acked"), "count"), per_band[band]);
                check_histogram(histogram(stats, band, "written"));
                check_histogram(histogram(stats, band, "acked"));
        }
        ck_assert_uint_eq(json_get_u64(stats, "pending"), 0);
        ck_assert_uint_eq(json_get_u64(stats, "in_flight"), 0);
        ck_assert_uint_eq(json_get_u64(find_client(json_get(stats, "clients"), rx_id), "queue_depth"), 0);
        ck_assert_uint_eq(json_get_u64(find_client(json_get(stats, "clients"), rx_id), "in_flight"), 0);
        json_free(stats);

        /* The acceptance, through sigbrokerctl. */
        out = run_ctl(&d, "--json stats", &status);
        ck_assert_int_eq(status, 0);
        stats = json_parse_or_fail(out, "sigbrokerctl --json stats");
        ck_assert_uint_eq(counter(stats, 0, "sent"), N);
        ck_assert_uint_eq(counter(stats, 0, "delivered"), N);
        ck_assert_uint_eq(observations(stats, "written"), N);
        ck_assert_uint_eq(observations(stats, "acked"), N);
        json_free(stats);
        free(out);

        sigbroker_close(rx);
        sigbroker_close(tx);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

/* ---- each counter where its event happens ---- */

typedef struct Targets {
        const char *socket;
        uint64_t rx, rx_drop;
} Targets;

/* Another process, so that the policy applies (a process may always
 * signal itself). Exits 0 if every send had the result expected. */
static int send_mix(void *userdata) {
        const Targets *t = userdata;
        sigbroker_target to = { .kind = SIGBROKER_TARGET_CLIENT, .id = t->rx };
        sigbroker_target drop = { .kind = SIGBROKER_TARGET_CLIENT, .id = t->rx_drop };
        sigbroker_send_result r;
        sigbroker *tx = NULL;
        int bad = 0;

        if (sigbroker_connect(t->socket, &tx) < 0)
                return 10;
        /* USR1: written (window 1), queued, then merged twice. */
        for (int i = 0; i < 4; i++)
                bad += sigbroker_send(tx, &to, SIGUSR1, 0, NULL, 0, &r) != 0 || r.merged != (i >= 2);
        /* RTMIN+1: queued (the queue holds 2), then refused twice. */
        bad += sigbroker_send(tx, &to, RTMIN + 1, 0, NULL, 0, &r) != 0;
        for (int i = 0; i < 2; i++)
                bad += sigbroker_send(tx, &to, RTMIN + 1, 0, NULL, 0, &r) != -EAGAIN || r.refused != 1;
        /* RTMIN+2: the policy denies it. */
        bad += sigbroker_send(tx, &to, RTMIN + 2, 0, NULL, 0, &r) != -EPERM || r.denied != 1;
        /* RTMIN+3 to a drop-oldest subscriber: written, queued, queued, then the oldest dropped. */
        for (int i = 0; i < 4; i++)
                bad += sigbroker_send(tx, &drop, RTMIN + 3, 0, NULL, 0, &r) != 0 || r.queued != 1;
        sigbroker_close(tx);
        return bad;
}

START_TEST(test_each_counter_moves_where_its_event_happens) {
        static const char *const args[] = { "--max-queue", "2", NULL };
        sigbroker *rx, *rx_drop, *q;
        Targets t;
        Json *stats;
        TestDaemon d;

        make_admin_config("[policy]\ndeny signals RTMIN+2\n");
        daemon_start(&d, admin_config, args);
        rx = connect_or_die(d.socket, 1);
        rx_drop = connect_or_die(d.socket, 1);
        q = connect_or_die(d.socket, 0);
        ck_assert_int_eq(sigbroker_subscribe(rx, SIGBROKER_SIGMASK(SIGUSR1) | SIGBROKER_SIGMASK(RTMIN + 1) |
                                                         SIGBROKER_SIGMASK(RTMIN + 2), 0), 0);
        ck_assert_int_eq(sigbroker_subscribe(rx_drop, SIGBROKER_SIGMASK(RTMIN + 3), SIGBROKER_SUBSCRIBE_DROP_OLDEST), 0);
        t = (Targets) { d.socket, client_id(rx), client_id(rx_drop) };

        ck_assert_int_eq(run_child(send_mix, &t), 0);

        stats = query_json(q, SIGBROKER_QUERY_STATS);
        ck_assert_uint_eq(counter(stats, 0, "sent"), 12);
        ck_assert_uint_eq(counter(stats, 0, "merged"), 2);
        ck_assert_uint_eq(counter(stats, 0, "refused"), 2);
        ck_assert_uint_eq(counter(stats, 0, "denied"), 1);
        ck_assert_uint_eq(counter(stats, 0, "dropped"), 1);
        ck_assert_uint_eq(counter(stats, 0, "delivered"), 2);  /* one per window */
        ck_assert_uint_eq(counter(stats, t.rx, "merged"), 2);
        ck_assert_uint_eq(counter(stats, t.rx, "refused"), 2);
        ck_assert_uint_eq(counter(stats, t.rx, "denied"), 1);
        ck_assert_uint_eq(counter(stats, t.rx, "dropped"), 0);
        ck_assert_uint_eq(counter(stats, t.rx_drop, "dropped"), 1);
        ck_assert_uint_eq(counter(stats, t.rx_drop, "refused"), 0);
        /* Queue depths: two pending and one in flight for each receiver. */
        ck_assert_uint_eq(json_get_u64(find_client(json_get(stats, "clients"), t.rx), "queue_depth"), 2);
        ck_assert_uint_eq(json_get_u64(find_client(json_get(stats, "clients"), t.rx), "in_flight"), 1);
        ck_assert_uint_eq(json_get_u64(find_client(json_get(stats, "clients"), t.rx_drop), "queue_depth"), 2);
        ck_assert_uint_eq(json_get_u64(stats, "pending"), 4);
        ck_assert_uint_eq(json_get_u64(stats, "in_flight"), 2);
        /* Written, never acknowledged. */
        ck_assert_uint_eq(observations(stats, "written"), 2);
        ck_assert_uint_eq(observations(stats, "acked"), 0);
        json_free(stats);

        sigbroker_close(rx);
        sigbroker_close(rx_drop);
        sigbroker_close(q);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

/* ---- a strict OpenMetrics checker ---- */

#define OM_FAMILIES_MAX 256

typedef struct OmFamily {
        char name[128];
        char type[16];
        bool help, unit;
        unsigned samples;
} OmFamily;

typedef struct OmCheck {
        OmFamily families[OM_FAMILIES_MAX];
        unsigned n_families;
        OmFamily *current;
        int lineno;
        char error[512];
        /* the histogram label set being read: its buckets, then _count and _sum */
        char hist_labels[512];
        double last_le, last_bucket, inf_bucket;
        bool have_inf;
        /* what the test looks up */
        const char *want_sample;        /* a sample without labels */
        double want_value;
        bool found;
        const char *hist_family;        /* sums the _count of its label sets */
        double hist_count_total;
} OmCheck;

/* snprintf() where cutting the text short is fine. */
#define TRUNCATE(buf, size, ...) ((void) (snprintf((buf), (size), __VA_ARGS__) < 0))

#define REQUIRE(c, cond, ...)                                                                   \
        do {                                                                                    \
                if (!(cond)) {                                                                  \
                        int _n = snprintf((c)->error, sizeof((c)->error), "line %d: ", (c)->lineno); \
                        TRUNCATE((c)->error + _n, sizeof((c)->error) - (size_t) _n, __VA_ARGS__); \
                        return false;                                                           \
                }                                                                               \
        } while (0)

static bool om_name_ok(const char *s, size_t n) {
        if (n == 0 || !(s[0] == '_' || s[0] == ':' || ((s[0] | 32) >= 'a' && (s[0] | 32) <= 'z')))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!(s[i] == '_' || s[i] == ':' || ((s[i] | 32) >= 'a' && (s[i] | 32) <= 'z') ||
                      (s[i] >= '0' && s[i] <= '9')))
                        return false;
        return true;
}

static OmFamily *om_find(OmCheck *c, const char *name) {
        for (unsigned i = 0; i < c->n_families; i++)
                if (strcmp(c->families[i].name, name) == 0)
                        return &c->families[i];
        return NULL;
}

static bool om_number(const char *s, double *ret) {
        char *end;

        if (strcmp(s, "+Inf") == 0 || strcmp(s, "-Inf") == 0 || strcmp(s, "NaN") == 0) {
                *ret = strcmp(s, "NaN") == 0 ? NAN : s[0] == '+' ? INFINITY : -INFINITY;
                return true;
        }
        if (*s == '\0' || strchr(s, ' ') || strchr("+-.0123456789", *s) == NULL)
                return false;
        *ret = strtod(s, &end);
        return *end == '\0';
}

/* "# TYPE name type", "# HELP name text", "# UNIT name unit". */
static bool om_metadata(OmCheck *c, const char *line) {
        static const char *const types[] = { "counter", "gauge", "histogram", "gaugehistogram",
                                             "summary", "info", "stateset", "unknown" };
        char kind[8], name[128], rest[256] = "";
        OmFamily *f;

        REQUIRE(c, sscanf(line, "# %7s %127s %255[^\n]", kind, name, rest) >= 2, "bad metadata: %.60s", line);
        REQUIRE(c, om_name_ok(name, strlen(name)), "bad name %.60s", name);
        f = om_find(c, name);
        if (strcmp(kind, "TYPE") == 0) {
                bool known = false;
                REQUIRE(c, !f, "family %.60s declared twice (families must be contiguous)", name);
                for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
                        known |= strcmp(rest, types[i]) == 0;
                REQUIRE(c, known, "unknown type '%.60s'", rest);
                REQUIRE(c, c->n_families < OM_FAMILIES_MAX, "too many families");
                REQUIRE(c, strcmp(rest, "counter") != 0 || strlen(name) < 6 ||
                                   strcmp(name + strlen(name) - 6, "_total") != 0,
                        "counter family %s must be named without _total", name);
                f = &c->families[c->n_families++];
                snprintf(f->name, sizeof(f->name), "%s", name);
                snprintf(f->type, sizeof(f->type), "%.15s", rest);     /* a known type: short */
                c->current = f;
                c->hist_labels[0] = '\0';
                c->have_inf = false;
                return true;
        }
        REQUIRE(c, f && f == c->current, "%.60s of %.60s outside its family", kind, name);
        REQUIRE(c, f->samples == 0, "metadata after samples of %.60s", name);
        if (strcmp(kind, "HELP") == 0) {
                REQUIRE(c, !f->help, "second HELP for %.60s", name);
                f->help = true;
                return true;
        }
        if (strcmp(kind, "UNIT") == 0) {
                size_t n = strlen(name), u = strlen(rest);
                REQUIRE(c, !f->unit, "second UNIT for %.60s", name);
                REQUIRE(c, u > 0 && n > u && name[n - u - 1] == '_' && strcmp(name + n - u, rest) == 0,
                        "family %s does not end in its unit %s", name, rest);
                f->unit = true;
                return true;
        }
        REQUIRE(c, false, "unknown metadata %.60s", kind);
        return false;
}

/* {name="value",...}: names valid and not repeated, values escaped as the
 * format says. Gives the label set without le, and le's value ("" if
 * none); *p moves past the closing brace. */
static bool om_labels(OmCheck *c, const char **pp, char *ret_labels, size_t size, char ret_le[static 64]) {
        const char *p = *pp;
        char seen[16][64];
        unsigned n_seen = 0;
        size_t out = 0;

        ret_le[0] = '\0';
        ret_labels[0] = '\0';
        if (*p != '{')
                return true;
        p++;
        while (*p != '}') {
                const char *name = p;
                char value[512];
                size_t nv = 0;

                while (*p && *p != '=')
                        p++;
                REQUIRE(c, *p == '=' && om_name_ok(name, (size_t) (p - name)) && p - name < 64, "bad label name");
                REQUIRE(c, n_seen < 16, "too many labels");
                snprintf(seen[n_seen], 64, "%.*s", (int) (p - name), name);
                for (unsigned i = 0; i < n_seen; i++)
                        REQUIRE(c, strcmp(seen[i], seen[n_seen]) != 0, "label %.60s repeated", seen[i]);
                n_seen++;
                REQUIRE(c, p[1] == '"', "label value not quoted");
                for (p += 2; *p != '"'; p++) {
                        REQUIRE(c, *p && *p != '\n', "unterminated label value");
                        if (*p == '\\') {
                                p++;
                                REQUIRE(c, *p == '\\' || *p == '"' || *p == 'n', "bad escape \\%c", *p);
                        }
                        REQUIRE(c, nv < sizeof(value) - 1, "label value too long");
                        value[nv++] = *p;
                }
                value[nv] = '\0';
                p++;
                if (strcmp(seen[n_seen - 1], "le") == 0)
                        TRUNCATE(ret_le, 64, "%.63s", value);
                else
                        out += (size_t) snprintf(ret_labels + out, size - out, "%s=%s;", seen[n_seen - 1], value);
                REQUIRE(c, *p == ',' || *p == '}', "labels not separated by commas");
                if (*p == ',')
                        p++;
        }
        *pp = p + 1;
        return true;
}

static bool om_histogram_sample(OmCheck *c, const char *suffix, const char *labels, const char *le, double v) {
        if (strcmp(suffix, "_bucket") == 0) {
                double bound;
                REQUIRE(c, *le && om_number(le, &bound), "bucket without a valid le");
                if (strcmp(labels, c->hist_labels) != 0 || c->hist_labels[0] == '\0') {
                        REQUIRE(c, c->hist_labels[0] == '\0' || c->have_inf, "a label set without a +Inf bucket");
                        snprintf(c->hist_labels, sizeof(c->hist_labels), "%s", *labels ? labels : ";");
                        c->last_le = -INFINITY;
                        c->last_bucket = 0;
                        c->have_inf = false;
                }
                REQUIRE(c, bound > c->last_le, "le not increasing");
                REQUIRE(c, v >= c->last_bucket, "buckets not cumulative");
                c->last_le = bound;
                c->last_bucket = v;
                if (isinf(bound)) {
                        c->have_inf = true;
                        c->inf_bucket = v;
                }
                return true;
        }
        if (strcmp(suffix, "_count") == 0) {
                REQUIRE(c, c->have_inf && strcmp(*labels ? labels : ";", c->hist_labels) == 0,
                        "_count without the buckets of its label set");
                REQUIRE(c, v == c->inf_bucket, "_count %g is not the +Inf bucket %g", v, c->inf_bucket);
                if (c->hist_family && strcmp(c->current->name, c->hist_family) == 0)
                        c->hist_count_total += v;
                return true;
        }
        if (strcmp(suffix, "_sum") == 0) {
                REQUIRE(c, v >= 0, "negative _sum");
                return true;
        }
        REQUIRE(c, strcmp(suffix, "_created") == 0, "histogram sample with suffix %.60s", suffix);
        return true;
}

static bool om_sample(OmCheck *c, const char *line) {
        const char *p = line, *sp;
        char name[160], labels[512], le[64], value[64];
        OmFamily *f = c->current;
        size_t fn, n;
        double v, ts;

        while (*p && *p != '{' && *p != ' ')
                p++;
        n = (size_t) (p - line);
        REQUIRE(c, om_name_ok(line, n) && n < sizeof(name), "bad metric name: %.60s", line);
        snprintf(name, sizeof(name), "%.*s", (int) n, line);
        if (!om_labels(c, &p, labels, sizeof(labels), le))
                return false;
        REQUIRE(c, *p == ' ', "no space before the value: %.60s", line);
        p++;
        sp = strchr(p, ' ');
        snprintf(value, sizeof(value), "%.*s", (int) (sp ? sp - p : (long) strlen(p)), p);
        REQUIRE(c, om_number(value, &v), "bad value '%.60s'", value);
        REQUIRE(c, !sp || om_number(sp + 1, &ts), "bad timestamp");

        REQUIRE(c, f, "sample before any TYPE");
        fn = strlen(f->name);
        REQUIRE(c, strncmp(name, f->name, fn) == 0, "%.60s outside its family (now %.60s)", name, f->name);
        f->samples++;
        if (c->want_sample && strcmp(name, c->want_sample) == 0 && labels[0] == '\0') {
                c->want_value = v;
                c->found = true;
        }
        if (strcmp(f->type, "counter") == 0) {
                REQUIRE(c, strcmp(name + fn, "_total") == 0 || strcmp(name + fn, "_created") == 0,
                        "counter sample %s is not _total", name);
                REQUIRE(c, v >= 0, "negative counter");
                return true;
        }
        if (strcmp(f->type, "gauge") == 0) {
                REQUIRE(c, name[fn] == '\0', "gauge sample named %.60s", name);
                return true;
        }
        if (strcmp(f->type, "histogram") == 0)
                return om_histogram_sample(c, name + fn, labels, le, v);
        return true;
}

/* Checks text as OpenMetrics 1.0 text exposition: every line ends in a
 * newline, "# EOF" last and once, families declared once and contiguous,
 * metadata before samples, HELP for each, UNIT a suffix of the name,
 * sample names of their family and type, labels well formed, histograms
 * with increasing le, cumulative buckets, +Inf and a _count equal to it.
 * False with c->error saying why. */
static bool openmetrics_check(const char *text, OmCheck *c) {
        const char *p = text;
        bool eof = false;

        c->lineno = 0;
        REQUIRE(c, *text, "empty exposition");
        while (*p) {
                const char *nl = strchr(p, '\n');
                char line[1024];

                c->lineno++;
                REQUIRE(c, nl, "no newline at the end of the line");
                REQUIRE(c, !eof, "a line after # EOF");
                REQUIRE(c, (size_t) (nl - p) < sizeof(line), "line too long");
                snprintf(line, sizeof(line), "%.*s", (int) (nl - p), p);
                REQUIRE(c, line[0] != '\0', "empty line");
                if (strcmp(line, "# EOF") == 0)
                        eof = true;
                else if (line[0] == '#' ? !om_metadata(c, line) : !om_sample(c, line))
                        return false;
                p = nl + 1;
        }
        REQUIRE(c, eof, "no # EOF at the end");
        REQUIRE(c, !c->hist_labels[0] || c->have_inf, "the last histogram has no +Inf bucket");
        for (unsigned i = 0; i < c->n_families; i++)
                REQUIRE(c, c->families[i].help, "family %.60s has no HELP", c->families[i].name);
        return true;
}

static void assert_openmetrics(const char *text, OmCheck *c) {
        if (!openmetrics_check(text, c)) {
                fprintf(stderr, "%s", text);    /* too long for check's message */
                ck_abort_msg("not valid OpenMetrics (the text is on stderr): %s", c->error);
        }
}

START_TEST(test_openmetrics_checker_rejects_bad_text) {
        static const char *const bad[] = {
                "# TYPE a counter\n# HELP a x\na_total 1\n",                     /* no # EOF */
                "# TYPE a counter\n# HELP a x\na 1\n# EOF\n",                    /* counter without _total */
                "# TYPE a gauge\n# HELP a x\na 1\n# TYPE a gauge\n# EOF\n",      /* declared twice */
                "# TYPE a gauge\n# HELP a x\na{x=\"1\",x=\"2\"} 1\n# EOF\n",     /* repeated label */
                "# TYPE a gauge\n# HELP a x\na{x=\"\\t\"} 1\n# EOF\n",           /* bad escape */
                "# TYPE a gauge\n# HELP a x\na one\n# EOF\n",                    /* bad value */
                "# TYPE a gauge\na 1\n# EOF\n",                                  /* no HELP */
                "# TYPE h histogram\n# HELP h x\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
                "h_count 1\nh_sum 0\n# EOF\n",                                     /* not cumulative */
                "# TYPE h histogram\n# HELP h x\nh_bucket{le=\"1\"} 1\nh_count 1\nh_sum 0\n# EOF\n", /* no +Inf */
                "# TYPE h histogram\n# HELP h x\nh_bucket{le=\"+Inf\"} 1\nh_count 2\nh_sum 0\n# EOF\n",
                "# TYPE a_seconds gauge\n# UNIT a_seconds bytes\n# HELP a_seconds x\na_seconds 1\n# EOF\n",
                "# TYPE a gauge\n# HELP a x\na 1\n# EOF\nb 1\n",                  /* after EOF */
                "# TYPE a gauge\n# HELP a x\na 1\n# TYPE b gauge\n# HELP b x\na 2\n# EOF\n", /* interleaved */
        };
        const char *good = "# TYPE h_seconds histogram\n# UNIT h_seconds seconds\n# HELP h_seconds x\n"
                           "h_seconds_bucket{b=\"q\\\"\\\\\\n\",le=\"0.5\"} 1\n"
                           "h_seconds_bucket{b=\"q\\\"\\\\\\n\",le=\"+Inf\"} 2\n"
                           "h_seconds_count{b=\"q\\\"\\\\\\n\"} 2\nh_seconds_sum{b=\"q\\\"\\\\\\n\"} 0.75\n"
                           "# TYPE c counter\n# HELP c x\nc_total 3\n# EOF\n";

        assert_openmetrics(good, &(OmCheck) {});
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                ck_assert_msg(!openmetrics_check(bad[i], &(OmCheck) {}), "the checker accepted: %s", bad[i]);
}
END_TEST

/* A client whose command name needs escaping in labels and JSON: a
 * process of its own that stays connected until the daemon goes. */
static int odd_name_client(void *userdata) {
        const char *socket = userdata;
        int fds[2];
        pid_t pid;

        if (pipe(fds) < 0)
                return 1;
        pid = fork();
        if (pid == 0) {
                sigbroker_info info;
                sigbroker *sb = NULL;
                close(fds[0]);
                prctl(PR_SET_NAME, "q\"b\\s\xc3\xa9\xff", 0, 0, 0);
                if (sigbroker_connect(socket, &sb) < 0 || write(fds[1], "r", 1) != 1)
                        _exit(1);
                for (;;) {
                        int r = sigbroker_wait(sb, -1, &info);
                        if (r < 0 && r != -EINTR && r != -EAGAIN)
                                _exit(0);       /* the daemon is gone */
                }
        }
        close(fds[1]);
        return pid > 0 && read(fds[0], &(char) { 0 }, 1) == 1 ? 0 : 1;
}

START_TEST(test_openmetrics_is_valid_and_matches) {
        enum { N = 25 };
        sigbroker_target t = { .kind = SIGBROKER_TARGET_CLIENT };
        sigbroker *rx, *tx;
        sigbroker_info info;
        char *text = NULL, *out;
        TestDaemon d;
        OmCheck c = { .want_sample = "sigbroker_signals_sent_total", .hist_family = "sigbroker_latency_written_seconds" };
        int status;

        make_admin_config(NULL);
        daemon_start(&d, admin_config, NULL);
        rx = connect_or_die(d.socket, 0);
        tx = connect_or_die(d.socket, 0);
        ck_assert_int_eq(sigbroker_subscribe(rx, SIGBROKER_SIGMASK(RTMIN), 0), 0);
        t.id = client_id(rx);
        for (int i = 0; i < N; i++)
                ck_assert_int_eq(sigbroker_send(tx, &t, RTMIN, i * 4, "p", 1, NULL), 0);
        for (int i = 0; i < N; i++)
                ck_assert_int_eq(sigbroker_wait(rx, 5000000, &info), RTMIN);
        /* The odd one runs in a grandchild that outlives run_child's child;
         * it goes when the daemon closes its connection at the end. Its
         * name is q"b\s, é and a byte that is not UTF-8; the kernel shows
         * the backslash as two in /proc/PID/comm, where the daemon reads
         * it, and each of them is escaped in the label. */
        ck_assert_int_eq(run_child(odd_name_client, d.socket), 0);

        ck_assert_int_eq(sigbroker_query(tx, SIGBROKER_QUERY_STATS, SIGBROKER_QUERY_OPENMETRICS, 0, &text), 0);
        assert_openmetrics(text, &c);
        if (!c.found || !strstr(text, "comm=\"q\\\"b\\\\\\\\s\xc3\xa9?\""))
                fprintf(stderr, "%s", text);
        ck_assert_msg(c.found, "no sigbroker_signals_sent_total");
        ck_assert_msg(c.want_value == N, "signals sent %g, expected %d", c.want_value, N);
        ck_assert_msg(c.hist_count_total == N, "written latency observations %g, expected %d", c.hist_count_total, N);
        ck_assert_msg(strstr(text, "comm=\"q\\\"b\\\\\\\\s\xc3\xa9?\""), "the odd command name is not escaped (the text is on stderr)");
        ck_assert_msg(om_find(&c, "sigbroker_latency_acked_seconds") &&
                              strcmp(om_find(&c, "sigbroker_latency_acked_seconds")->type, "histogram") == 0,
                      "no acked histogram");
        ck_assert_msg(om_find(&c, "sigbroker_client_queue_depth"), "no per-client queue depth");
        free(text);

        /* The same through sigbrokerctl, which must pass it on untouched;
         * asking for it as JSON is a usage error. */
        out = run_ctl(&d, "stats --openmetrics", &status);
        ck_assert_int_eq(status, 0);
        assert_openmetrics(out, &(OmCheck) {});
        free(out);
        out = run_ctl(&d, "--json stats --openmetrics 2>/dev/null", &status);
        ck_assert_int_eq(status, 2);
        ck_assert_str_eq(out, "");
        free(out);

        /* The JSON answers stay valid JSON with that name in them. */
        json_free(query_json(tx, SIGBROKER_QUERY_CLIENTS));
        json_free(query_json(tx, SIGBROKER_QUERY_STATS));
        json_free(query_json(tx, SIGBROKER_QUERY_GROUPS));

        sigbroker_close(rx);
        sigbroker_close(tx);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

/* ---- monitor ---- */

typedef struct Monitor {
        int fd;
        uint8_t buf[SB_PACKET_MAX];
        size_t len, at;
} Monitor;

static void monitor_open(Monitor *m, const TestDaemon *d) {
        SbFrame f = { .type = SB_MSG_QUERY, .serial = 7, .query = { .kind = SB_QUERY_MONITOR } };

        m->fd = raw_connect(d->socket);
        ck_assert_int_ge(m->fd, 0);
        m->len = m->at = 0;
        raw_hello(m->fd, 0, NULL);
        raw_send_frame(m->fd, &f);
}

/* The next monitor event, parsed; NULL after timeout_ms. */
static Json *monitor_next(Monitor *m, int timeout_ms) {
        for (;;) {
                while (m->at < m->len) {
                        SbFrame f;
                        size_t used;
                        char text[SB_DATA_MAX + 1];
                        ck_assert_int_eq(sb_frame_parse_untrusted(m->buf + m->at, m->len - m->at, &f, &used), 0);
                        m->at += used;
                        if (f.type != SB_MSG_DATA)
                                continue;
                        ck_assert_uint_eq(f.data.reply_serial, 7);
                        ck_assert_int_eq(f.data.error, 0);
                        ck_assert_msg(f.data.flags & SB_DATA_MORE, "the monitor stream ended");
                        memcpy(text, f.data.data, f.data.data_len);
                        text[f.data.data_len] = '\0';
                        return json_parse_or_fail(text, "the event");
                }
                ssize_t n = raw_recv(m->fd, m->buf, sizeof(m->buf), timeout_ms);
                if (n == -EAGAIN)
                        return NULL;
                ck_assert_int_gt(n, 0);
                m->len = (size_t) n;
                m->at = 0;
        }
}

static Json *monitor_expect_signal(Monitor *m) {
        Json *e = monitor_next(m, 5000);
        ck_assert_msg(e, "no monitor event");
        ck_assert_str_eq(json_get_string(e, "type"), "signal");
        return e;
}

static int deny_from_child(void *userdata) {
        const Targets *t = userdata;
        sigbroker_target to = { .kind = SIGBROKER_TARGET_CLIENT, .id = t->rx };
        sigbroker *tx = NULL;
        int r;

        if (sigbroker_connect(t->socket, &tx) < 0)
                return 10;
        r = sigbroker_send(tx, &to, RTMIN + 2, 5, NULL, 0, NULL);
        sigbroker_close(tx);
        return r == -EPERM ? 0 : 1;
}

START_TEST(test_monitor_sees_every_routed_send) {
        sigbroker_target t = { .kind = SIGBROKER_TARGET_CLIENT };
        sigbroker *rx, *tx;
        Monitor *m = calloc(1, sizeof(*m));
        TestDaemon d;
        Json *e, *stats;
        const Json *r, *rcv;
        Targets tg;

        make_admin_config("[policy]\ndeny signals RTMIN+2\n");
        daemon_start(&d, admin_config, NULL);
        monitor_open(m, &d);
        e = monitor_next(m, 5000);
        ck_assert_msg(e, "no start event");
        ck_assert_str_eq(json_get_string(e, "type"), "start");
        ck_assert_uint_eq(json_get_u64(e, "missed"), 0);
        json_free(e);

        rx = connect_or_die(d.socket, 0);
        tx = connect_or_die(d.socket, 0);
        ck_assert_int_eq(sigbroker_subscribe(rx, SIGBROKER_SIGMASK(RTMIN + 1) | SIGBROKER_SIGMASK(RTMIN + 2), 0), 0);
        ck_assert_int_eq(sigbroker_join(rx, "watched"), 0);
        t.id = client_id(rx);

        /* Queued, to a client id, with a payload. */
        ck_assert_int_eq(sigbroker_send(tx, &t, RTMIN + 1, 42, "hello", 5, NULL), 0);
        e = monitor_expect_signal(m);
        ck_assert_uint_eq(json_get_u64(e, "signo"), RTMIN + 1);
        ck_assert_str_eq(json_get_string(e, "name"), "RTMIN+1");
        ck_assert_uint_eq(json_get_u64(e, "priority"), 42);
        ck_assert_uint_eq(json_get_u64(e, "payload_len"), 5);
        ck_assert_uint_eq(json_get_u64(json_get(e, "sender"), "id"), client_id(tx));
        ck_assert_int_eq(json_get_i64(json_get(e, "sender"), "pid"), getpid());
        ck_assert_uint_eq(json_get_u64(json_get(e, "sender"), "uid"), getuid());
        ck_assert_str_eq(json_get_string(json_get(e, "target"), "kind"), "client");
        ck_assert_uint_eq(json_get_u64(json_get(e, "target"), "id"), t.id);
        r = json_get(e, "result");
        ck_assert_uint_eq(json_get_u64(r, "queued"), 1);
        ck_assert(json_has_null(r, "error"));
        ck_assert_uint_eq(json_length(json_get(e, "receivers")), 1);
        rcv = json_at(json_get(e, "receivers"), 0);
        ck_assert_uint_eq(json_get_u64(rcv, "id"), t.id);
        ck_assert_str_eq(json_get_string(rcv, "outcome"), "queued");
        json_free(e);

        /* No receiver: the error is named. */
        t.kind = SIGBROKER_TARGET_GROUP;
        t.group = "nobody-here";
        ck_assert_int_eq(sigbroker_send(tx, &t, RTMIN + 1, 0, NULL, 0, NULL), -ESRCH);
        e = monitor_expect_signal(m);
        ck_assert_str_eq(json_get_string(json_get(e, "target"), "kind"), "group");
        ck_assert_str_eq(json_get_string(json_get(e, "target"), "name"), "nobody-here");
        ck_assert_str_eq(json_get_string(json_get(e, "result"), "error"), "ESRCH");
        ck_assert_uint_eq(json_length(json_get(e, "receivers")), 0);
        json_free(e);

        /* Denied by policy, from another process. */
        tg = (Targets) { .socket = d.socket, .rx = client_id(rx) };
        ck_assert_int_eq(run_child(deny_from_child, &tg), 0);
        e = monitor_expect_signal(m);
        ck_assert_str_eq(json_get_string(json_get(e, "result"), "error"), "EPERM");
        ck_assert_uint_eq(json_get_u64(json_get(e, "result"), "denied"), 1);
        ck_assert_str_eq(json_get_string(json_at(json_get(e, "receivers"), 0), "outcome"), "denied");
        json_free(e);

        /* Nothing else came, and the daemon counted what it wrote. */
        ck_assert_ptr_null(monitor_next(m, 200));
        stats = query_json(tx, SIGBROKER_QUERY_STATS);
        ck_assert_uint_eq(json_get_u64(stats, "monitors"), 1);
        ck_assert_uint_eq(json_get_u64(stats, "monitor_events"), 4);  /* start and three sends */
        ck_assert_uint_eq(json_get_u64(stats, "monitor_missed"), 0);
        json_free(stats);

        close(m->fd);
        free(m);
        sigbroker_close(rx);
        sigbroker_close(tx);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

START_TEST(test_slow_monitor_misses_events_and_is_told_how_many) {
        sigbroker_target nobody = { .kind = SIGBROKER_TARGET_GROUP, .group = "empty" };
        Monitor *m = calloc(1, sizeof(*m));
        uint64_t sent = 0, events = 0, missed = 0, daemon_missed = 0;
        bool told = false;
        sigbroker *tx;
        TestDaemon d;
        Json *e, *stats;

        make_admin_config(NULL);
        daemon_start(&d, admin_config, NULL);
        monitor_open(m, &d);
        e = monitor_next(m, 5000);
        ck_assert_str_eq(json_get_string(e, "type"), "start");
        json_free(e);
        tx = connect_or_die(d.socket, 0);

        /* The monitor does not read: its socket fills, then its backlog in
         * the daemon, then it misses events. */
        while (daemon_missed == 0) {
                for (int i = 0; i < 500; i++)
                        ck_assert_int_eq(sigbroker_send_async(tx, &nobody, RTMIN, 0, NULL, 0, NULL), 0);
                sent += 500;
                ck_assert_int_eq(sigbroker_collect_results(tx, 0, 5000000, NULL), 0);
                stats = query_json(tx, SIGBROKER_QUERY_STATS);
                daemon_missed = json_get_u64(stats, "monitor_missed");
                json_free(stats);
                ck_assert_msg(sent < 200000, "the monitor never missed an event");
        }

        /* Read all it was sent; then one more event tells the rest. */
        while ((e = monitor_next(m, 300))) {
                ck_assert_str_eq(json_get_string(e, "type"), "signal");
                events++;
                missed += json_get_u64(e, "missed");
                told |= json_get_u64(e, "missed") > 0;
                json_free(e);
        }
        ck_assert_int_eq(sigbroker_send(tx, &nobody, RTMIN, 0, NULL, 0, NULL), -ESRCH);
        sent++;
        e = monitor_expect_signal(m);
        events++;
        missed += json_get_u64(e, "missed");
        told |= json_get_u64(e, "missed") > 0;
        json_free(e);

        ck_assert_msg(told, "no event said that events were missed");
        ck_assert_msg(events + missed == sent, "%llu events + %llu missed != %llu sent", (unsigned long long) events,
                      (unsigned long long) missed, (unsigned long long) sent);
        stats = query_json(tx, SIGBROKER_QUERY_STATS);
        ck_assert_uint_eq(json_get_u64(stats, "monitor_missed"), missed);
        ck_assert_uint_eq(json_get_u64(stats, "monitor_events"), events + 1);   /* and the start */
        json_free(stats);

        close(m->fd);
        free(m);
        sigbroker_close(tx);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

/* ---- groups ---- */

static int in_own_group(void *userdata) {
        const char *socket = userdata;
        sigbroker *sb = NULL;
        char *text = NULL;
        Json *g = NULL;
        const Json *sets;
        pid_t me;
        int found = 0;

        if (setpgid(0, 0) < 0 || sigbroker_connect(socket, &sb) < 0)
                return 10;
        me = getpid();
        if (sigbroker_query(sb, SIGBROKER_QUERY_GROUPS, 0, 0, &text) < 0 || !(g = json_tokener_parse(text)))
                return 11;
        sets = json_get(g, "process_groups");
        for (size_t i = 0; i < json_length(sets); i++) {
                const Json *s = json_at(sets, i);
                if (json_get_i64(s, "pgid") == me && json_length(json_get(s, "members")) == 1 &&
                    json_get_i64(json_at(json_get(s, "members"), 0), "pid") == me)
                        found = 1;
        }
        json_free(g);
        free(text);
        sigbroker_close(sb);
        return found ? 0 : 12;
}

START_TEST(test_groups_lists_process_groups_and_sessions) {
        sigbroker *a, *b;
        TestDaemon d;
        Json *g;
        const Json *named, *sets;
        bool pgid_found = false, sid_found = false;

        make_admin_config(NULL);
        daemon_start(&d, admin_config, NULL);
        a = connect_or_die(d.socket, 0);
        b = connect_or_die(d.socket, 0);
        ck_assert_int_eq(sigbroker_join(a, "blue"), 0);
        ck_assert_int_eq(sigbroker_join(b, "blue"), 0);

        g = query_json(a, SIGBROKER_QUERY_GROUPS);
        named = json_get(g, "named");
        ck_assert_uint_eq(json_length(named), 1);
        ck_assert_str_eq(json_get_string(json_at(named, 0), "name"), "blue");
        ck_assert_uint_eq(json_get_u64(json_at(named, 0), "size"), 2);
        ck_assert_uint_eq(json_length(json_get(json_at(named, 0), "members")), 2);
        sets = json_get(g, "process_groups");
        for (size_t i = 0; i < json_length(sets); i++)
                if (json_get_i64(json_at(sets, i), "pgid") == getpgid(0)) {
                        ck_assert_uint_eq(json_length(json_get(json_at(sets, i), "members")), 2);
                        pgid_found = true;
                }
        sets = json_get(g, "sessions");
        for (size_t i = 0; i < json_length(sets); i++)
                if (json_get_i64(json_at(sets, i), "sid") == getsid(0))
                        sid_found = json_length(json_get(json_at(sets, i), "members")) >= 2;
        ck_assert_msg(pgid_found && sid_found, "process group or session missing");
        json_free(g);

        /* A process that moves to its own group is listed there alone. */
        ck_assert_int_eq(run_child(in_own_group, d.socket), 0);

        sigbroker_close(a);
        sigbroker_close(b);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("observability");
        TCase *tc = tcase_create("metrics");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_counters_and_latency_match_the_traffic);
        tcase_add_test(tc, test_each_counter_moves_where_its_event_happens);
        tcase_add_test(tc, test_openmetrics_checker_rejects_bad_text);
        tcase_add_test(tc, test_openmetrics_is_valid_and_matches);
        tcase_add_test(tc, test_monitor_sees_every_routed_send);
        tcase_add_test(tc, test_slow_monitor_misses_events_and_is_told_how_many);
        tcase_add_test(tc, test_groups_lists_process_groups_and_sessions);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return harness_run(suite());
}
