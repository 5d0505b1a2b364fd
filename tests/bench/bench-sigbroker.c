/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Backend "sigbroker": a stub for now (issue 8, first half: harness and
 * baselines). Every row reads "n/a" and the sb/relay and sb/dbus ratio
 * columns stay empty until this file measures the real thing.
 *
 * What it must do, against client/sigbroker.h and the built sigbrokerd:
 *
 * - meson (tests/bench/meson.build): add libsigbroker_dep to
 *   sigbroker-bench's dependencies and give the benchmark() the daemon,
 *   env : ['SIGBROKERD=' + sigbrokerd.full_path()] (as tests/meson.build
 *   does for the integration tests). Without $SIGBROKERD, setup returns
 *   -EOPNOTSUPP (n/a), like dbus-daemon when it is not installed.
 * - setup: bench_spawn_exec("$SIGBROKERD --socket <tmpdir>/sigbroker.sock")
 *   after bench_guard_add_path() of the socket; then wait, bounded (like
 *   dbus_read_address()), until sigbroker_connect() succeeds. Keep the pid:
 *   it is the broker whose RSS is read. teardown: bench_proc_reap(),
 *   bench_guard_remove_path(). The bench runs as root, so per-uid limits do
 *   not apply (DESIGN.md "Overload"); if the default --max-queue is lower
 *   than what the flow rows keep in flight, pass a larger one and say so.
 * - latency (bench_pingpong_run): the pong worker connects,
 *   sigbroker_subscribe(SIGBROKER_SIGMASK(SIGRTMIN)), calls
 *   bench_worker_ready() (subscribe returns once the broker confirmed),
 *   then loops on sigbroker_wait() in BENCH_IDLE_SLICE_MS slices, checking
 *   bench_worker_stopped(), and answers each DATA frame by
 *   sigbroker_send() to the sender's pid (info.sender_pid) with the same
 *   64-byte struct bench_frame as payload; an END frame ends it. The ping
 *   sends to the pong's pid (pool->pids[0]) and waits for the echo (1 s
 *   at most), also subscribed to SIGRTMIN.
 * - throughput / fan-out (bench_flow_run): receivers subscribe to SIGRTMIN
 *   and count DATA frames with bench_worker_count() until END. The sender
 *   pipelines with sigbroker_send_async() (target: broadcast, priority 0),
 *   which packs many frames per packet, and keeps the pipeline bounded with
 *   sigbroker_collect_results(sb, max_outstanding > 0, ...) every batch.
 *   A refused send (queue full, EAGAIN) is backpressure: wait and resend,
 *   count the retries in the note, never drop. END goes out last, with
 *   .count = messages sent, after collecting every result.
 * - idle RSS (bench_rss_run): open = sigbroker_connect() + subscribe to one
 *   signal, so the broker holds an idle subscriber's full state; close =
 *   sigbroker_close(). An open_many that connects a chunk at once is only
 *   worth it if one at a time turns out slow.
 *
 * Frames are struct bench_frame, 64 bytes, as for every other backend, so
 * the ratios compare the same work.
 */

#include "bench.h"

const struct bench_backend bench_backend_sigbroker = {
        .name = "sigbroker",
        .na_reason = "sigbroker: backend not written yet (tests/bench/bench-sigbroker.c says what it must do)",
};
