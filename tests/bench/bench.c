/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sigbroker-bench: every system in bench_backends[] measured in one run,
 * same counts, same machine, printed side by side with ratios.
 *
 *   sigbroker-bench [--quick] [--only MEASURE] [--backend NAME] [--json] [--repeat N]
 *
 * Each (measure, backend) pair gets a fresh system (setup, measure,
 * teardown) under an alarm; children are killed and reaped, temp sockets
 * removed, whatever happens. Latency is the exception: every selected
 * system is set up at once and pinged round robin in short slices
 * (bench_pingpong_run), so that all of them see the machine's load as it
 * drifts.
 */

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"

#define GUARD_SECONDS 150              /* one measure of one backend (latency: of each) */
#define LAT_SLICES 20                  /* latency: slices per backend */
#define RSS_FD_RESERVE 64              /* fds kept free beside K clients */

static const struct bench_backend *const bench_backends[] = {
        &bench_backend_relay,
        &bench_backend_relay_mmsg,
        &bench_backend_dbus,
        &bench_backend_dbus_broker,
        &bench_backend_kernel,
        &bench_backend_sigbroker,
};

static const char *const measure_names[_BENCH_MEASURE_MAX] = {
        [BENCH_MEASURE_LATENCY] = "latency",
        [BENCH_MEASURE_THROUGHPUT] = "throughput",
        [BENCH_MEASURE_SINGLE] = "one-per-call",
        [BENCH_MEASURE_FANOUT_10] = "fanout-10",
        [BENCH_MEASURE_FANOUT_100] = "fanout-100",
        [BENCH_MEASURE_FANOUT_1000] = "fanout-1000",
        [BENCH_MEASURE_ISOLATION] = "isolation",
        [BENCH_MEASURE_IDLE_RSS] = "idle-rss",
};

static void config_defaults(struct bench_config *cfg, bool quick) {
        *cfg = (struct bench_config) {
                .quick = quick,
                .lat_count = quick ? 2000 : 20000,
                .lat_budget_ns = quick ? 300 * NSEC_PER_MSEC : 2 * NSEC_PER_SEC,
                .lat_slices = LAT_SLICES,
                .tput_count = quick ? 100000 : 4000000,
                .single_count = quick ? 20000 : 4000000,
                .single_budget_ns = quick ? 200 * NSEC_PER_MSEC : 1 * NSEC_PER_SEC,
                .fanout_deliveries = quick ? 100000 : 8000000,
                /* --quick: forking and connecting 1000 receivers alone
                 * takes seconds per backend on a 2-vCPU VM */
                .fanout_n = { 10, 100, quick ? 20 : 1000 },
                .iso_count = quick ? 300 : 5000,
                .iso_budget_ns = quick ? 150 * NSEC_PER_MSEC : 600 * NSEC_PER_MSEC,
                .iso_settle_ns = quick ? 100 * NSEC_PER_MSEC : 300 * NSEC_PER_MSEC,
                .send_budget_ns = quick ? 300 * NSEC_PER_MSEC : 2 * NSEC_PER_SEC,
                .grace_ns = quick ? 2 * NSEC_PER_SEC : 3 * NSEC_PER_SEC,
                .ready_timeout_ns = 60 * NSEC_PER_SEC,
                .rss_clients = quick ? 1000 : 10000,
        };
}

static void usage(FILE *f) {
        fprintf(f, "usage: sigbroker-bench [--quick] [--only MEASURE] [--backend NAME] [--json] [--verbose]\n"
                   "                       [--repeat N]\n"
                   "  --quick           small counts, a smoke run (fan-out 20 for 1000)\n"
                   "  --only MEASURE    latency, throughput, one-per-call, fanout-10, fanout-100,\n"
                   "                    fanout-1000, isolation, idle-rss; a prefix selects\n"
                   "                    several (fanout)\n"
                   "  --backend NAME    relay, relay-mmsg, dbus-daemon, dbus-broker, kernel, sigbroker\n"
                   "  --json            one JSON object instead of the table\n"
                   "  --verbose         phase timings on stderr\n"
                   "  --repeat N        every measure N times (at most %d), medians reported\n",
                BENCH_REPEAT_MAX);
}

