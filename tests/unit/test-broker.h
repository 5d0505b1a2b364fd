/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A real Broker without a listening socket, for unit tests of the modules
 * above the event loop (routing, the restart journal). Clients are
 * socketpairs handed to peer_new(), as the fuzz targets do, so each peer's
 * identity comes from the kernel: a client made in this process is this
 * process (uid 0); one made with tb_connect_as() is made by a child that
 * took the given uid, gid and groups first and stays alive, doing nothing,
 * until the client is closed.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "broker.h"

typedef struct TestClient {
        Broker *broker;
        Peer *peer;             /* NULL once the broker has let it go */
        uint64_t id;            /* its client id */
        int fd;                 /* our end */
        pid_t child;            /* the process it belongs to, 0: this one */
        int child_ctl;          /* closed: the child exits */
        uint64_t serial;
        uint8_t *backlog;       /* frames read while waiting for an answer, encoded again */
        size_t backlog_len;
        uint8_t *view;          /* what the frames of the last tb_read() point into */
} TestClient;

typedef struct TestIdentity {
        uid_t uid;
        gid_t gid;
        const gid_t *groups;
        size_t n_groups;
        bool new_session;       /* setsid() first */
} TestIdentity;

/* A broker with this configuration text (NULL: none) and the defaults but
 * for max_queue (0: the config's). */
Broker *tb_broker_new(const char *config, uint32_t max_queue);
void tb_broker_free(Broker *b);

/* Connected and hello'd with this window (0: the default). */
TestClient *tb_connect(Broker *b, uint32_t window);
TestClient *tb_connect_as(Broker *b, const TestIdentity *id, uint32_t window);
/* Without a HELLO. */
TestClient *tb_connect_raw(Broker *b, const TestIdentity *id);
/* Close our end (the peer goes at the next turn of the loop) and reap the
 * child. */
void tb_close(TestClient *c);

/* Run the broker's loop until nothing more happens. */
void tb_run(Broker *b);

/* Send one frame (serial filled in) and run the loop. Returns the serial. */
uint64_t tb_send_frame(TestClient *c, SbFrame *f);

/* Frames the broker wrote to this client, in order; their pointers point
 * into storage the next call reuses. */
size_t tb_read(TestClient *c, SbFrame *frames, size_t max);
/* Read frames until the REPLY or RESULT to serial; fails the test if none.
 * The other frames read meanwhile are kept for the next tb_read(). */
SbFrame tb_wait_answer(TestClient *c, uint64_t serial);
/* The DELIVER and GAP frames waiting for c, at most max (more fails the
 * test); the other frames are read and dropped. */
size_t tb_deliveries(TestClient *c, SbFrame *out, size_t max);

/* Requests that answer with a REPLY: its error (0 or positive errno). */
int tb_subscribe(TestClient *c, uint64_t mask, uint32_t flags);
int tb_block(TestClient *c, uint64_t mask);
int tb_join(TestClient *c, const char *group);
int tb_leave(TestClient *c, const char *group);
void tb_ack(TestClient *c, uint32_t count);

/* A SEND; returns its RESULT. */
SbResult tb_send(TestClient *c, uint32_t signo, uint8_t priority, uint8_t kind, uint64_t target,
                 const char *group, const char *payload);
