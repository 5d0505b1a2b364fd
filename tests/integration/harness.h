/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Integration test harness: runs the real sigbrokerd (found through
 * $SIGBROKERD, set by meson) on a socket in a fresh temporary directory,
 * and speaks raw protocol where a test must send what no library would.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "protocol.h"

typedef struct TestDaemon {
        pid_t pid;
        char dir[64];
        char socket[128];
        char log[128];
        char config[128];
} TestDaemon;

/* Start sigbrokerd with --socket DIR/sock --config DIR/sigbroker.conf
 * (empty unless config_text is given) and the extra arguments (NULL
 * terminated); waits until it accepts connections. Aborts the test on
 * failure. */
void daemon_start(TestDaemon *d, const char *config_text, const char *const *args);
/* SIGTERM, wait; returns the exit status (or 128+signal). Removes the dir. */
int daemon_stop(TestDaemon *d);
bool daemon_alive(const TestDaemon *d);
/* The daemon's stderr so far, malloc()ed. */
char *daemon_log(const TestDaemon *d);
/* Send SIGHUP and wait until the log has grown past what it was. */
void daemon_reload(TestDaemon *d);

/* Raw protocol. */
int raw_connect(const char *path);
void raw_send(int fd, const void *buf, size_t len);
void raw_send_frame(int fd, const SbFrame *f);
/* Receive one packet within timeout_ms; 0 on EOF, -EAGAIN on timeout, else
 * its size. */
ssize_t raw_recv(int fd, void *buf, size_t size, int timeout_ms);
/* Wait for a frame of type (skipping others) and decode it into *ret;
 * buf keeps what it points to. Returns 0, -EAGAIN on timeout, -ECONNRESET
 * on EOF. */
int raw_expect(int fd, uint8_t type, uint8_t *buf, size_t size, SbFrame *ret, int timeout_ms);
/* HELLO and WELCOME. */
void raw_hello(int fd, uint32_t window, SbWelcome *ret);

/* Run a test executable's suite; its exit status. */
struct Suite;
int harness_run(struct Suite *s);

/* Run fn in a child process; returns its exit status. */
int run_child(int (*fn)(void *userdata), void *userdata);

/* Base64 of a file-free helper for checking CLI output. */
char *run_capture(const char *cmd, int *ret_status);
