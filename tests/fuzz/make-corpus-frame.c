/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Writes the seed corpus of fuzz-frame: a few small valid frames of each
 * message type, and packets of several frames as a client and the daemon
 * send them. The seeds are committed; run this again only when the wire
 * format changes:
 *
 *   ninja -C BUILD tests/fuzz/make-corpus-frame
 *   BUILD/tests/fuzz/make-corpus-frame tests/fuzz/corpus/frame
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

typedef struct Packet {
        uint8_t buf[1024];
        size_t len;
} Packet;

static void add(Packet *p, SbFrame f) {
        ssize_t n = sb_frame_encode(&f, p->buf + p->len, sizeof(p->buf) - p->len);

        if (n < 0) {
                fprintf(stderr, "cannot encode %s: %s\n", sb_msg_type_to_string(f.type), strerror((int) -n));
                exit(EXIT_FAILURE);
        }
        p->len += (size_t) n;
}

static void write_seed(const char *dir, const char *name, const Packet *p) {
        char path[4096];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "we");
        if (!f || fwrite(p->buf, 1, p->len, f) != p->len || fclose(f) != 0) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                exit(EXIT_FAILURE);
        }
}

static void seed(const char *dir, const char *name, SbFrame f) {
        Packet p = {};

        add(&p, f);
        write_seed(dir, name, &p);
}

static SbFrame hello(void) {
        return (SbFrame) { .type = SB_MSG_HELLO, .serial = 1, .hello.window = 64 };
}
static SbFrame welcome(void) {
        return (SbFrame) { .type = SB_MSG_WELCOME, .serial = 1,
                .welcome = { .client_id = 3, .pid = 4242, .uid = 1000, .gid = 1000,
                             .max_payload = SB_PAYLOAD_MAX_DEFAULT, .max_queue = 1024, .window = 64 } };
}
static SbFrame hello_features(void) {
        SbFrame f = hello();
        f.hello.flags = SB_HELLO_FEATURES;
        return f;
}
static SbFrame welcome_features(void) {
        SbFrame f = welcome();
        f.welcome.features = SB_FEATURE_WATCH | SB_FEATURE_DEADLINE | SB_FEATURE_CONFIRM;
        return f;
}
static SbFrame subscribe(uint32_t type, uint64_t mask, uint32_t flags) {
        return (SbFrame) { .type = (uint8_t) type, .serial = 2, .subscribe = { .mask = mask, .flags = flags } };
}
static SbFrame send_pid(void) {
        return (SbFrame) { .type = SB_MSG_SEND, .serial = 3,
                .send = { .signo = 10, .priority = 5, .target_kind = SB_TARGET_PID, .target = 4242,
                          .payload = "hi", .payload_len = 2 } };
}
static SbFrame send_group(void) {
        return (SbFrame) { .type = SB_MSG_SEND, .serial = 4,
                .send = { .signo = 35, .priority = 99, .target_kind = SB_TARGET_GROUP,
                          .group = "web", .group_len = 3, .payload = "x", .payload_len = 1 } };
}
static SbFrame deliver(uint64_t seq, uint32_t signo, uint32_t merged) {
        return (SbFrame) { .type = SB_MSG_DELIVER, .serial = 10 + seq,
                .deliver = { .signo = signo, .priority = 5, .sender_pid = 4242, .sender_uid = 1000,
                             .sender_gid = 1000, .merged = merged, .sender_client_id = 3,
                             .realtime_ns = UINT64_C(1700000000000000000), .monotonic_ns = 123456789,
                             .seq = seq, .payload = "abc", .payload_len = 3 } };
}
static SbFrame gap(void) {
        return (SbFrame) { .type = SB_MSG_GAP, .serial = 20, .gap = { .signo = 40, .lost = 7, .seq = 4 } };
}
static SbFrame reply(uint64_t serial, int32_t error) {
        return (SbFrame) { .type = SB_MSG_REPLY, .serial = 5, .reply = { .reply_serial = serial, .error = error } };
}
static SbFrame name(uint32_t type, const char *s) {
        return (SbFrame) { .type = (uint8_t) type, .serial = 6, .name = { .name = s, .len = (uint16_t) strlen(s) } };
}
static SbFrame ack(uint32_t count) {
        return (SbFrame) { .type = SB_MSG_ACK, .serial = 7, .ack.count = count };
}
static SbFrame data(uint32_t flags, const char *s) {
        return (SbFrame) { .type = SB_MSG_DATA, .serial = 9,
                .data = { .reply_serial = 8, .flags = flags, .data = s, .data_len = (uint32_t) strlen(s) } };
}

