/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The results table with ratios, the machine and counts, and --json. */

#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "bench.h"

static const struct {
        const char *label;             /* table */
        const char *key;               /* JSON */
        bool rate;                     /* higher is better */
} rows[_BENCH_ROW_MAX] = {
        [BENCH_ROW_LAT_P50] = { "latency p50 (us)", "latency_p50_us", false },
        [BENCH_ROW_LAT_P99] = { "latency p99 (us)", "latency_p99_us", false },
        [BENCH_ROW_LAT_P999] = { "latency p99.9 (us)", "latency_p99_9_us", false },
        [BENCH_ROW_THROUGHPUT] = { "1:1 throughput (sig/s)", "throughput_per_s", true },
        [BENCH_ROW_SINGLE] = { "1:1, 1 send/call (sig/s)", "one_send_per_call_per_s", true },
        [BENCH_ROW_FANOUT_10] = { "fan-out 10 (deliv/s)", "fanout_10_deliveries_per_s", true },
        [BENCH_ROW_FANOUT_100] = { "fan-out 100 (deliv/s)", "fanout_100_deliveries_per_s", true },
        /* its N is cfg->fanout_n[2]: 1000, or fewer with --quick */
        [BENCH_ROW_FANOUT_1000] = { "fan-out %u (deliv/s)", "fanout_1000_deliveries_per_s", true },
        [BENCH_ROW_ISOLATION] = { "isolation p99 x alone", "isolation_p99_loaded_over_alone", false },
        [BENCH_ROW_RSS] = { "RSS/idle client (B)", "rss_per_idle_client_bytes", false },
};

#define LABEL_WIDTH 24
#define COL_WIDTH 12

void bench_results_note(struct bench_results *res, const char *backend, const char *measure,
                        const char *note) {
        if (res->mute_notes || res->n_notes >= BENCH_NOTES_MAX)
                return;
        snprintf(res->notes[res->n_notes++], sizeof(res->notes[0]), "%s %s: %s", backend, measure, note);
}

static int compare_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return (x > y) - (x < y);
}

void bench_results_medians(struct bench_results *res) {
        for (size_t row = 0; row < _BENCH_ROW_MAX; row++)
                for (size_t col = 0; col < res->n_backends; col++) {
                        double *v = res->samples[row][col];
                        unsigned n = res->n_samples[row][col];

                        if (n < 2)
                                continue;
                        qsort(v, n, sizeof(*v), compare_double);
                        res->cells[row][col] = (struct bench_cell) {
                                .state = BENCH_CELL_OK,
                                .value = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2,
                        };
                }
}

static void format_rate(double v, char *buf, size_t size) {
        if (v >= 1e6)
                snprintf(buf, size, "%.2fM", v / 1e6);
        else if (v >= 1e4)
                snprintf(buf, size, "%.0fk", v / 1e3);
        else
                snprintf(buf, size, "%.0f", v);
}

static void format_cell(enum bench_row row, const struct bench_cell *c, char *buf, size_t size) {
        static const char *const states[] = {
                [BENCH_CELL_SKIPPED] = "-", [BENCH_CELL_NA] = "n/a", [BENCH_CELL_ERROR] = "error",
        };

        if (c->state != BENCH_CELL_OK)
                snprintf(buf, size, "%s", states[c->state]);
        else if (rows[row].rate)
                format_rate(c->value, buf, size);
        else if (row == BENCH_ROW_RSS)
                snprintf(buf, size, "%.0f", c->value);
        else if (row == BENCH_ROW_ISOLATION)
                snprintf(buf, size, "%.2fx", c->value);
        else
                snprintf(buf, size, "%.1f", c->value);
}

static void format_ratio(const struct bench_cell *c, const struct bench_cell *ref, char *buf, size_t size) {
        double x;

        if (c->state != BENCH_CELL_OK || ref->state != BENCH_CELL_OK || ref->value <= 0 || c->value < 0) {
                snprintf(buf, size, "n/a");
                return;
        }
        x = c->value / ref->value;
        snprintf(buf, size, x >= 100 ? "%.0fx" : x >= 0.1 ? "%.2fx" : "%.3fx", x);
}