/* 1 to run, 0 to exit successfully (--help), negative on bad usage. */
static int parse_args(int argc, char **argv, struct bench_config *cfg, const char **ret_backend) {
        static const struct option opts[] = {
                { "quick", no_argument, NULL, 'q' },
                { "only", required_argument, NULL, 'o' },
                { "backend", required_argument, NULL, 'b' },
                { "json", no_argument, NULL, 'j' },
                { "verbose", no_argument, NULL, 'v' },
                { "repeat", required_argument, NULL, 'r' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *only = NULL;
        bool quick = false, json = false, verbose = false;
        unsigned long repeat = 1;
        char *end;
        int c;

        while ((c = getopt_long(argc, argv, "qo:b:jvr:h", opts, NULL)) >= 0)
                switch (c) {
                case 'r':
                        errno = 0;
                        repeat = strtoul(optarg, &end, 10);
                        if (errno != 0 || *end || repeat < 1 || repeat > BENCH_REPEAT_MAX) {
                                fprintf(stderr, "sigbroker-bench: --repeat takes 1 to %d\n", BENCH_REPEAT_MAX);
                                return -EINVAL;
                        }
                        break;
                case 'q': quick = true; break;
                case 'o': only = optarg; break;
                case 'b': *ret_backend = optarg; break;
                case 'j': json = true; break;
                case 'v': verbose = true; break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return -EINVAL;
                }
        if (optind < argc) {
                usage(stderr);
                return -EINVAL;
        }
        config_defaults(cfg, quick);
        cfg->only = only;
        cfg->json = json;
        cfg->verbose = verbose;
        cfg->repeat = (unsigned) repeat;
        return 1;
}

static bool measure_selected(const struct bench_config *cfg, enum bench_measure m) {
        return !cfg->only || strncmp(measure_names[m], cfg->only, strlen(cfg->only)) == 0;
}

/* Raise RLIMIT_NOFILE; scale K down if it cannot hold K clients. */
static int config_limits(struct bench_config *cfg) {
        struct rlimit rl;
        int r;

        r = bench_raise_nofile(&cfg->nofile);
        if (r < 0)
                return r;
        if (cfg->nofile < (long) cfg->rss_clients + RSS_FD_RESERVE)
                cfg->rss_clients = cfg->nofile > 2 * RSS_FD_RESERVE ?
                                   (unsigned) (cfg->nofile - RSS_FD_RESERVE) : RSS_FD_RESERVE;
        if (getrlimit(RLIMIT_SIGPENDING, &rl) < 0)
                return -errno;
        cfg->sigpending = rl.rlim_cur == RLIM_INFINITY ? -1 : (long) rl.rlim_cur;
        return 0;
}

static void set_cell(struct bench_results *res, enum bench_row row, size_t col, int r, double v) {
        struct bench_cell *c = &res->cells[row][col];

        if (r == -EOPNOTSUPP)
                c->state = BENCH_CELL_NA;
        else if (r < 0) {
                c->state = BENCH_CELL_ERROR;
                res->failed = true;
        } else {
                c->state = BENCH_CELL_OK;
                c->value = v;
                if (res->n_samples[row][col] < BENCH_REPEAT_MAX)
                        res->samples[row][col][res->n_samples[row][col]++] = v;
        }
}

static void set_latency_cells(struct bench_results *res, const struct bench_backend *b, size_t col, int r,
                              const struct bench_latency *lat) {
        set_cell(res, BENCH_ROW_LAT_P50, col, r, lat->p50_us);
        set_cell(res, BENCH_ROW_LAT_P99, col, r, lat->p99_us);
        set_cell(res, BENCH_ROW_LAT_P999, col, r, lat->p999_us);
        if (r >= 0 && lat->note[0])
                bench_results_note(res, b->name, "latency", lat->note);
}

static int measure_flow(const struct bench_config *cfg, const struct bench_backend *b, void *state,
                        enum bench_measure m, struct bench_results *res, size_t col) {
        static const enum bench_row rows[] = {
                [BENCH_MEASURE_THROUGHPUT] = BENCH_ROW_THROUGHPUT,
                [BENCH_MEASURE_SINGLE] = BENCH_ROW_SINGLE,
                [BENCH_MEASURE_FANOUT_10] = BENCH_ROW_FANOUT_10,
                [BENCH_MEASURE_FANOUT_100] = BENCH_ROW_FANOUT_100,
                [BENCH_MEASURE_FANOUT_1000] = BENCH_ROW_FANOUT_1000,
        };
        struct bench_config single = *cfg;
        struct bench_flow flow = {};
        int r;

        single.send_budget_ns = cfg->single_budget_ns;
        if (m == BENCH_MEASURE_THROUGHPUT)
                r = b->throughput(state, cfg, &flow);
        else if (m == BENCH_MEASURE_SINGLE)
                r = b->single(state, &single, &flow);
        else
                r = b->fanout(state, cfg, cfg->fanout_n[m - BENCH_MEASURE_FANOUT_10], &flow);
        set_cell(res, rows[m], col, r, flow.per_sec);
        if (r >= 0 && flow.note[0])
                bench_results_note(res, b->name, measure_names[m], flow.note);
        return r;
}

static int measure_rss(const struct bench_config *cfg, const struct bench_backend *b, void *state,
                       struct bench_results *res, size_t col) {
        struct bench_rss rss = {};
        int r = b->idle_rss(state, cfg, cfg->rss_clients, &rss);

        set_cell(res, BENCH_ROW_RSS, col, r, rss.per_client_bytes);
        if (r >= 0) {
                bench_note_append(rss.note, sizeof(rss.note), "VmRSS %ld kB -> %ld kB with %u clients",
                                  rss.before_kb, rss.after_kb, rss.clients);
                bench_results_note(res, b->name, "idle-rss", rss.note);
        }
        return r;
}

static int measure_isolation(const struct bench_config *cfg, const struct bench_backend *b, void *state,
                             struct bench_results *res, size_t col) {
        struct bench_isolation iso = {};
        int r = bench_isolation_run(cfg, state, b->pingpong, b->flood, &iso);

        set_cell(res, BENCH_ROW_ISOLATION, col, r, iso.ratio);
        if (r >= 0 && iso.note[0])
                bench_results_note(res, b->name, "isolation", iso.note);
        return r;
}

static bool backend_has(const struct bench_backend *b, enum bench_measure m) {
        switch (m) {
        case BENCH_MEASURE_LATENCY: return b->pingpong;
        case BENCH_MEASURE_THROUGHPUT: return b->throughput;
        case BENCH_MEASURE_SINGLE: return b->single;
        case BENCH_MEASURE_ISOLATION: return b->pingpong && b->flood;
        case BENCH_MEASURE_IDLE_RSS: return b->idle_rss;
        default: return b->fanout;
        }
}

static int measure_dispatch(const struct bench_config *cfg, const struct bench_backend *b, void *state,
                            enum bench_measure m, struct bench_results *res, size_t col) {
        if (m == BENCH_MEASURE_IDLE_RSS)
                return measure_rss(cfg, b, state, res, col);
        if (m == BENCH_MEASURE_ISOLATION)
                return measure_isolation(cfg, b, state, res, col);
        return measure_flow(cfg, b, state, m, res, col);
}

/* Marks every row of measure m for one backend as n/a or error. */
static void set_measure_cells(struct bench_results *res, enum bench_measure m, size_t col, int r) {
        static const enum bench_row first[] = {
                [BENCH_MEASURE_LATENCY] = BENCH_ROW_LAT_P50,
                [BENCH_MEASURE_THROUGHPUT] = BENCH_ROW_THROUGHPUT,
                [BENCH_MEASURE_SINGLE] = BENCH_ROW_SINGLE,
                [BENCH_MEASURE_FANOUT_10] = BENCH_ROW_FANOUT_10,
                [BENCH_MEASURE_FANOUT_100] = BENCH_ROW_FANOUT_100,
                [BENCH_MEASURE_FANOUT_1000] = BENCH_ROW_FANOUT_1000,
                [BENCH_MEASURE_ISOLATION] = BENCH_ROW_ISOLATION,
                [BENCH_MEASURE_IDLE_RSS] = BENCH_ROW_RSS,
        };
        unsigned n = m == BENCH_MEASURE_LATENCY ? 3 : 1;

        for (unsigned i = 0; i < n; i++)
                set_cell(res, first[m] + i, col, r, 0);
}

/* The end of a progress line: n/a, the error (also as a note), or the time. */
static void progress_end(struct bench_results *res, const struct bench_backend *b, enum bench_measure m, int r,
                         uint64_t ns) {
        if (r == -EOPNOTSUPP)
                fprintf(stderr, "n/a\n");
        else if (r < 0) {
                fprintf(stderr, "error: %s\n", strerror(-r));
                bench_results_note(res, b->name, measure_names[m], strerror(-r));
        } else
                fprintf(stderr, "%.1f s\n", (double) ns / 1e9);
}

/* Sets up one backend for measure m; on failure its cells say why. */
static int setup_measure(const struct bench_config *cfg, const struct bench_backend *b, enum bench_measure m,
                         struct bench_results *res, size_t col, void **ret_state) {
        int r = -EOPNOTSUPP;

        *ret_state = NULL;
        if (backend_has(b, m) && b->setup)
                r = b->setup(cfg, ret_state);
        if (r < 0)
                set_measure_cells(res, m, col, r);
        return r;
}

static void teardown(const struct bench_backend *b, void *state) {
        if (b->teardown)
                b->teardown(state);
}

static void run_measure(const struct bench_config *cfg, const struct bench_backend *b, enum bench_measure m,
                        struct bench_results *res, size_t col) {
        uint64_t t0 = bench_now_ns();
        void *state;
        int r;

        fprintf(stderr, "%-12s %-12s ", measure_names[m], b->name);
        bench_guard_arm(GUARD_SECONDS);
        r = setup_measure(cfg, b, m, res, col, &state);
        if (r >= 0)
                r = measure_dispatch(cfg, b, state, m, res, col);
        teardown(b, state);
        bench_guard_arm(0);
        progress_end(res, b, m, r, bench_now_ns() - t0);
}

/* Latency of the selected backends, all set up at once and interleaved;
 * one that cannot be set up reads n/a or error, the others still run. */
static void run_latency(const struct bench_config *cfg, const bool *selected, size_t n_selected,
                        struct bench_results *res) {
        const enum bench_measure m = BENCH_MEASURE_LATENCY;
        const struct bench_backend *const *bs = res->backends;
        struct bench_pingpong runs[BENCH_BACKENDS_MAX] = {};
        size_t cols[BENCH_BACKENDS_MAX], n = 0;
        int errors[BENCH_BACKENDS_MAX] = {};
        uint64_t clock_ns[BENCH_BACKENDS_MAX] = {};

        fprintf(stderr, "%-12s interleaved, %u slices per backend\n", measure_names[m], cfg->lat_slices);
        bench_guard_arm(GUARD_SECONDS * (unsigned) n_selected);
        for (size_t i = 0; i < res->n_backends; i++) {
                void *state;

                if (!selected[i])
                        continue;
                errors[i] = setup_measure(cfg, bs[i], m, res, i, &state);
                if (errors[i] < 0)
                        teardown(bs[i], state);
                else {
                        runs[n] = (struct bench_pingpong) { .ops = bs[i]->pingpong, .state = state };
                        cols[n++] = i;
                }
        }
        bench_pingpong_run(cfg, runs, n);
        for (size_t k = 0; k < n; k++) {
                teardown(bs[cols[k]], runs[k].state);
                errors[cols[k]] = runs[k].error;
                clock_ns[cols[k]] = runs[k].clock_ns;
                set_latency_cells(res, bs[cols[k]], cols[k], runs[k].error, &runs[k].result);
        }
        bench_guard_arm(0);

        for (size_t i = 0; i < res->n_backends; i++)
                if (selected[i]) {
                        fprintf(stderr, "%-12s %-12s ", measure_names[m], bs[i]->name);
                        progress_end(res, bs[i], m, errors[i], clock_ns[i]);
                }
}

int main(int argc, char **argv) {
        struct bench_results res = { .backends = bench_backends, .n_backends = ELEMENTSOF(bench_backends) };
        bool selected[ELEMENTSOF(bench_backends)] = {}, any = false;
        const char *only_backend = NULL;
        size_t n_selected = 0;
        struct bench_config cfg;
        int r;

        /* The relay backend re-executes this program as its server. */
        if (argc == 3 && strcmp(argv[1], BENCH_RELAY_ARG) == 0)
                return bench_relay_main(3, strcmp(argv[2], "mmsg") == 0) < 0 ? 1 : 0;

        r = parse_args(argc, argv, &cfg, &only_backend);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        r = config_limits(&cfg);
        if (r < 0) {
                fprintf(stderr, "sigbroker-bench: limits: %s\n", strerror(-r));
                return 1;
        }
        snprintf(cfg.tmpdir, sizeof(cfg.tmpdir), "/tmp/sigbroker-bench.XXXXXX");
        if (!mkdtemp(cfg.tmpdir)) {
                fprintf(stderr, "sigbroker-bench: mkdtemp: %m\n");
                return 1;
        }
        bench_guard_install(cfg.tmpdir);
        bench_loadavg(res.load_start, sizeof(res.load_start));

        for (size_t i = 0; i < res.n_backends; i++) {
                selected[i] = !only_backend || strcmp(only_backend, bench_backends[i]->name) == 0;
                n_selected += selected[i];
        }
        for (enum bench_measure m = 0; m < _BENCH_MEASURE_MAX; m++) {
                if (n_selected == 0 || !measure_selected(&cfg, m))
                        continue;
                any = true;
                /* Repeated in turn, so that a slow minute of the machine
                 * falls on every system alike. */
                for (unsigned round = 0; round < cfg.repeat; round++) {
                        res.mute_notes = round + 1 < cfg.repeat;
                        if (m == BENCH_MEASURE_LATENCY)
                                run_latency(&cfg, selected, n_selected, &res);
                        else
                                for (size_t i = 0; i < res.n_backends; i++)
                                        if (selected[i])
                                                run_measure(&cfg, bench_backends[i], m, &res, i);
                }
        }
        res.mute_notes = false;
        bench_results_medians(&res);
        rmdir(cfg.tmpdir);
        bench_loadavg(res.load_end, sizeof(res.load_end));
        if (!any) {
                fprintf(stderr, "sigbroker-bench: nothing selected\n");
                usage(stderr);
                return 2;
        }
        if (cfg.json)
                bench_report_json(&cfg, &res);
        else
                bench_report_text(&cfg, &res);
        return res.failed ? 1 : 0;
}