int main(int argc, char **argv) {
        const char *dir;
        Packet p = {};

        if (argc != 2) {
                fprintf(stderr, "usage: %s DIR\n", argv[0]);
                return EXIT_FAILURE;
        }
        dir = argv[1];

        seed(dir, "hello", hello());
        seed(dir, "welcome", welcome());
        seed(dir, "hello-features", hello_features());
        seed(dir, "welcome-features", welcome_features());
        seed(dir, "subscribe", subscribe(SB_MSG_SUBSCRIBE, SB_SIGMASK(10) | SB_SIGMASK(35), SB_SUBSCRIBE_DROP_OLDEST));
        seed(dir, "unsubscribe", subscribe(SB_MSG_UNSUBSCRIBE, SB_SIGMASK(10), 0));
        seed(dir, "send-pid", send_pid());
        seed(dir, "send-group", send_group());
        seed(dir, "send-probe", (SbFrame) { .type = SB_MSG_SEND, .serial = 5,
                .send = { .signo = 0, .target_kind = SB_TARGET_BROADCAST } });
        seed(dir, "send-deferred", (SbFrame) { .type = SB_MSG_SEND, .serial = 5,
                .send = { .signo = 34, .target_kind = SB_TARGET_BROADCAST, .flags = SB_SEND_DEFER_RESULT } });
        seed(dir, "sync", (SbFrame) { .type = SB_MSG_SYNC, .serial = 6 });
        seed(dir, "result", (SbFrame) { .type = SB_MSG_RESULT, .serial = 5,
                .result = { .reply_serial = 3, .error = 0, .queued = 2, .merged = 1 } });
        seed(dir, "reply", reply(2, 0));
        seed(dir, "deliver", deliver(1, 10, 2));
        seed(dir, "ack", ack(1));
        seed(dir, "gap", gap());
        seed(dir, "join", name(SB_MSG_JOIN, "web"));
        seed(dir, "leave", name(SB_MSG_LEAVE, "pool:eu@host-1_a"));
        seed(dir, "set-window", (SbFrame) { .type = SB_MSG_SET_WINDOW, .serial = 8, .window.window = 16 });
        seed(dir, "block", (SbFrame) { .type = SB_MSG_BLOCK, .serial = 8, .block.mask = SB_SIGMASK(15) });
        seed(dir, "error", (SbFrame) { .type = SB_MSG_ERROR, .serial = 0,
                .error = { .error = EPROTO, .text = "malformed frame body", .text_len = 20 } });
        seed(dir, "query", (SbFrame) { .type = SB_MSG_QUERY, .serial = 8,
                .query = { .kind = SB_QUERY_STATS, .flags = SB_QUERY_OPENMETRICS } });
        seed(dir, "data-more", data(SB_DATA_MORE, "{\"clients\":["));
        seed(dir, "data-last", data(0, "]}"));

        /* A client's first packet, and a later one. */
        add(&p, hello());
        add(&p, subscribe(SB_MSG_SUBSCRIBE, SB_SIGMASK(10), 0));
        add(&p, name(SB_MSG_JOIN, "web"));
        add(&p, send_group());
        write_seed(dir, "packet-client", &p);
        p.len = 0;
        add(&p, ack(3));
        add(&p, send_pid());
        add(&p, send_pid());
        add(&p, subscribe(SB_MSG_UNSUBSCRIBE, SB_SIGMASK(10), 0));
        add(&p, (SbFrame) { .type = SB_MSG_SYNC, .serial = 9 });
        write_seed(dir, "packet-client-2", &p);

        /* The daemon's batches. */
        p.len = 0;
        add(&p, welcome());
        add(&p, reply(2, 0));
        add(&p, reply(6, ESRCH));
        write_seed(dir, "packet-daemon", &p);
        p.len = 0;
        add(&p, deliver(1, 35, 0));
        add(&p, deliver(2, 35, 0));
        add(&p, deliver(3, 10, 4));
        add(&p, gap());
        write_seed(dir, "packet-deliveries", &p);
        return EXIT_SUCCESS;
}
