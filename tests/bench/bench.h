/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * sigbroker-bench: one run measures several "systems" side by side
 * (the performance targets in docs/benchmarks.md). Each system is a backend: a table of
 * function pointers, one per measurement, in its own bench-<name>.c.
 * A NULL pointer (or -EOPNOTSUPP) means "n/a" for that row.
 *
 * The helpers below (time, percentiles, RSS, process pools) are shared so
 * that a backend file only holds what is specific to its system.
 */

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

/* ---- frames: the shape of a real signal, 64 bytes ---------------------- */

#define BENCH_FRAME_MAGIC 0x53424e43u /* "SBNC" */
#define BENCH_BATCH_MAX 64            /* messages per recvmmsg/sendmmsg call */

enum bench_frame_type {
        BENCH_FRAME_HELLO = 1,        /* relay: first packet of a client */
        BENCH_FRAME_ACK,              /* relay: answer to HELLO */
        BENCH_FRAME_DATA,             /* one signal */
        BENCH_FRAME_END,              /* sender is done; .count = DATA sent */
        _BENCH_FRAME_TYPE_MAX,
};

#define BENCH_HELLO_SUBSCRIBE 1u

struct bench_frame {
        uint32_t magic;
        uint16_t type;
        uint16_t flags;
        uint64_t seq;
        uint64_t sent_ns;
        uint64_t count;
        uint8_t payload[32];
};
_Static_assert(sizeof(struct bench_frame) == 64, "a frame is 64 bytes");

/* ---- configuration: counts and time bounds of one run ------------------ */

enum bench_measure {
        BENCH_MEASURE_LATENCY,
        BENCH_MEASURE_THROUGHPUT,
        BENCH_MEASURE_SINGLE,          /* 1:1, one send per call */
        BENCH_MEASURE_FANOUT_10,
        BENCH_MEASURE_FANOUT_100,
        BENCH_MEASURE_FANOUT_1000,
        BENCH_MEASURE_ISOLATION,
        BENCH_MEASURE_IDLE_RSS,
        _BENCH_MEASURE_MAX,
};

struct bench_config {
        bool quick;
        bool json;
        bool verbose;                  /* phase timings on stderr */
        const char *only;              /* prefix of a measure name, or NULL */
        char tmpdir[64];               /* mkdtemp'd for this run */
        unsigned lat_count;            /* round trips */
        uint64_t lat_budget_ns;        /* ... or this long, whichever first */
        unsigned lat_slices;           /* ... taken in this many slices per system */
        unsigned repeat;               /* every measure this many times; medians reported */
        uint64_t tput_count;           /* 1:1 messages */
        uint64_t single_count;         /* 1:1 messages sent one per call */
        uint64_t single_budget_ns;     /* ... or this long (send_budget_ns for that row) */
        uint64_t fanout_deliveries;    /* fan-out to N sends this / N messages */
        unsigned fanout_n[3];          /* 10, 100, 1000 (--quick: a smaller last one) */
        unsigned iso_count;            /* isolation: round trips per phase */
        uint64_t iso_budget_ns;        /* ... or this long per phase */
        uint64_t iso_settle_ns;        /* the flood runs this long before pinging */
        uint64_t send_budget_ns;       /* a pipelining sender stops after this */
        uint64_t grace_ns;             /* receivers may finish this long after */
        uint64_t ready_timeout_ns;     /* workers must be subscribed by then */
        unsigned rss_clients;          /* K, scaled to RLIMIT_NOFILE */
        long nofile;                   /* RLIMIT_NOFILE after raising it */
        long sigpending;               /* RLIMIT_SIGPENDING */
};

/* ---- results ----------------------------------------------------------- */

#define BENCH_NOTE_MAX 160

struct bench_latency {
        uint64_t n;
        double p50_us, p99_us, p999_us;
        char note[BENCH_NOTE_MAX];
};

/* Throughput (1 receiver) and fan-out (N receivers) alike. */
struct bench_flow {
        unsigned receivers;
        unsigned reported;             /* receivers that reported a count */
        uint64_t sent;                 /* messages the sender got out */
        uint64_t delivered;            /* summed over receivers */
        uint64_t start_ns, last_ns;    /* first send, last delivery */
        double per_sec;                /* delivered / (last - start) */
        char note[BENCH_NOTE_MAX];
};

