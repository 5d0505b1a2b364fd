/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Helpers shared by the stress tests: the daemon's resources as
 * /proc shows them, the scale knob, raw frames batched on many sockets, and
 * a latency probe that runs in a child process while a test overloads the
 * broker.
 *
 * Every figure a test measures is printed on stdout as one line starting
 * with "stress: ", so that a run's log can be quoted.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "harness.h"
#include "protocol.h"

/* SB_STRESS_SCALE (default 1) multiplies every count; 0.1 makes a run ten
 * times shorter, for sanitizer and valgrind builds. Never below floor. */
double stress_scale(void);
unsigned stress_count(unsigned full, unsigned floor);

/* Memory figures are asserted only when they mean something: not under
 * AddressSanitizer (quarantine and shadow memory) and not when
 * SB_DAEMON_WRAPPER runs the daemon under a tool. They are printed anyway. */
bool stress_memory_checks(void);
/* Latency bound of the probe: 500 ms, three times that when sanitized. */
unsigned stress_latency_limit_ms(void);

void stress_print(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

uint64_t mono_ns(void);
void sleep_ms(unsigned ms);

/* From /proc/PID: VmRSS in KiB, open fds, CPU time (user + system) in
 * seconds. -1 if unreadable. */
long proc_rss_kib(pid_t pid);
int proc_fd_count(pid_t pid);
double proc_cpu_seconds(pid_t pid);
/* The fd count once it has not moved for 100 ms: connections closed
 * just before are gone from it. */
int proc_settled_fd_count(pid_t pid);
/* How many of pid's fds are sockets and how many pidfds. */
void proc_fd_kinds(pid_t pid, int *ret_sockets, int *ret_pidfds);
/* How many connections pid holds on the listening socket at socket_path:
 * its fds that are sockets accepted there (from /proc/net/unix, where an
 * accepted socket shows its listener's address). Not the listener, nor
 * dup()s of it, nor sockets of any other address (the journal's, one
 * inherited from the test process); several fds of one socket count once. */
int proc_unix_connections(pid_t pid, const char *socket_path);
/* Wait up to timeout_ms for the fd count of pid to reach want; returns the
 * last count seen. */
int proc_wait_fd_count(pid_t pid, int want, unsigned timeout_ms);

/* RLIMIT_NOFILE of this process (soft, raising the hard one if allowed) or
 * of another (prlimit, both). Return 0 or -errno. */
int nofile_raise_self(rlim_t want);
int nofile_set(pid_t pid, rlim_t soft, rlim_t hard);

/* A number from the daemon's JSON answer to a query: the first
 * "key":N after the first occurrence of after (NULL: from the start).
 * -1 if absent. */
long long json_number(const char *text, const char *after, const char *key);
/* The daemon's answer to a query of kind (SIGBROKER_QUERY_*) on a fresh
 * connection, malloc()ed; NULL on failure. */
char *query_text(const char *socket, int kind);

/* Raw frames into a packet buffer; returns false if the frame does not fit. */
bool pack_frame(uint8_t *buf, size_t size, size_t *len, const SbFrame *f);
/* Connect, and send HELLO (serial 1, window) plus any frames packed in
 * extra in the same packet; does not wait for WELCOME. Returns the fd or
 * -errno. */
int raw_connect_hello(const char *path, uint32_t window, const uint8_t *extra, size_t extra_len);
/* Read packets from fd until a frame of type with serial (0: any) arrives,
 * or timeout_ms passes. Counts frames of type count_type seen on the way
 * into *count (may be NULL). Returns 0, -EAGAIN on timeout, -ECONNRESET on
 * EOF, or the positive error of a matching REPLY. Unlike raw_expect(), it
 * keeps nothing between calls: frames after the match in the same packet
 * are counted, then dropped. */
int raw_wait_frame(int fd, uint8_t type, uint64_t serial, int timeout_ms, uint8_t count_type, unsigned *count);

/* A client in a child process that signals itself through the broker
 * (send, then wait for the delivery) every interval_ms and records the
 * round trips, until stopped. */
typedef struct LatencyProbe {
        pid_t pid;
        int stop_fd;            /* closing it stops the probe */
        int result_fd;
} LatencyProbe;

typedef struct LatencyStats {
        unsigned n;             /* round trips completed */
        unsigned failed;        /* sends or waits that failed */
        unsigned over;          /* round trips over the limit */
        double p50_ms, p99_ms, max_ms;
} LatencyStats;

void probe_start(LatencyProbe *p, const char *socket, int signo, unsigned interval_ms, unsigned limit_ms);
void probe_stop(LatencyProbe *p, LatencyStats *ret);
/* Baseline: run a probe for duration_ms on an otherwise quiet broker. */
void probe_baseline(const char *socket, int signo, unsigned duration_ms, LatencyStats *ret);

/* The daemon's STATUS once its "clients" (the asking connection included)
 * is want, waiting up to 5 s for departures to be noticed; asserts. */
char *wait_clients(const char *socket, long long want);