static void print_label(const struct bench_config *cfg, enum bench_row row) {
        char label[64];

        if (row == BENCH_ROW_FANOUT_1000)
                snprintf(label, sizeof(label), "fan-out %u (deliv/s)", cfg->fanout_n[2]);
        else
                snprintf(label, sizeof(label), "%s", rows[row].label);
        printf("%-*s", LABEL_WIDTH, label);
}

static ssize_t column_of(const struct bench_results *res, const char *name) {
        for (size_t i = 0; i < res->n_backends; i++)
                if (strcmp(res->backends[i]->name, name) == 0)
                        return (ssize_t) i;
        return -1;
}

static void cpu_model(char *buf, size_t size) {
        char line[256];
        FILE *f = fopen("/proc/cpuinfo", "re");

        snprintf(buf, size, "?");
        while (f && fgets(line, sizeof(line), f)) {
                char *colon = strchr(line, ':');

                if (strncmp(line, "model name", 10) == 0 && colon) {
                        snprintf(buf, size, "%s", colon + 2);
                        buf[strcspn(buf, "\n")] = 0;
                        break;
                }
        }
        if (f)
                fclose(f);
}

static void print_machine(const struct bench_config *cfg, const struct bench_results *res) {
        struct utsname u;
        char cpu[128];

        cpu_model(cpu, sizeof(cpu));
        uname(&u);
        printf("machine: %ld cpus (%s), %s %s %s\n", sysconf(_SC_NPROCESSORS_ONLN), cpu,
               u.sysname, u.release, u.machine);
        printf("load:    %s at start, %s at end (1, 5, 15 min)\n", res->load_start, res->load_end);
        printf("counts:  latency %u round trips or %.1f s, interleaved with the others in %u slices;\n"
               "         1:1 %llu messages or %.1f s;\n"
               "         1:1 one send per call: %llu messages or %.1f s;\n"
               "         fan-out to N: %llu/N messages or %.1f s, receivers get %.1f s more;\n"
               "         every receiver is a process of its own (N = 10, 100, %u);\n"
               "         isolation: p99 of %u round trips or %.1f s, alone, then while a flood\n"
               "         to a receiver that never reads runs (started %.1f s before);\n"
               "         idle clients K=%u (RLIMIT_NOFILE %ld); RLIMIT_SIGPENDING %ld; frames 64 B%s\n",
               cfg->lat_count, (double) cfg->lat_budget_ns / 1e9, cfg->lat_slices,
               (unsigned long long) cfg->tput_count,
               (double) cfg->send_budget_ns / 1e9, (unsigned long long) cfg->single_count,
               (double) cfg->single_budget_ns / 1e9, (unsigned long long) cfg->fanout_deliveries,
               (double) cfg->send_budget_ns / 1e9, (double) cfg->grace_ns / 1e9, cfg->fanout_n[2],
               cfg->iso_count, (double) cfg->iso_budget_ns / 1e9, (double) cfg->iso_settle_ns / 1e9,
               cfg->rss_clients, cfg->nofile, cfg->sigpending, cfg->quick ? "; --quick" : "");
        if (cfg->repeat > 1)
                printf("runs:    every measure %u times, one system after the other in turn; each cell is\n"
                       "         the median of its runs, the notes are the last run's\n", cfg->repeat);
        putchar('\n');
}

static bool row_shown(const struct bench_results *res, enum bench_row row) {
        for (size_t i = 0; i < res->n_backends; i++)
                if (res->cells[row][i].state != BENCH_CELL_SKIPPED)
                        return true;
        return false;
}

/* sigbroker against the relay (the least a hop costs), the batching relay
 * (what its throughput is held to), dbus-broker and dbus-daemon. */