/* Isolation: one ping-pong pair's p99 alone, then while another client
 * floods a receiver that never reads; value = loaded / unloaded. */
struct bench_isolation {
        double p99_unloaded_us, p99_loaded_us;
        double ratio;
        uint64_t flooded;              /* sends the flooder got out meanwhile */
        char note[BENCH_NOTE_MAX];
};

struct bench_rss {
        unsigned clients;
        long before_kb, after_kb;
        double per_client_bytes;
        char note[BENCH_NOTE_MAX];
};

/* ---- the backend interface --------------------------------------------- */

struct bench_pingpong_ops;
struct bench_flood_ops;

/*
 * Every measurement gets a fresh system: setup, one measure, teardown.
 * Latency is the exception to "one at a time": every selected system is
 * set up at once and pinged in slices (bench_pingpong_run), so pingpong is
 * a table for that driver, not a measure of its own.
 * All return 0 or a negative errno; -EOPNOTSUPP reads "n/a".
 */
struct bench_backend {
        const char *name;
        const char *na_reason;         /* shown when a row is n/a */
        int (*setup)(const struct bench_config *cfg, void **ret_state);
        void *(*teardown)(void *state); /* accepts NULL, returns NULL */
        const struct bench_pingpong_ops *pingpong;
        int (*throughput)(void *state, const struct bench_config *cfg, struct bench_flow *ret);
        /* 1:1, every signal sent and flushed on its own */
        int (*single)(void *state, const struct bench_config *cfg, struct bench_flow *ret);
        int (*fanout)(void *state, const struct bench_config *cfg, unsigned n, struct bench_flow *ret);
        int (*idle_rss)(void *state, const struct bench_config *cfg, unsigned k, struct bench_rss *ret);
        /* With pingpong, the isolation row (bench_isolation_run) */
        const struct bench_flood_ops *flood;
};

extern const struct bench_backend bench_backend_relay;
extern const struct bench_backend bench_backend_relay_mmsg;
extern const struct bench_backend bench_backend_dbus;
extern const struct bench_backend bench_backend_dbus_broker;
extern const struct bench_backend bench_backend_kernel;
extern const struct bench_backend bench_backend_sigbroker;

/* ---- cleanup helpers (systemd style) ----------------------------------- */

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void bench_closep(int *fd) {
        if (*fd >= 0)
                close(*fd);
}
static inline void bench_freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_close_ _cleanup_(bench_closep)
#define _cleanup_free_ _cleanup_(bench_freep)
#define TAKE_FD(fd) ({ int _take_fd_ = (fd); (fd) = -1; _take_fd_; })

#define NSEC_PER_SEC UINT64_C(1000000000)
#define NSEC_PER_MSEC UINT64_C(1000000)
#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

/* ---- bench-util.c ------------------------------------------------------ */