static void print_main_table(const struct bench_config *cfg, const struct bench_results *res) {
        ssize_t relay = column_of(res, "relay"), dbus = column_of(res, "dbus-daemon");
        ssize_t mmsg = column_of(res, "relay-mmsg"), sb = column_of(res, "sigbroker");
        ssize_t broker = column_of(res, "dbus-broker");
        static const struct bench_cell none = { BENCH_CELL_NA, 0 };
        char buf[32];

        printf("%-*s", LABEL_WIDTH, "row");
        for (size_t i = 0; i < res->n_backends; i++)
                printf("%*s", COL_WIDTH, res->backends[i]->name);
        printf("%*s%*s%*s%*s\n", COL_WIDTH, "sb/relay", COL_WIDTH, "sb/mmsg", COL_WIDTH, "sb/broker",
               COL_WIDTH, "sb/dbus");
        for (enum bench_row row = 0; row < _BENCH_ROW_MAX; row++) {
                const struct bench_cell *sbc = sb >= 0 ? &res->cells[row][sb] : &none;

                if (!row_shown(res, row))
                        continue;
                print_label(cfg, row);
                for (size_t i = 0; i < res->n_backends; i++) {
                        format_cell(row, &res->cells[row][i], buf, sizeof(buf));
                        printf("%*s", COL_WIDTH, buf);
                }
                format_ratio(sbc, relay >= 0 ? &res->cells[row][relay] : &none, buf, sizeof(buf));
                printf("%*s", COL_WIDTH, buf);
                format_ratio(sbc, mmsg >= 0 ? &res->cells[row][mmsg] : &none, buf, sizeof(buf));
                printf("%*s", COL_WIDTH, buf);
                format_ratio(sbc, broker >= 0 ? &res->cells[row][broker] : &none, buf, sizeof(buf));
                printf("%*s", COL_WIDTH, buf);
                format_ratio(sbc, dbus >= 0 ? &res->cells[row][dbus] : &none, buf, sizeof(buf));
                printf("%*s\n", COL_WIDTH, buf);
        }
}

/* Every other backend divided by the reference column. */
static void print_ratio_table(const struct bench_config *cfg, const struct bench_results *res,
                              const char *ref_name) {
        ssize_t ref = column_of(res, ref_name);
        char buf[32];

        if (ref < 0)
                return;
        printf("\nratios: backend / %s (latency, RSS: lower is better; rates: higher is better)\n", ref_name);
        printf("%-*s", LABEL_WIDTH, "row");
        for (size_t i = 0; i < res->n_backends; i++)
                if ((ssize_t) i != ref)
                        printf("%*s", COL_WIDTH, res->backends[i]->name);
        printf("\n");
        for (enum bench_row row = 0; row < _BENCH_ROW_MAX; row++) {
                if (!row_shown(res, row))
                        continue;
                print_label(cfg, row);
                for (size_t i = 0; i < res->n_backends; i++) {
                        if ((ssize_t) i == ref)
                                continue;
                        format_ratio(&res->cells[row][i], &res->cells[row][ref], buf, sizeof(buf));
                        printf("%*s", COL_WIDTH, buf);
                }
                printf("\n");
        }
}

static void print_notes(const struct bench_results *res) {
        bool na_header = false;

        if (res->n_notes > 0)
                printf("\nnotes:\n");
        for (size_t i = 0; i < res->n_notes; i++)
                printf("  %s\n", res->notes[i]);
        for (size_t i = 0; i < res->n_backends; i++) {
                bool na = false;

                for (enum bench_row row = 0; row < _BENCH_ROW_MAX; row++)
                        na = na || res->cells[row][i].state == BENCH_CELL_NA;
                if (!na || !res->backends[i]->na_reason)
                        continue;
                if (!na_header)
                        printf("\nn/a:\n");
                na_header = true;
                printf("  %s\n", res->backends[i]->na_reason);
        }
}

void bench_report_text(const struct bench_config *cfg, const struct bench_results *res) {
        print_machine(cfg, res);
        print_main_table(cfg, res);
        print_ratio_table(cfg, res, "relay");
        print_ratio_table(cfg, res, "relay-mmsg");
        print_ratio_table(cfg, res, "dbus-broker");
        print_ratio_table(cfg, res, "dbus-daemon");
        print_notes(res);
        fflush(stdout);
}

/* ---- JSON -------------------------------------------------------------- */

static void json_string(const char *s) {
        putchar('"');
        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;

                if (c == '"' || c == '\\')
                        printf("\\%c", c);
                else if (c < 0x20)
                        printf("\\u%04x", c);
                else
                        putchar(c);
        }
        putchar('"');
}

static void json_machine_config(const struct bench_config *cfg, const struct bench_results *res) {
        struct utsname u;
        char cpu[128];

        cpu_model(cpu, sizeof(cpu));
        uname(&u);
        printf("\"machine\":{\"nproc\":%ld,\"cpu\":", sysconf(_SC_NPROCESSORS_ONLN));
        json_string(cpu);
        printf(",\"kernel\":");
        json_string(u.release);
        printf(",\"load_start\":");
        json_string(res->load_start);
        printf(",\"load_end\":");
        json_string(res->load_end);
        printf("},\"config\":{\"quick\":%s,\"latency_count\":%u,\"latency_budget_s\":%.3f,"
               "\"latency_slices\":%u,\"repeat\":%u,\"throughput_count\":%llu,\"fanout_deliveries\":%llu,"
               "\"send_budget_s\":%.3f,\"grace_s\":%.3f,\"one_per_call_count\":%llu,\"fanout_last_n\":%u,"
               "\"isolation_count\":%u,\"isolation_budget_s\":%.3f,\"idle_clients\":%u,\"rlimit_nofile\":%ld,"
               "\"rlimit_sigpending\":%ld,\"frame_bytes\":64},",
               cfg->quick ? "true" : "false", cfg->lat_count, (double) cfg->lat_budget_ns / 1e9, cfg->lat_slices,
               cfg->repeat, (unsigned long long) cfg->tput_count, (unsigned long long) cfg->fanout_deliveries,
               (double) cfg->send_budget_ns / 1e9, (double) cfg->grace_ns / 1e9,
               (unsigned long long) cfg->single_count, cfg->fanout_n[2], cfg->iso_count,
               (double) cfg->iso_budget_ns / 1e9, cfg->rss_clients, cfg->nofile, cfg->sigpending);
}

static void json_row(const struct bench_results *res, enum bench_row row) {
        printf("{\"row\":\"%s\",\"values\":{", rows[row].key);
        for (size_t i = 0; i < res->n_backends; i++) {
                const struct bench_cell *c = &res->cells[row][i];

                printf("%s\"%s\":", i > 0 ? "," : "", res->backends[i]->name);
                if (c->state == BENCH_CELL_OK)
                        printf("%.6g", c->value);
                else if (c->state == BENCH_CELL_ERROR)
                        printf("\"error\"");
                else
                        printf("null");
        }
        printf("}}");
}

void bench_report_json(const struct bench_config *cfg, const struct bench_results *res) {
        bool first = true;

        printf("{");
        json_machine_config(cfg, res);
        printf("\"rows\":[");
        for (enum bench_row row = 0; row < _BENCH_ROW_MAX; row++) {
                if (!row_shown(res, row))
                        continue;
                printf("%s", first ? "" : ",");
                json_row(res, row);
                first = false;
        }
        printf("],\"notes\":[");
        for (size_t i = 0; i < res->n_notes; i++) {
                printf("%s", i > 0 ? "," : "");
                json_string(res->notes[i]);
        }
        printf("],\"ok\":%s}\n", res->failed ? "false" : "true");
        fflush(stdout);
}