uint64_t bench_now_ns(void);
void bench_note_append(char *note, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void bench_frame_init(struct bench_frame *f, enum bench_frame_type type, uint64_t seq);
bool bench_frame_valid(const struct bench_frame *f, size_t len);
int bench_latency_compute(double *samples_us, size_t n, struct bench_latency *ret);
void bench_flow_finish(struct bench_flow *f);
long bench_rss_kb(pid_t pid);
int bench_raise_nofile(long *ret_limit);
int bench_path_join(char *buf, size_t size, const char *dir, const char *name);
bool bench_find_program(const char *name);
void bench_loadavg(char *buf, size_t size);

/* ---- bench-proc.c: children, guard, pools ------------------------------ */

#define BENCH_CHILD_SECONDS 300        /* no child outlives this */
/* Longest a waiting worker sleeps before it looks at `stop` again; the
 * parent also wakes workers with SIGUSR1 when it sets `stop`. Long on
 * purpose: 1000 idle workers waking every 100 ms would cost this kind of
 * machine a good part of its context switches. */
#define BENCH_IDLE_SLICE_MS 1000

typedef int (*bench_child_fn)(void *arg);

void bench_guard_install(const char *tmpdir);
void bench_guard_arm(unsigned seconds);
int bench_guard_add_path(const char *path);
void bench_guard_remove_path(const char *path);

/* The files of a server the bench starts (dbus-daemon, sigbrokerd). */
struct bench_server_paths {
        char sock[108];
        char conf[108];
        char log[108];                 /* its stderr, shown if it fails */
};

int bench_server_paths_init(struct bench_server_paths *p, const struct bench_config *cfg, const char *prefix);
void bench_server_paths_remove(struct bench_server_paths *p);
void bench_server_show_log(const struct bench_server_paths *p, const char *who);

int bench_spawn(bench_child_fn fn, void *arg, pid_t *ret_pid);
int bench_spawn_exec(const char *path, char *const argv[], int pass_fd, int stderr_fd, pid_t *ret_pid);
void bench_proc_kill(pid_t pid);
void bench_proc_reap(pid_t pid);
int bench_wait_readable(int fd, uint64_t deadline_ns);

/* What a receiver worker writes into shared memory for the parent. */
struct bench_report {
        uint64_t count;                /* DATA messages received */
        uint64_t first_ns, last_ns;
        uint64_t bad;                  /* malformed or unexpected */
        int32_t error;
        uint32_t finished;
};

struct bench_shared {
        int stop;                      /* parent -> workers: report now */
        unsigned n;
        struct bench_report reports[];
};

/* The view a forked worker gets of its pool. */
struct bench_worker {
        unsigned index;
        int notify_fd;
        struct bench_shared *shm;
        void *arg;
};

typedef int (*bench_worker_fn)(struct bench_worker *w);

struct bench_pool {
        unsigned n;
        pid_t *pids;
        int notify_fd;
        struct bench_shared *shm;
        size_t shm_size;
        unsigned ready, done, failed;
};

#define BENCH_POOL_INIT { .notify_fd = -1 }

int bench_pool_start(struct bench_pool *p, unsigned n, bench_worker_fn fn, void *arg);
int bench_pool_wait_ready(struct bench_pool *p, uint64_t timeout_ns);
int bench_pool_collect(struct bench_pool *p, uint64_t deadline_ns, struct bench_flow *ret);
void bench_pool_done(struct bench_pool *p);

void bench_worker_ready(struct bench_worker *w);
bool bench_worker_stopped(const struct bench_worker *w);
void bench_worker_count(struct bench_worker *w, unsigned n);
struct bench_report *bench_worker_report(struct bench_worker *w);
/* Ready, then nothing at all until stopped: returns 0. */
int bench_worker_idle(struct bench_worker *w);

/* ---- bench-run.c: measurement drivers a backend fills in --------------- */

/* Round trips: a forked pong echoes; the bench process pings. */
struct bench_pingpong_ops {
        bench_worker_fn pong;          /* echo DATA until END or stop */
        int (*open)(void *state, const struct bench_pool *pool, void **ret_ping);
        int (*ping)(void *ping, uint64_t seq); /* one round trip, bounded */
        void (*close)(void *ping);     /* tell the pong to end, free */
};

/* Throughput and fan-out: N forked receivers, the bench process sends. */
struct bench_flow_ops {
        bench_worker_fn receiver;      /* count DATA until END or stop */
        int (*open)(void *state, const struct bench_pool *pool, void **ret_sender);
        /* Pipelined DATA: up to count, stopping at the deadline. */
        int (*send)(void *sender, uint64_t count, uint64_t deadline_ns, uint64_t *ret_sent);
        int (*end)(void *sender, uint64_t sent, uint64_t deadline_ns);
        void (*close)(void *sender, struct bench_flow *ret); /* may add a note */
};

/* Isolation: a sink that subscribes and never reads, and a flooder that
 * sends to it as fast as it can until stopped, each a forked worker. The
 * flooder's w->arg is a struct bench_flood_arg. Either counts with
 * bench_worker_count (the flooder: what it sent). */
struct bench_flood_ops {
        bench_worker_fn sink;          /* connect, subscribe, then bench_worker_idle() */
        bench_worker_fn flood;
};

struct bench_flood_arg {
        void *state;
        pid_t sink;                    /* for brokers that address a pid */
};

/* Idle clients: connected and subscribed, then left alone. open_many
 * (optional) sets up n at once, pipelined, for brokers whose cost per
 * wakeup grows with their number of clients. */
struct bench_rss_ops {
        int (*open)(void *state, void **ret_client);
        int (*open_many)(void *state, unsigned n, void **ret_clients, unsigned *ret_opened);
        void (*close)(void *client);
};

/* One system's part in a latency run. The caller fills in ops and state
 * (set up), the driver the rest; error < 0 voids the result. */
struct bench_pingpong {
        const struct bench_pingpong_ops *ops;
        void *state;
        int error;
        uint64_t clock_ns;             /* time spent in its slices */
        struct bench_latency result;
        struct bench_pool pool;        /* the driver's, from here on */
        bool open;                     /* pong ready, ping open */
        void *ping;
        double *samples;
        uint64_t n, seq;
};

void bench_pingpong_run(const struct bench_config *cfg, struct bench_pingpong *runs, size_t n);
int bench_flow_run(const struct bench_config *cfg, void *state, const struct bench_flow_ops *ops,
                   unsigned n, uint64_t msgs, struct bench_flow *ret);
uint64_t bench_fanout_msgs(const struct bench_config *cfg, unsigned n);
int bench_isolation_run(const struct bench_config *cfg, void *state, const struct bench_pingpong_ops *pingpong,
                        const struct bench_flood_ops *flood, struct bench_isolation *ret);
int bench_rss_run(pid_t broker, unsigned k, void *state, const struct bench_rss_ops *ops,
                  struct bench_rss *ret);

/* ---- bench-report.c: the table and its JSON twin ----------------------- */

enum bench_row {
        BENCH_ROW_LAT_P50,
        BENCH_ROW_LAT_P99,
        BENCH_ROW_LAT_P999,
        BENCH_ROW_THROUGHPUT,
        BENCH_ROW_SINGLE,
        BENCH_ROW_FANOUT_10,
        BENCH_ROW_FANOUT_100,
        BENCH_ROW_FANOUT_1000,
        BENCH_ROW_ISOLATION,
        BENCH_ROW_RSS,
        _BENCH_ROW_MAX,
};

enum bench_cell_state {
        BENCH_CELL_SKIPPED,            /* not selected (--only) */
        BENCH_CELL_NA,
        BENCH_CELL_OK,
        BENCH_CELL_ERROR,
};

struct bench_cell {
        enum bench_cell_state state;
        double value;
};

#define BENCH_BACKENDS_MAX 8
#define BENCH_NOTES_MAX 64
#define BENCH_REPEAT_MAX 9

struct bench_results {
        const struct bench_backend *const *backends;
        size_t n_backends;
        struct bench_cell cells[_BENCH_ROW_MAX][BENCH_BACKENDS_MAX];
        char notes[BENCH_NOTES_MAX][BENCH_NOTE_MAX + 64];
        char load_start[64], load_end[64]; /* /proc/loadavg */
        size_t n_notes;
        bool mute_notes;               /* a repetition before the last: its notes would only repeat */
        bool failed;
        /* With --repeat, each run's values; the cells get their medians. */
        double samples[_BENCH_ROW_MAX][BENCH_BACKENDS_MAX][BENCH_REPEAT_MAX];
        unsigned n_samples[_BENCH_ROW_MAX][BENCH_BACKENDS_MAX];
};

void bench_results_note(struct bench_results *res, const char *backend, const char *measure,
                        const char *note);
/* Each cell measured more than once gets the median of its runs. */
void bench_results_medians(struct bench_results *res);
void bench_report_text(const struct bench_config *cfg, const struct bench_results *res);
void bench_report_json(const struct bench_config *cfg, const struct bench_results *res);

/* ---- bench-dbus-daemon.c, bench-dbus-broker.c -------------------------- */

/* A bus the bench starts: dbus-daemon, or dbus-broker with the bench as
 * its controller. The clients (bench-dbus.c) only see the address. */
struct bench_dbus_daemon {
        pid_t pid;
        struct bench_server_paths paths;
        char address[256];             /* what clients connect to */
        void *controller;              /* dbus-broker: our sd_bus end of its controller socket */
};

int bench_dbus_daemon_start(const struct bench_config *cfg, struct bench_dbus_daemon **ret);
int bench_dbus_broker_start(const struct bench_config *cfg, struct bench_dbus_daemon **ret);
/* Either kind; accepts NULL, returns NULL */
void *bench_dbus_daemon_stop(struct bench_dbus_daemon *d);

/* ---- bench-relay-server.c ---------------------------------------------- */

#define BENCH_RELAY_ARG "--relay-server" /* argv[1] of the exec'd relay */

int bench_relay_main(int listen_fd, bool mmsg);
