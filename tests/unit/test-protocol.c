/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the wire format (protocol/): round trips of every message
 * type, packets of many frames, every rejection of the untrusted decoder with
 * its own code, the encoder's refusals, and signal and group names.
 *
 * Layouts are written out here independently of protocol.c (the golden
 * frames and the table of fixed body sizes), so that a change to the wire
 * format shows up as a failing test and not only as a changed man page.
 * The decoder reads its input from right before an inaccessible page, so a
 * read past the end faults in any build; the encoder writes into buffers of
 * the exact size, which ASan checks in the sanitizer build of the tests.
 */

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "protocol.h"

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

/* Filled once in main() before any test runs; read-only afterwards. */
static uint8_t pattern[SB_PACKET_MAX];

static void pattern_init(void) {
        for (size_t i = 0; i < sizeof(pattern); i++)
                pattern[i] = (uint8_t) (i * 131 + (i >> 8) + 7);
}

/* Fixed body sizes as the man page states them; variable parts add to them. */
static const uint32_t fixed_size[_SB_MSG_MAX] = {
        [SB_MSG_HELLO] = 8,     [SB_MSG_WELCOME] = 32,    [SB_MSG_SUBSCRIBE] = 16,
        [SB_MSG_UNSUBSCRIBE] = 16, [SB_MSG_SEND] = 24,    [SB_MSG_RESULT] = 32,
        [SB_MSG_REPLY] = 16,    [SB_MSG_DELIVER] = 64,    [SB_MSG_ACK] = 8,
        [SB_MSG_GAP] = 16,      [SB_MSG_JOIN] = 0,        [SB_MSG_LEAVE] = 0,
        [SB_MSG_SET_WINDOW] = 8, [SB_MSG_BLOCK] = 8,      [SB_MSG_ERROR] = 8,
        [SB_MSG_QUERY] = 16,    [SB_MSG_DATA] = 24,       [SB_MSG_SYNC] = 0,
};

/* ---- little helpers ---- */

static void put_le(uint8_t *p, uint64_t v, size_t width) {
        for (size_t i = 0; i < width; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

/* The end of a writable area of SB_PACKET_MAX bytes followed by a page with
 * no access: input copied so that it ends here makes any read past its end
 * fault, in every build and not only under ASan. Set up once in main(). */
static uint8_t *guard_end;

static void guard_init(void) {
        size_t page = (size_t) sysconf(_SC_PAGESIZE);
        size_t area = (SB_PACKET_MAX + page - 1) / page * page;
        uint8_t *p = mmap(NULL, area + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        if (p == MAP_FAILED || mprotect(p + area, page, PROT_NONE) < 0)
                abort();
        guard_end = p + area;
}

/* Copy len bytes so that they end right before the guard page. */
static const uint8_t *guard_place(const void *data, size_t len) {
        ck_assert_uint_le(len, SB_PACKET_MAX);
        if (len > 0)
                memcpy(guard_end - len, data, len);
        return guard_end - len;
}

/* Encode into a buffer of exactly the frame's size, so that ASan sees any
 * write past it. */
static uint8_t *encode_exact(const SbFrame *f, size_t *ret_len) {
        size_t n = sb_frame_size(f);
        uint8_t *buf;
        ssize_t k;

        ck_assert_uint_ge(n, SB_HEADER_SIZE);
        buf = malloc(n);
        ck_assert_ptr_nonnull(buf);
        k = sb_frame_encode(f, buf, n);
        ck_assert_int_eq(k, (ssize_t) n);
        *ret_len = n;
        return buf;
}

static void assert_bytes_eq(const void *a, const void *b, size_t len) {
        if (len > 0) {
                ck_assert_ptr_nonnull(a);
                ck_assert_ptr_nonnull(b);
                ck_assert_int_eq(memcmp(a, b, len), 0);
        }
}

static void assert_frame_eq(const SbFrame *a, const SbFrame *b) {
        ck_assert_uint_eq(a->type, b->type);
        ck_assert_uint_eq(a->serial, b->serial);
        switch (a->type) {
        case SB_MSG_HELLO:
                ck_assert_uint_eq(a->hello.window, b->hello.window);
                ck_assert_uint_eq(a->hello.flags, b->hello.flags);
                break;
        case SB_MSG_WELCOME:
                ck_assert_uint_eq(a->welcome.client_id, b->welcome.client_id);
                ck_assert_uint_eq(a->welcome.pid, b->welcome.pid);
                ck_assert_uint_eq(a->welcome.uid, b->welcome.uid);
                ck_assert_uint_eq(a->welcome.gid, b->welcome.gid);
                ck_assert_uint_eq(a->welcome.max_payload, b->welcome.max_payload);
                ck_assert_uint_eq(a->welcome.max_queue, b->welcome.max_queue);
                ck_assert_uint_eq(a->welcome.window, b->welcome.window);
                ck_assert_uint_eq(a->welcome.features, b->welcome.features);
                break;
        case SB_MSG_SUBSCRIBE:
        case SB_MSG_UNSUBSCRIBE:
                ck_assert_uint_eq(a->subscribe.mask, b->subscribe.mask);
                ck_assert_uint_eq(a->subscribe.flags, b->subscribe.flags);
                break;
        case SB_MSG_SEND:
                ck_assert_uint_eq(a->send.signo, b->send.signo);
                ck_assert_uint_eq(a->send.priority, b->send.priority);
                ck_assert_uint_eq(a->send.target_kind, b->send.target_kind);
                ck_assert_uint_eq(a->send.flags, b->send.flags);
                ck_assert_uint_eq(a->send.target, b->send.target);
                ck_assert_uint_eq(a->send.group_len, b->send.group_len);
                assert_bytes_eq(a->send.group, b->send.group, a->send.group_len);
                ck_assert_uint_eq(a->send.payload_len, b->send.payload_len);
                assert_bytes_eq(a->send.payload, b->send.payload, a->send.payload_len);
                break;
        case SB_MSG_RESULT:
                ck_assert_uint_eq(a->result.reply_serial, b->result.reply_serial);
                ck_assert_int_eq(a->result.error, b->result.error);
                ck_assert_uint_eq(a->result.queued, b->result.queued);
                ck_assert_uint_eq(a->result.merged, b->result.merged);
                ck_assert_uint_eq(a->result.refused, b->result.refused);
                ck_assert_uint_eq(a->result.denied, b->result.denied);
                break;
        case SB_MSG_REPLY:
                ck_assert_uint_eq(a->reply.reply_serial, b->reply.reply_serial);
                ck_assert_int_eq(a->reply.error, b->reply.error);
                break;
        case SB_MSG_DELIVER:
                ck_assert_uint_eq(a->deliver.signo, b->deliver.signo);
                ck_assert_uint_eq(a->deliver.priority, b->deliver.priority);
                ck_assert_uint_eq(a->deliver.flags, b->deliver.flags);
                ck_assert_uint_eq(a->deliver.sender_pid, b->deliver.sender_pid);
                ck_assert_uint_eq(a->deliver.sender_uid, b->deliver.sender_uid);
                ck_assert_uint_eq(a->deliver.sender_gid, b->deliver.sender_gid);
                ck_assert_uint_eq(a->deliver.merged, b->deliver.merged);
                ck_assert_uint_eq(a->deliver.sender_client_id, b->deliver.sender_client_id);
                ck_assert_uint_eq(a->deliver.realtime_ns, b->deliver.realtime_ns);
                ck_assert_uint_eq(a->deliver.monotonic_ns, b->deliver.monotonic_ns);
                ck_assert_uint_eq(a->deliver.seq, b->deliver.seq);
                ck_assert_uint_eq(a->deliver.payload_len, b->deliver.payload_len);
                assert_bytes_eq(a->deliver.payload, b->deliver.payload, a->deliver.payload_len);
                break;
        case SB_MSG_ACK:
                ck_assert_uint_eq(a->ack.count, b->ack.count);
                break;
        case SB_MSG_GAP:
                ck_assert_uint_eq(a->gap.signo, b->gap.signo);
                ck_assert_uint_eq(a->gap.lost, b->gap.lost);
                ck_assert_uint_eq(a->gap.seq, b->gap.seq);
                break;
        case SB_MSG_JOIN:
        case SB_MSG_LEAVE:
                ck_assert_uint_eq(a->name.len, b->name.len);
                assert_bytes_eq(a->name.name, b->name.name, a->name.len);
                break;
        case SB_MSG_SET_WINDOW:
                ck_assert_uint_eq(a->window.window, b->window.window);
                break;
        case SB_MSG_BLOCK:
                ck_assert_uint_eq(a->block.mask, b->block.mask);
                break;
        case SB_MSG_ERROR:
                ck_assert_int_eq(a->error.error, b->error.error);
                ck_assert_uint_eq(a->error.text_len, b->error.text_len);
                assert_bytes_eq(a->error.text, b->error.text, a->error.text_len);
                break;
        case SB_MSG_QUERY:
                ck_assert_uint_eq(a->query.kind, b->query.kind);
                ck_assert_uint_eq(a->query.flags, b->query.flags);
                ck_assert_uint_eq(a->query.arg, b->query.arg);
                break;
        case SB_MSG_DATA:
                ck_assert_uint_eq(a->data.reply_serial, b->data.reply_serial);
                ck_assert_int_eq(a->data.error, b->data.error);
                ck_assert_uint_eq(a->data.flags, b->data.flags);
                ck_assert_uint_eq(a->data.data_len, b->data.data_len);
                assert_bytes_eq(a->data.data, b->data.data, a->data.data_len);
                break;
        case SB_MSG_SYNC:
                break;
        default:
                ck_abort_msg("unexpected type %u", a->type);
        }
}

/* ---- sample frames ---- */

/* A frame of the given type with every field set to a value of its own, high
 * bits included, so that a swapped, truncated or misplaced field shows.
 * var_len is the length of the variable part (payload, name, text, data);
 * group chooses for SEND: 0 no group, 1 a short name, 2 a name of the
 * maximum length. */
static SbFrame sample_frame(SbMsgType type, uint32_t var_len, int group) {
        static const char group_name[SB_GROUP_NAME_MAX + 1] =
                "workers.eu-west:pool@host_0123456789-abcdefghijklmnopqrstuvwxyzA";
        SbFrame f = { .type = type, .serial = UINT64_C(0x8877665544332211) + type };

        switch (type) {
        case SB_MSG_HELLO:
                f.hello.window = 0x80000001;
                break;
        case SB_MSG_WELCOME:
                f.welcome = (SbWelcome) {
                        .client_id = UINT64_C(0xfedcba9876543210),
                        .pid = 0x81020304, .uid = 0x82030405, .gid = 0x83040506,
                        .max_payload = 65536, .max_queue = 0x84050607, .window = 0x85060708,
                };
                break;
        case SB_MSG_SUBSCRIBE:
                f.subscribe = (SbSubscribe) { .mask = UINT64_C(0x8000000000000201), .flags = SB_SUBSCRIBE_DROP_OLDEST };
                break;
        case SB_MSG_UNSUBSCRIBE:
                f.subscribe = (SbSubscribe) { .mask = UINT64_C(0xc000000000000003) };
                break;
        case SB_MSG_SEND:
                f.send = (SbSend) {
                        .signo = 0x80000022, .priority = 0xfe, .target_kind = 0x81,
                        .target = UINT64_C(0x8102030405060708),
                        .payload = pattern, .payload_len = var_len,
                };
                if (group) {
                        f.send.target_kind = SB_TARGET_GROUP;
                        f.send.group = group_name;
                        f.send.group_len = group == 2 ? SB_GROUP_NAME_MAX : 10;
                }
                break;
        case SB_MSG_RESULT:
                f.result = (SbResult) {
                        .reply_serial = UINT64_C(0x8000000000000007), .error = -2,
                        .queued = 0x80000001, .merged = 0x80000002, .refused = 0x80000003, .denied = 0x80000004,
                };
                break;
        case SB_MSG_REPLY:
                f.reply = (SbReply) { .reply_serial = UINT64_C(0x8000000000000009), .error = ESRCH };
                break;
        case SB_MSG_DELIVER:
                f.deliver = (SbDeliver) {
                        .signo = 64, .priority = 99,
                        .sender_pid = 0x81000001, .sender_uid = 0x82000002, .sender_gid = 0x83000003,
                        .merged = 0x84000004, .sender_client_id = UINT64_C(0x8500000000000005),
                        .realtime_ns = UINT64_C(0x8600000000000006), .monotonic_ns = UINT64_C(0x8700000000000007),
                        .seq = UINT64_C(0x8800000000000008),
                        .payload = pattern + 1, .payload_len = var_len,
                };
                break;
        case SB_MSG_ACK:
                f.ack.count = 0x80000005;
                break;
        case SB_MSG_GAP:
                f.gap = (SbGap) { .signo = 0x80000010, .lost = 0x80000011, .seq = UINT64_C(0x8000000000000012) };
                break;
        case SB_MSG_JOIN:
        case SB_MSG_LEAVE:
                f.name = (SbName) { .name = group_name, .len = (uint16_t) var_len };
                break;
        case SB_MSG_SET_WINDOW:
                f.window.window = 0x80000013;
                break;
        case SB_MSG_BLOCK:
                f.block.mask = UINT64_C(0x8000000000000014);
                break;
        case SB_MSG_ERROR:
                f.error = (SbError) { .error = 71, .text = (const char *) pattern + 2, .text_len = (uint16_t) var_len };
                break;
        case SB_MSG_QUERY:
                f.query = (SbQuery) { .kind = 0x80000015, .flags = SB_QUERY_OPENMETRICS, .arg = UINT64_C(0x8000000000000016) };
                break;
        case SB_MSG_DATA:
                f.data = (SbData) {
                        .reply_serial = UINT64_C(0x8000000000000017), .error = EOPNOTSUPP, .flags = SB_DATA_MORE,
                        .data = (const char *) pattern + 3, .data_len = var_len,
                };
                break;
        case SB_MSG_SYNC:
                break;
        default:
                ck_abort_msg("no sample for type %d", type);
        }
        return f;
}

static const struct Sample {
        SbMsgType type;
        uint32_t len;
        int group;
} samples[] = {
        { SB_MSG_HELLO, 0, 0 },
        { SB_MSG_WELCOME, 0, 0 },
        { SB_MSG_SUBSCRIBE, 0, 0 },
        { SB_MSG_UNSUBSCRIBE, 0, 0 },
        { SB_MSG_SEND, 0, 0 },
        { SB_MSG_SEND, 1, 0 },
        { SB_MSG_SEND, 4096, 0 },
        { SB_MSG_SEND, 65536, 0 },
        { SB_MSG_SEND, 0, 1 },
        { SB_MSG_SEND, 1, 1 },
        { SB_MSG_SEND, 4096, 1 },
        { SB_MSG_SEND, 65536, 2 },
        { SB_MSG_RESULT, 0, 0 },
        { SB_MSG_REPLY, 0, 0 },
        { SB_MSG_DELIVER, 0, 0 },
        { SB_MSG_DELIVER, 1, 0 },
        { SB_MSG_DELIVER, 4096, 0 },
        { SB_MSG_DELIVER, 65536, 0 },
        { SB_MSG_ACK, 0, 0 },
        { SB_MSG_GAP, 0, 0 },
        { SB_MSG_JOIN, 1, 0 },
        { SB_MSG_JOIN, SB_GROUP_NAME_MAX, 0 },
        { SB_MSG_LEAVE, 1, 0 },
        { SB_MSG_LEAVE, SB_GROUP_NAME_MAX, 0 },
        { SB_MSG_SET_WINDOW, 0, 0 },
        { SB_MSG_BLOCK, 0, 0 },
        { SB_MSG_ERROR, 0, 0 },
        { SB_MSG_ERROR, 1, 0 },
        { SB_MSG_ERROR, SB_ERROR_TEXT_MAX, 0 },
        { SB_MSG_QUERY, 0, 0 },
        { SB_MSG_DATA, 0, 0 },
        { SB_MSG_DATA, 1, 0 },
        { SB_MSG_DATA, 4096, 0 },
        { SB_MSG_DATA, SB_DATA_MAX, 0 },
        { SB_MSG_SYNC, 0, 0 },
};

static SbFrame sample(size_t i) {
        return sample_frame(samples[i].type, samples[i].len, samples[i].group);
}

static size_t expected_size(const SbFrame *f) {
        size_t var = 0;

        switch (f->type) {
        case SB_MSG_SEND: var = f->send.group_len + (size_t) f->send.payload_len; break;
        case SB_MSG_DELIVER: var = f->deliver.payload_len; break;
        case SB_MSG_JOIN: case SB_MSG_LEAVE: var = f->name.len; break;
        case SB_MSG_ERROR: var = f->error.text_len; break;
        case SB_MSG_DATA: var = f->data.data_len; break;
        default: break;
        }
        return SB_HEADER_SIZE + fixed_size[f->type] + var;
}

/* ---- round trips ---- */

START_TEST(test_roundtrip) {
        SbFrame in = sample((size_t) _i), out;
        size_t n, taken = 0;
        uint8_t *buf = encode_exact(&in, &n);

        ck_assert_uint_eq(n, expected_size(&in));
        ck_assert_uint_eq(buf[0], SB_PROTOCOL_VERSION);
        ck_assert_uint_eq(buf[1], in.type);
        ck_assert_int_eq(sb_frame_parse_untrusted(buf, n, &out, &taken), SB_PARSE_OK);
        ck_assert_uint_eq(taken, n);
        assert_frame_eq(&in, &out);
        ck_assert_uint_eq(sb_frame_size(&out), n);
        free(buf);
}
END_TEST

/* With more bytes after it, the frame takes only its own. */
START_TEST(test_roundtrip_with_trailer) {
        SbFrame in = sample((size_t) _i), out;
        size_t n = sb_frame_size(&in), taken = 0;
        uint8_t *buf = malloc(n + 3);

        ck_assert_ptr_nonnull(buf);
        ck_assert_int_eq(sb_frame_encode(&in, buf, n + 3), (ssize_t) n);
        memset(buf + n, 0xaa, 3);
        ck_assert_int_eq(sb_frame_parse_untrusted(buf, n + 3, &out, &taken), SB_PARSE_OK);
        ck_assert_uint_eq(taken, n);
        assert_frame_eq(&in, &out);
        free(buf);
}
END_TEST

/* The largest frame there is: a SEND filling a whole packet. */
START_TEST(test_roundtrip_max_packet) {
        SbFrame in = sample_frame(SB_MSG_SEND, SB_BODY_MAX - 24 - SB_GROUP_NAME_MAX, 2), out;
        size_t n, taken = 0;
        uint8_t *buf = encode_exact(&in, &n);

        ck_assert_uint_eq(n, SB_PACKET_MAX);
        ck_assert_int_eq(sb_frame_parse_untrusted(buf, n, &out, &taken), SB_PARSE_OK);
        ck_assert_uint_eq(taken, n);
        assert_frame_eq(&in, &out);
        free(buf);

        in.send.payload_len++;
        ck_assert_int_eq(sb_frame_encode(&in, NULL, 0), -EINVAL);
}
END_TEST

/* ---- the exact bytes: the layout sigbroker-protocol(7) documents ---- */

static void assert_encodes_to(const SbFrame *f, const uint8_t *expected, size_t len) {
        SbFrame out;
        size_t n, taken = 0;
        uint8_t *buf = encode_exact(f, &n);

        ck_assert_uint_eq(n, len);
        for (size_t i = 0; i < len; i++)
                ck_assert_msg(buf[i] == expected[i], "byte %zu: got 0x%02x, expected 0x%02x", i, buf[i], expected[i]);
        ck_assert_int_eq(sb_frame_parse_untrusted(expected, len, &out, &taken), SB_PARSE_OK);
        ck_assert_uint_eq(taken, len);
        assert_frame_eq(f, &out);
        free(buf);
}

START_TEST(test_golden_hello) {
        SbFrame f = { .type = SB_MSG_HELLO, .serial = 1, .hello.window = 0x01020304 };
        static const uint8_t b[] = {
                1, 1, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
                0x04, 0x03, 0x02, 0x01, 0, 0, 0, 0,
        };
        assert_encodes_to(&f, b, sizeof(b));
}
END_TEST

START_TEST(test_golden_send) {
        SbFrame f = {
                .type = SB_MSG_SEND, .serial = UINT64_C(0x0102030405060708),
                .send = {
                        .signo = 10, .priority = 5, .target_kind = SB_TARGET_GROUP, .target = 0x1122,
                        .group = "web", .group_len = 3, .payload = "hi", .payload_len = 2,
                },
        };
        static const uint8_t b[] = {
                1, 5, 0, 0, 29, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1,
                10, 0, 0, 0,            /* signo */
                5,                      /* priority */
                3,                      /* target kind */
                0, 0,                   /* flags */
                0x22, 0x11, 0, 0, 0, 0, 0, 0, /* target */
                3, 0,                   /* group_len */
                0, 0,                   /* reserved */
                2, 0, 0, 0,             /* payload_len */
                'w', 'e', 'b', 'h', 'i',
        };
        assert_encodes_to(&f, b, sizeof(b));
}
END_TEST

START_TEST(test_golden_deliver) {
        SbFrame f = {
                .type = SB_MSG_DELIVER, .serial = 2,
                .deliver = {
                        .signo = 35, .priority = 7, .sender_pid = 100, .sender_uid = 1000, .sender_gid = 1001,
                        .merged = 3, .sender_client_id = 9, .realtime_ns = 0x0a0b, .monotonic_ns = 0x0c0d,
                        .seq = 42, .payload = "x", .payload_len = 1,
                },
        };
        static const uint8_t b[] = {
                1, 8, 0, 0, 65, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,
                35, 0, 0, 0, 7, 0, 0, 0,                /* signo, priority, flags, reserved */
                100, 0, 0, 0, 0xe8, 0x03, 0, 0, 0xe9, 0x03, 0, 0, /* pid, uid, gid */
                3, 0, 0, 0,                             /* merged */
                9, 0, 0, 0, 0, 0, 0, 0,                 /* sender client id */
                0x0b, 0x0a, 0, 0, 0, 0, 0, 0,           /* realtime */
                0x0d, 0x0c, 0, 0, 0, 0, 0, 0,           /* monotonic */
                42, 0, 0, 0, 0, 0, 0, 0,                /* seq */
                1, 0, 0, 0, 0, 0, 0, 0,                 /* payload_len, reserved */
                'x',
        };
        assert_encodes_to(&f, b, sizeof(b));
}
END_TEST

START_TEST(test_golden_small_types) {
        static const uint8_t welcome[] = {
                1, 2, 0, 0, 32, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
                7, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0,
                0, 0x10, 0, 0, 0, 1, 0, 0, 64, 0, 0, 0,
        };
        static const uint8_t subscribe[] = {
                1, 3, 0, 0, 16, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0,
                0x00, 0x02, 0, 0, 0, 0, 0, 0x80, 1, 0, 0, 0, 0, 0, 0, 0,
        };
        static const uint8_t result[] = {
                1, 6, 0, 0, 32, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0,
                3, 0, 0, 0, 0, 0, 0, 0, 11, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0,
        };
        static const uint8_t reply[] = {
                1, 7, 0, 0, 16, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0,
                4, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
        };
        static const uint8_t ack[] = { 1, 9, 0, 0, 8, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0 };
        static const uint8_t gap[] = {
                1, 10, 0, 0, 16, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0,
                15, 0, 0, 0, 2, 0, 0, 0, 43, 0, 0, 0, 0, 0, 0, 0,
        };
        static const uint8_t join[] = { 1, 11, 0, 0, 3, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 'w', 'e', 'b' };
        static const uint8_t window[] = { 1, 13, 0, 0, 8, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0 };
        static const uint8_t block[] = { 1, 14, 0, 0, 8, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0 };
        static const uint8_t error[] = {
                1, 15, 0, 0, 10, 0, 0, 0, 11, 0, 0, 0, 0, 0, 0, 0,
                71, 0, 0, 0, 2, 0, 0, 0, 'n', 'o',
        };
        static const uint8_t query[] = {
                1, 16, 0, 0, 16, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0,
                1, 0, 0, 0, 1, 0, 0, 0, 0xff, 0, 0, 0, 0, 0, 0, 0,
        };
        static const uint8_t data[] = {
                1, 17, 0, 0, 26, 0, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0,
                12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, '{', '}',
        };
        SbFrame f;

        f = (SbFrame) { .type = SB_MSG_WELCOME, .serial = 1,
                .welcome = { .client_id = 7, .pid = 1, .uid = 2, .gid = 3, .max_payload = 4096, .max_queue = 256, .window = 64 } };
        assert_encodes_to(&f, welcome, sizeof(welcome));
        f = (SbFrame) { .type = SB_MSG_SUBSCRIBE, .serial = 3,
                .subscribe = { .mask = SB_SIGMASK(10) | SB_SIGMASK(64), .flags = SB_SUBSCRIBE_DROP_OLDEST } };
        assert_encodes_to(&f, subscribe, sizeof(subscribe));
        f = (SbFrame) { .type = SB_MSG_RESULT, .serial = 4,
                .result = { .reply_serial = 3, .error = EAGAIN, .queued = 1, .merged = 2, .refused = 3, .denied = 4 } };
        assert_encodes_to(&f, result, sizeof(result));
        f = (SbFrame) { .type = SB_MSG_REPLY, .serial = 5, .reply = { .reply_serial = 4, .error = EPERM } };
        assert_encodes_to(&f, reply, sizeof(reply));
        f = (SbFrame) { .type = SB_MSG_ACK, .serial = 6, .ack.count = 5 };
        assert_encodes_to(&f, ack, sizeof(ack));
        f = (SbFrame) { .type = SB_MSG_GAP, .serial = 7, .gap = { .signo = 15, .lost = 2, .seq = 43 } };
        assert_encodes_to(&f, gap, sizeof(gap));
        f = (SbFrame) { .type = SB_MSG_JOIN, .serial = 8, .name = { .name = "web", .len = 3 } };
        assert_encodes_to(&f, join, sizeof(join));
        f = (SbFrame) { .type = SB_MSG_SET_WINDOW, .serial = 9, .window.window = 16 };
        assert_encodes_to(&f, window, sizeof(window));
        f = (SbFrame) { .type = SB_MSG_BLOCK, .serial = 10, .block.mask = SB_SIGMASK(2) };
        assert_encodes_to(&f, block, sizeof(block));
        f = (SbFrame) { .type = SB_MSG_ERROR, .serial = 11, .error = { .error = 71, .text = "no", .text_len = 2 } };
        assert_encodes_to(&f, error, sizeof(error));
        f = (SbFrame) { .type = SB_MSG_QUERY, .serial = 12,
                .query = { .kind = SB_QUERY_STATS, .flags = SB_QUERY_OPENMETRICS, .arg = 255 } };
        assert_encodes_to(&f, query, sizeof(query));
        f = (SbFrame) { .type = SB_MSG_DATA, .serial = 13,
                .data = { .reply_serial = 12, .error = 0, .flags = SB_DATA_MORE, .data = "{}", .data_len = 2 } };
        assert_encodes_to(&f, data, sizeof(data));
}
END_TEST

/* Message type numbers are part of the wire format. */
START_TEST(test_type_numbers) {
        ck_assert_int_eq(SB_MSG_HELLO, 1);
        ck_assert_int_eq(SB_MSG_WELCOME, 2);
        ck_assert_int_eq(SB_MSG_SUBSCRIBE, 3);
        ck_assert_int_eq(SB_MSG_UNSUBSCRIBE, 4);
        ck_assert_int_eq(SB_MSG_SEND, 5);
        ck_assert_int_eq(SB_MSG_RESULT, 6);
        ck_assert_int_eq(SB_MSG_REPLY, 7);
        ck_assert_int_eq(SB_MSG_DELIVER, 8);
        ck_assert_int_eq(SB_MSG_ACK, 9);
        ck_assert_int_eq(SB_MSG_GAP, 10);
        ck_assert_int_eq(SB_MSG_JOIN, 11);
        ck_assert_int_eq(SB_MSG_LEAVE, 12);
        ck_assert_int_eq(SB_MSG_SET_WINDOW, 13);
        ck_assert_int_eq(SB_MSG_BLOCK, 14);
        ck_assert_int_eq(SB_MSG_ERROR, 15);
        ck_assert_int_eq(SB_MSG_QUERY, 16);
        ck_assert_int_eq(SB_MSG_DATA, 17);
        ck_assert_int_eq(SB_MSG_SYNC, 18);
        ck_assert_int_eq(_SB_MSG_MAX, 19);
        ck_assert_int_eq(SB_SEND_DEFER_RESULT, 1);
        ck_assert_int_eq(SB_TARGET_PID, 0);
        ck_assert_int_eq(SB_TARGET_BROADCAST, 5);
        ck_assert_int_eq(SB_QUERY_STATUS, 0);
        ck_assert_int_eq(SB_QUERY_DISCONNECT, 6);
}
END_TEST

/* ---- packets of many frames ---- */

/* Fill one packet with frames of every type back to back, as the daemon
 * batches deliveries, then walk it the way a reader does. */
START_TEST(test_packet_walk) {
        SbFrame *frames = calloc(SB_PACKET_MAX / SB_HEADER_SIZE, sizeof(SbFrame));
        uint8_t *buf = malloc(SB_PACKET_MAX);
        size_t used = 0, count = 0, off = 0, walked = 0;

        ck_assert_ptr_nonnull(frames);
        ck_assert_ptr_nonnull(buf);
        for (;;) {
                size_t i = count % ELEMENTSOF(samples);
                uint32_t len = samples[i].len > 300 ? (uint32_t) (count % 301) : samples[i].len;
                SbFrame f = sample_frame(samples[i].type, len, samples[i].group);
                ssize_t k;

                f.serial = count + 1;
                k = sb_frame_encode(&f, buf + used, SB_PACKET_MAX - used);
                if (k == -ENOBUFS)
                        break;
                ck_assert_int_eq(k, (ssize_t) sb_frame_size(&f));
                frames[count++] = f;
                used += (size_t) k;
        }
        ck_assert_uint_gt(count, 1000);

        while (off < used) {
                SbFrame out;
                size_t taken = 0;

                ck_assert_int_eq(sb_frame_parse_untrusted(buf + off, used - off, &out, &taken), SB_PARSE_OK);
                ck_assert_uint_lt(walked, count);
                assert_frame_eq(&frames[walked], &out);
                off += taken;
                walked++;
        }
        ck_assert_uint_eq(off, used);
        ck_assert_uint_eq(walked, count);
        free(buf);
        free(frames);
}
END_TEST

/* A packet whose last frame is cut short: the whole frames before it parse,
 * then the reader stops with the cut one's error. */
START_TEST(test_packet_walk_stops_at_damage) {
        uint8_t buf[512];
        size_t used = 0, off = 0, taken;
        SbFrame f, out;
        int r;

        for (int i = 0; i < 3; i++) {
                f = sample_frame(SB_MSG_ACK, 0, 0);
                used += (size_t) sb_frame_encode(&f, buf + used, sizeof(buf) - used);
        }
        f = sample_frame(SB_MSG_DELIVER, 10, 0);
        used += (size_t) sb_frame_encode(&f, buf + used, sizeof(buf) - used) - 5;

        for (int i = 0; i < 3; i++) {
                ck_assert_int_eq(sb_frame_parse_untrusted(buf + off, used - off, &out, &taken), SB_PARSE_OK);
                ck_assert_uint_eq(out.type, SB_MSG_ACK);
                off += taken;
        }
        r = sb_frame_parse_untrusted(buf + off, used - off, &out, &taken);
        ck_assert_int_eq(r, SB_PARSE_E_TRUNCATED);
}
END_TEST

/* ---- rejections ---- */

static size_t raw_header(uint8_t *b, uint8_t version, uint8_t type, uint16_t flags, uint32_t length, uint64_t serial) {
        b[0] = version;
        b[1] = type;
        put_le(b + 2, flags, 2);
        put_le(b + 4, length, 4);
        put_le(b + 8, serial, 8);
        return SB_HEADER_SIZE;
}

/* Parse len bytes placed right before the guard page. */
static int parse_exact(const uint8_t *b, size_t len) {
        SbFrame f;
        size_t taken = 0;
        int r = sb_frame_parse_untrusted(guard_place(b, len), len, &f, &taken);

        if (r == SB_PARSE_OK)
                ck_assert_uint_eq(taken, len);
        return r;
}

START_TEST(test_reject_short_header) {
        uint8_t b[SB_HEADER_SIZE + 8] = {};
        SbFrame f;
        size_t taken;

        raw_header(b, SB_PROTOCOL_VERSION, SB_MSG_ACK, 0, 8, 1);
        ck_assert_int_eq(parse_exact(b, sizeof(b)), SB_PARSE_OK);
        for (size_t n = 0; n < SB_HEADER_SIZE; n++)
                ck_assert_int_eq(parse_exact(b, n), SB_PARSE_E_SHORT_HEADER);
        ck_assert_int_eq(sb_frame_parse_untrusted(NULL, 0, &f, &taken), SB_PARSE_E_SHORT_HEADER);
}
END_TEST

START_TEST(test_reject_version) {
        static const uint8_t versions[] = { 0, 2, 0x81, 255 };
        uint8_t b[SB_HEADER_SIZE + 8] = {};

        for (size_t i = 0; i < ELEMENTSOF(versions); i++) {
                raw_header(b, versions[i], SB_MSG_ACK, 0, 8, 1);
                ck_assert_int_eq(parse_exact(b, sizeof(b)), SB_PARSE_E_VERSION);
                /* The version is judged first, even on a header alone. */
                raw_header(b, versions[i], 0, 0xffff, UINT32_MAX, 1);
                ck_assert_int_eq(parse_exact(b, SB_HEADER_SIZE), SB_PARSE_E_VERSION);
        }
}
END_TEST

START_TEST(test_reject_type) {
        static const uint8_t types[] = { SB_MSG_INVALID, _SB_MSG_MAX, _SB_MSG_MAX + 1, 0x80, 255 };
        uint8_t b[SB_HEADER_SIZE + 8] = {};

        for (size_t i = 0; i < ELEMENTSOF(types); i++) {
                raw_header(b, SB_PROTOCOL_VERSION, types[i], 0, 8, 1);
                ck_assert_int_eq(parse_exact(b, sizeof(b)), SB_PARSE_E_TYPE);
                raw_header(b, SB_PROTOCOL_VERSION, types[i], 0, UINT32_MAX, 1);
                ck_assert_int_eq(parse_exact(b, SB_HEADER_SIZE), SB_PARSE_E_TYPE);
        }
}
END_TEST

START_TEST(test_reject_too_long) {
        static const uint32_t lengths[] = { SB_BODY_MAX + 1, SB_BODY_MAX + 2, 1u << 31, UINT32_MAX };
        uint8_t b[SB_HEADER_SIZE + 64] = {};

        for (uint8_t t = 1; t < _SB_MSG_MAX; t++)
                for (size_t i = 0; i < ELEMENTSOF(lengths); i++) {
                        raw_header(b, SB_PROTOCOL_VERSION, t, 0, lengths[i], 1);
                        ck_assert_int_eq(parse_exact(b, SB_HEADER_SIZE), SB_PARSE_E_TOO_LONG);
                        ck_assert_int_eq(parse_exact(b, sizeof(b)), SB_PARSE_E_TOO_LONG);
                }
        /* At the limit the length is fine and only the buffer is short. */
        raw_header(b, SB_PROTOCOL_VERSION, SB_MSG_SEND, 0, SB_BODY_MAX, 1);
        ck_assert_int_eq(parse_exact(b, sizeof(b)), SB_PARSE_E_TRUNCATED);
}
END_TEST

/* Every prefix of a valid frame is refused as too short, and without a read
 * past its end (each prefix ends at the guard page). */
START_TEST(test_reject_every_prefix) {
        SbFrame f = sample((size_t) _i);
        size_t n;
        uint8_t *buf = encode_exact(&f, &n);

        for (size_t k = 0; k < n; k++) {
                int r = parse_exact(buf, k);

                ck_assert_int_eq(r, k < SB_HEADER_SIZE ? SB_PARSE_E_SHORT_HEADER : SB_PARSE_E_TRUNCATED);
        }
        ck_assert_int_eq(parse_exact(buf, n), SB_PARSE_OK);
        free(buf);
}
END_TEST

/* A body shorter than its type's fixed part; and, for the types without a
 * variable part, one longer. A body of zeros of exactly the fixed size is
 * valid for every type but JOIN and LEAVE (which need a name), which pins
 * down the fixed sizes. */
START_TEST(test_reject_fixed_size) {
        uint8_t b[SB_HEADER_SIZE + 128];

        for (uint8_t t = 1; t < _SB_MSG_MAX; t++) {
                uint32_t fixed = fixed_size[t];
                bool variable = t == SB_MSG_SEND || t == SB_MSG_DELIVER || t == SB_MSG_JOIN ||
                        t == SB_MSG_LEAVE || t == SB_MSG_ERROR || t == SB_MSG_DATA;

                memset(b, 0, sizeof(b));
                for (uint32_t len = 0; len < fixed; len++) {
                        raw_header(b, SB_PROTOCOL_VERSION, t, 0, len, 1);
                        ck_assert_msg(parse_exact(b, SB_HEADER_SIZE + len) == SB_PARSE_E_MALFORMED,
                                      "type %u, body %u", t, len);
                }
                raw_header(b, SB_PROTOCOL_VERSION, t, 0, fixed, 1);
                ck_assert_int_eq(parse_exact(b, SB_HEADER_SIZE + fixed),
                                 t == SB_MSG_JOIN || t == SB_MSG_LEAVE ? SB_PARSE_E_MALFORMED : SB_PARSE_OK);
                if (!variable)
                        for (uint32_t extra = 1; extra <= 9; extra++) {
                                if (t == SB_MSG_WELCOME && extra == 8)
                                        continue;       /* the features field */
                                raw_header(b, SB_PROTOCOL_VERSION, t, 0, fixed + extra, 1);
                                ck_assert_msg(parse_exact(b, SB_HEADER_SIZE + fixed + extra) == SB_PARSE_E_MALFORMED,
                                              "type %u, %u extra bytes", t, extra);
                        }
        }
}
END_TEST

/* Reserved fields, by offset from the start of the frame. */
static const struct Field {
        SbMsgType type;
        size_t offset, width;
} reserved_fields[] = {
        { SB_MSG_HELLO, 2, 2 },                 /* header flags, on any type */
        { SB_MSG_SEND, 2, 2 },
        { SB_MSG_DELIVER, 2, 2 },
        { SB_MSG_SUBSCRIBE, 16 + 12, 4 },
        { SB_MSG_UNSUBSCRIBE, 16 + 12, 4 },
        { SB_MSG_SEND, 16 + 18, 2 },
        { SB_MSG_RESULT, 16 + 28, 4 },
        { SB_MSG_REPLY, 16 + 12, 4 },
        { SB_MSG_DELIVER, 16 + 6, 2 },
        { SB_MSG_DELIVER, 16 + 60, 4 },
        { SB_MSG_ACK, 16 + 4, 4 },
        { SB_MSG_SET_WINDOW, 16 + 4, 4 },
        { SB_MSG_ERROR, 16 + 6, 2 },
        { SB_MSG_DATA, 16 + 20, 4 },
};

START_TEST(test_reject_reserved) {
        for (size_t i = 0; i < ELEMENTSOF(reserved_fields); i++) {
                const struct Field *r = &reserved_fields[i];
                SbFrame f = sample_frame(r->type, 5, 1);
                size_t n;
                uint8_t *buf = encode_exact(&f, &n);

                for (size_t j = 0; j < r->width; j++) {
                        ck_assert_uint_eq(buf[r->offset + j], 0);
                        buf[r->offset + j] = 0x01;
                        ck_assert_msg(parse_exact(buf, n) == SB_PARSE_E_MALFORMED, "type %u offset %zu", r->type, r->offset + j);
                        buf[r->offset + j] = 0x80;
                        ck_assert_msg(parse_exact(buf, n) == SB_PARSE_E_MALFORMED, "type %u offset %zu", r->type, r->offset + j);
                        buf[r->offset + j] = 0;
                }
                ck_assert_int_eq(parse_exact(buf, n), SB_PARSE_OK);
                free(buf);
        }
}
END_TEST

/* Flags fields: only the defined bits are accepted. */
static const struct FlagField {
        SbMsgType type;
        size_t offset, width;
        uint32_t bad[3];
} flag_fields[] = {
        { SB_MSG_HELLO, 16 + 4, 4, { 2, 0x100, 0x80000000 } },
        { SB_MSG_SUBSCRIBE, 16 + 8, 4, { 2, 0x100, 0x80000000 } },
        /* A defined flag in UNSUBSCRIBE parses; the daemon answers EINVAL. */
        { SB_MSG_UNSUBSCRIBE, 16 + 8, 4, { 2, 0x100, 0x80000000 } },
        { SB_MSG_SEND, 16 + 6, 2, { 2, 0x100, 0x8000 } },
        { SB_MSG_DELIVER, 16 + 5, 1, { 1, 2, 0x80 } },
        { SB_MSG_QUERY, 16 + 4, 4, { 2, 0x100, 0x80000000 } },
        { SB_MSG_DATA, 16 + 12, 4, { 2, 0x100, 0x80000000 } },
};

START_TEST(test_reject_flags) {
        for (size_t i = 0; i < ELEMENTSOF(flag_fields); i++) {
                const struct FlagField *ff = &flag_fields[i];
                SbFrame f = sample_frame(ff->type, 3, 0);
                size_t n;
                uint8_t *buf = encode_exact(&f, &n);
                uint8_t saved[4];

                memcpy(saved, buf + ff->offset, ff->width);
                for (size_t j = 0; j < ELEMENTSOF(ff->bad); j++) {
                        put_le(buf + ff->offset, ff->bad[j], ff->width);
                        ck_assert_msg(parse_exact(buf, n) == SB_PARSE_E_MALFORMED, "type %u flags 0x%x", ff->type, ff->bad[j]);
                }
                memcpy(buf + ff->offset, saved, ff->width);
                ck_assert_int_eq(parse_exact(buf, n), SB_PARSE_OK);
                free(buf);
        }
}
END_TEST

/* The defined flags are accepted. */
START_TEST(test_accept_defined_flags) {
        SbFrame f, out;
        uint8_t buf[128];
        size_t taken;

        f = sample_frame(SB_MSG_SUBSCRIBE, 0, 0);
        f.subscribe.flags = SB_SUBSCRIBE_FLAGS_ALL;
        ck_assert_int_gt(sb_frame_encode(&f, buf, sizeof(buf)), 0);
        ck_assert_int_eq(sb_frame_parse_untrusted(buf, sizeof(buf), &out, &taken), SB_PARSE_OK);
        ck_assert_uint_eq(out.subscribe.flags, SB_SUBSCRIBE_FLAGS_ALL);

        f = sample_frame(SB_MSG_SEND, 3, 1);
        f.send.flags = SB_SEND_FLAGS_ALL;
        ck_assert_int_gt(sb_frame_encode(&f, buf, sizeof(buf)), 0);
        ck_assert_int_eq(sb_frame_parse_untrusted(buf, sizeof(buf), &out, &taken), SB_PARSE_OK);
        ck_assert_uint_eq(out.send.flags, SB_SEND_FLAGS_ALL);

        f = sample_frame(SB_MSG_HELLO, 0, 0);
        f.hello.flags = SB_HELLO_FLAGS_ALL;
        ck_assert_int_gt(sb_frame_encode(&f, buf, sizeof(buf)), 0);
        ck_assert_int_eq(sb_frame_parse_untrusted(buf, sizeof(buf), &out, &taken), SB_PARSE_OK);
        ck_assert_uint_eq(out.hello.flags, SB_HELLO_FLAGS_ALL);

        f = sample_frame(SB_MSG_QUERY, 0, 0);
        f.query.flags = SB_QUERY_FLAGS_ALL;
        ck_assert_int_gt(sb_frame_encode(&f, buf, sizeof(buf)), 0);
        ck_assert_int_eq(sb_frame_parse_untrusted(buf, sizeof(buf), &out, &taken), SB_PARSE_OK);
        ck_assert_uint_eq(out.query.flags, SB_QUERY_FLAGS_ALL);

        f = sample_frame(SB_MSG_DATA, 3, 0);
        f.data.flags = SB_DATA_FLAGS_ALL;
        ck_assert_int_gt(sb_frame_encode(&f, buf, sizeof(buf)), 0);
        ck_assert_int_eq(sb_frame_parse_untrusted(buf, sizeof(buf), &out, &taken), SB_PARSE_OK);
        ck_assert_uint_eq(out.data.flags, SB_DATA_FLAGS_ALL);
}
END_TEST

/* WELCOME carries its features field only when there are features: a
 * client built before the field parses the 32-byte body the daemon sends it,
 * and the one length in between is malformed. */
START_TEST(test_welcome_features) {
        SbFrame f = sample_frame(SB_MSG_WELCOME, 0, 0), out;
        uint8_t buf[128];
        size_t taken;

        ck_assert_int_eq(sb_frame_encode(&f, buf, sizeof(buf)), SB_HEADER_SIZE + 32);
        f.welcome.features = UINT64_C(0x8000000000000005);
        ck_assert_int_eq(sb_frame_encode(&f, buf, sizeof(buf)), SB_HEADER_SIZE + 40);
        ck_assert_int_eq(sb_frame_parse_untrusted(buf, SB_HEADER_SIZE + 40, &out, &taken), SB_PARSE_OK);
        ck_assert_uint_eq(taken, SB_HEADER_SIZE + 40);
        assert_frame_eq(&f, &out);

        put_le(buf + 4, 36, 4);
        ck_assert_int_eq(sb_frame_parse_untrusted(buf, SB_HEADER_SIZE + 36, &out, &taken), SB_PARSE_E_MALFORMED);
        put_le(buf + 4, 48, 4);
        memset(buf + SB_HEADER_SIZE + 40, 0, 8);
        ck_assert_int_eq(sb_frame_parse_untrusted(buf, SB_HEADER_SIZE + 48, &out, &taken), SB_PARSE_E_MALFORMED);
}
END_TEST

/* Length fields inside the body that disagree with the frame length. */
static const struct LengthField {
        SbMsgType type;
        size_t offset, width;
} length_fields[] = {
        { SB_MSG_SEND, 16 + 16, 2 },            /* group_len */
        { SB_MSG_SEND, 16 + 20, 4 },            /* payload_len */
        { SB_MSG_DELIVER, 16 + 56, 4 },         /* payload_len */
        { SB_MSG_ERROR, 16 + 4, 2 },            /* text_len */
        { SB_MSG_DATA, 16 + 16, 4 },            /* data_len */
};

START_TEST(test_reject_lengths) {
        for (size_t i = 0; i < ELEMENTSOF(length_fields); i++) {
                const struct LengthField *lf = &length_fields[i];
                SbFrame f = sample_frame(lf->type, 5, 1);
                size_t n;
                uint8_t *buf = encode_exact(&f, &n);
                uint64_t v = 0;
                static const int64_t deltas[] = { 1, 2, 0x100, -1, -2 };

                for (size_t j = 0; j < lf->width; j++)
                        v |= (uint64_t) buf[lf->offset + j] << (8 * j);
                ck_assert_uint_ge(v, 5);
                for (size_t j = 0; j < ELEMENTSOF(deltas); j++) {
                        put_le(buf + lf->offset, v + (uint64_t) deltas[j], lf->width);
                        ck_assert_msg(parse_exact(buf, n) == SB_PARSE_E_MALFORMED, "type %u offset %zu delta %lld",
                                      lf->type, lf->offset, (long long) deltas[j]);
                }
                put_le(buf + lf->offset, UINT64_MAX, lf->width);
                ck_assert_int_eq(parse_exact(buf, n), SB_PARSE_E_MALFORMED);
                put_le(buf + lf->offset, v, lf->width);
                ck_assert_int_eq(parse_exact(buf, n), SB_PARSE_OK);

                /* The same with the frame length one short or one long. */
                put_le(buf + 4, n - SB_HEADER_SIZE - 1, 4);
                ck_assert_int_eq(parse_exact(buf, n - 1), SB_PARSE_E_MALFORMED);
                free(buf);
                {
                        uint8_t *longer = malloc(n + 1);

                        ck_assert_ptr_nonnull(longer);
                        ck_assert_int_eq(sb_frame_encode(&f, longer, n + 1), (ssize_t) n);
                        longer[n] = 0;
                        put_le(longer + 4, n - SB_HEADER_SIZE + 1, 4);
                        ck_assert_int_eq(parse_exact(longer, n + 1), SB_PARSE_E_MALFORMED);
                        free(longer);
                }
        }
}
END_TEST

/* A frame with a variable part whose length field is over its type's limit
 * while everything adds up. */
static size_t build_send_group(uint8_t *b, uint16_t group_len) {
        size_t n = raw_header(b, SB_PROTOCOL_VERSION, SB_MSG_SEND, 0, 24u + group_len, 1);

        memset(b + n, 0, 24);
        put_le(b + n + 4, 1, 1);                        /* priority */
        put_le(b + n + 5, SB_TARGET_GROUP, 1);
        put_le(b + n + 16, group_len, 2);
        memset(b + n + 24, 'g', group_len);
        return n + 24 + group_len;
}

START_TEST(test_reject_over_limits) {
        uint8_t *b = calloc(1, SB_HEADER_SIZE + 64 + SB_DATA_MAX + 64);
        size_t n;

        ck_assert_ptr_nonnull(b);

        n = build_send_group(b, SB_GROUP_NAME_MAX);
        ck_assert_int_eq(parse_exact(b, n), SB_PARSE_OK);
        n = build_send_group(b, SB_GROUP_NAME_MAX + 1);
        ck_assert_int_eq(parse_exact(b, n), SB_PARSE_E_MALFORMED);
        n = build_send_group(b, UINT16_MAX);
        ck_assert_int_eq(parse_exact(b, n), SB_PARSE_E_MALFORMED);

        for (uint8_t t = SB_MSG_JOIN; t <= SB_MSG_LEAVE; t++) {
                memset(b, 'g', SB_HEADER_SIZE + SB_GROUP_NAME_MAX + 1);
                raw_header(b, SB_PROTOCOL_VERSION, t, 0, SB_GROUP_NAME_MAX, 1);
                ck_assert_int_eq(parse_exact(b, SB_HEADER_SIZE + SB_GROUP_NAME_MAX), SB_PARSE_OK);
                raw_header(b, SB_PROTOCOL_VERSION, t, 0, SB_GROUP_NAME_MAX + 1, 1);
                ck_assert_int_eq(parse_exact(b, SB_HEADER_SIZE + SB_GROUP_NAME_MAX + 1), SB_PARSE_E_MALFORMED);
                /* 65536 bytes: the same length as 0 in 16 bits. */
                raw_header(b, SB_PROTOCOL_VERSION, t, 0, 65536, 1);
                ck_assert_int_eq(parse_exact(b, SB_HEADER_SIZE + 65536), SB_PARSE_E_MALFORMED);
        }

        memset(b, 0, SB_HEADER_SIZE + 8 + SB_ERROR_TEXT_MAX + 1);
        raw_header(b, SB_PROTOCOL_VERSION, SB_MSG_ERROR, 0, 8 + SB_ERROR_TEXT_MAX, 1);
        put_le(b + SB_HEADER_SIZE + 4, SB_ERROR_TEXT_MAX, 2);
        ck_assert_int_eq(parse_exact(b, SB_HEADER_SIZE + 8 + SB_ERROR_TEXT_MAX), SB_PARSE_OK);
        raw_header(b, SB_PROTOCOL_VERSION, SB_MSG_ERROR, 0, 8 + SB_ERROR_TEXT_MAX + 1, 1);
        put_le(b + SB_HEADER_SIZE + 4, SB_ERROR_TEXT_MAX + 1, 2);
        ck_assert_int_eq(parse_exact(b, SB_HEADER_SIZE + 8 + SB_ERROR_TEXT_MAX + 1), SB_PARSE_E_MALFORMED);

        memset(b, 0, SB_HEADER_SIZE + 24 + SB_DATA_MAX + 1);
        raw_header(b, SB_PROTOCOL_VERSION, SB_MSG_DATA, 0, 24 + SB_DATA_MAX, 1);
        put_le(b + SB_HEADER_SIZE + 16, SB_DATA_MAX, 4);
        ck_assert_int_eq(parse_exact(b, SB_HEADER_SIZE + 24 + SB_DATA_MAX), SB_PARSE_OK);
        raw_header(b, SB_PROTOCOL_VERSION, SB_MSG_DATA, 0, 24 + SB_DATA_MAX + 1, 1);
        put_le(b + SB_HEADER_SIZE + 16, SB_DATA_MAX + 1, 4);
        ck_assert_int_eq(parse_exact(b, SB_HEADER_SIZE + 24 + SB_DATA_MAX + 1), SB_PARSE_E_MALFORMED);
        free(b);
}
END_TEST

/* Field values are the caller's to judge: a signal number, priority or
 * target kind out of range still parses. */
START_TEST(test_values_not_judged) {
        SbFrame f = sample_frame(SB_MSG_SEND, 0, 0), out;
        uint8_t buf[64];
        size_t taken;

        f.send.signo = 1000;
        f.send.priority = 200;
        f.send.target_kind = _SB_TARGET_MAX;
        ck_assert_int_gt(sb_frame_encode(&f, buf, sizeof(buf)), 0);
        ck_assert_int_eq(sb_frame_parse_untrusted(buf, sizeof(buf), &out, &taken), SB_PARSE_OK);
        assert_frame_eq(&f, &out);
}
END_TEST

START_TEST(test_parse_error_strings) {
        for (int i = 0; i < _SB_PARSE_E_MAX; i++) {
                const char *s = sb_parse_error_to_string(i);

                ck_assert_ptr_nonnull(s);
                ck_assert_str_ne(s, "unknown parse error");
                for (int j = 0; j < i; j++)
                        ck_assert_str_ne(s, sb_parse_error_to_string(j));
        }
        ck_assert_str_eq(sb_parse_error_to_string(-1), "unknown parse error");
        ck_assert_str_eq(sb_parse_error_to_string(_SB_PARSE_E_MAX), "unknown parse error");

        for (int i = 0; i < _SB_MSG_MAX; i++) {
                const char *s = sb_msg_type_to_string(i);

                ck_assert_ptr_nonnull(s);
                ck_assert_str_ne(s, "unknown");
                for (int j = 0; j < i; j++)
                        ck_assert_str_ne(s, sb_msg_type_to_string(j));
        }
        ck_assert_str_eq(sb_msg_type_to_string(SB_MSG_SET_WINDOW), "set-window");
        ck_assert_str_eq(sb_msg_type_to_string(-1), "unknown");
        ck_assert_str_eq(sb_msg_type_to_string(_SB_MSG_MAX), "unknown");
        ck_assert_str_eq(sb_msg_type_to_string(255), "unknown");
}
END_TEST

/* ---- one DELIVER for many receivers ---- */

/* Head encoded once with other per-receiver values, patched, payload
 * appended: the same bytes as the whole frame encoded for that receiver. */
START_TEST(test_deliver_head_patch) {
        static const uint32_t lengths[] = { 0, 1, 4096, 65536 };

        for (size_t i = 0; i < ELEMENTSOF(lengths); i++) {
                SbFrame f = sample_frame(SB_MSG_DELIVER, lengths[i], 0), other = f;
                size_t n;
                uint8_t *want = encode_exact(&f, &n);
                uint8_t *got = malloc(n);

                ck_assert_ptr_nonnull(got);
                other.deliver.priority = 1;
                other.deliver.merged = 0;
                other.deliver.seq = 7;
                ck_assert_int_eq(sb_deliver_encode_head(&other, got), 0);
                sb_deliver_patch(got, f.deliver.priority, f.deliver.merged, f.deliver.seq);
                memcpy(got + SB_DELIVER_HEAD_SIZE, f.deliver.payload, f.deliver.payload_len);
                ck_assert_uint_eq(n, SB_DELIVER_HEAD_SIZE + lengths[i]);
                assert_bytes_eq(got, want, n);
                free(got);
                free(want);
        }
}
END_TEST

START_TEST(test_deliver_head_refusals) {
        uint8_t head[SB_DELIVER_HEAD_SIZE];
        SbFrame f = sample_frame(SB_MSG_SEND, 3, 0);

        ck_assert_int_eq(sb_deliver_encode_head(&f, head), -EINVAL);
        f = sample_frame(SB_MSG_DELIVER, 3, 0);
        f.deliver.flags = 1;
        ck_assert_int_eq(sb_deliver_encode_head(&f, head), -EINVAL);
        f.deliver.flags = 0;
        f.deliver.payload_len = SB_BODY_MAX - 63;
        ck_assert_int_eq(sb_deliver_encode_head(&f, head), -EINVAL);
        f.deliver.payload_len = SB_BODY_MAX - 64;
        ck_assert_int_eq(sb_deliver_encode_head(&f, head), 0);
}
END_TEST

/* ---- the encoder's refusals ---- */

START_TEST(test_encode_nobufs) {
        SbFrame f = sample((size_t) _i);
        size_t n = sb_frame_size(&f);
        uint8_t *small = malloc(n - 1);

        ck_assert_ptr_nonnull(small);
        ck_assert_int_eq(sb_frame_encode(&f, small, n - 1), -ENOBUFS);
        if (n > SB_HEADER_SIZE)         /* SYNC is a header alone */
                ck_assert_int_eq(sb_frame_encode(&f, small, SB_HEADER_SIZE), -ENOBUFS);
        ck_assert_int_eq(sb_frame_encode(&f, NULL, 0), -ENOBUFS);
        free(small);
}
END_TEST

START_TEST(test_encode_invalid) {
        uint8_t buf[256];
        SbFrame f;

        memset(buf, 0x5a, sizeof(buf));
        f = (SbFrame) { .type = SB_MSG_INVALID };
        ck_assert_int_eq(sb_frame_encode(&f, buf, sizeof(buf)), -EINVAL);
        ck_assert_uint_eq(sb_frame_size(&f), 0);
        f.type = _SB_MSG_MAX;
        ck_assert_int_eq(sb_frame_encode(&f, buf, sizeof(buf)), -EINVAL);
        f.type = 255;
        ck_assert_int_eq(sb_frame_encode(&f, buf, sizeof(buf)), -EINVAL);

        /* Lengths over their limits: the frame would not parse again. */
        f = sample_frame(SB_MSG_SEND, 0, 2);
        f.send.group_len = SB_GROUP_NAME_MAX + 1;
        ck_assert_int_eq(sb_frame_encode(&f, buf, sizeof(buf)), -EINVAL);
        f = sample_frame(SB_MSG_JOIN, 0, 0);
        ck_assert_int_eq(sb_frame_encode(&f, buf, sizeof(buf)), -EINVAL);
        f.name.len = SB_GROUP_NAME_MAX + 1;
        ck_assert_int_eq(sb_frame_encode(&f, buf, sizeof(buf)), -EINVAL);
        f = sample_frame(SB_MSG_LEAVE, SB_GROUP_NAME_MAX + 1, 0);
        ck_assert_int_eq(sb_frame_encode(&f, buf, sizeof(buf)), -EINVAL);
        f = sample_frame(SB_MSG_ERROR, SB_ERROR_TEXT_MAX + 1, 0);
        ck_assert_int_eq(sb_frame_encode(&f, buf, sizeof(buf)), -EINVAL);
        f = sample_frame(SB_MSG_DATA, SB_DATA_MAX + 1, 0);
        ck_assert_int_eq(sb_frame_encode(&f, buf, sizeof(buf)), -EINVAL);
        f = sample_frame(SB_MSG_DELIVER, SB_BODY_MAX - 64 + 1, 0);
        ck_assert_int_eq(sb_frame_encode(&f, buf, sizeof(buf)), -EINVAL);

        /* group_len + payload_len must not wrap around to a small size. */
        f = sample_frame(SB_MSG_SEND, UINT32_MAX, 1);
        ck_assert_int_eq(sb_frame_encode(&f, buf, sizeof(buf)), -EINVAL);
        f.send.group_len = 1;
        ck_assert_int_eq(sb_frame_encode(&f, buf, sizeof(buf)), -EINVAL);

        /* Flags the decoder would refuse. */
        f = sample_frame(SB_MSG_HELLO, 0, 0);
        f.hello.flags = 2;
        ck_assert_int_eq(sb_frame_encode(&f, buf, sizeof(buf)), -EINVAL);
        f = sample_frame(SB_MSG_SUBSCRIBE, 0, 0);
        f.subscribe.flags = 2;
        ck_assert_int_eq(sb_frame_encode(&f, buf, sizeof(buf)), -EINVAL);
        f = sample_frame(SB_MSG_UNSUBSCRIBE, 0, 0);
        f.subscribe.flags = 2;
        ck_assert_int_eq(sb_frame_encode(&f, buf, sizeof(buf)), -EINVAL);
        f = sample_frame(SB_MSG_SEND, 0, 0);
        f.send.flags = 2;
        ck_assert_int_eq(sb_frame_encode(&f, buf, sizeof(buf)), -EINVAL);
        f = sample_frame(SB_MSG_DELIVER, 0, 0);
        f.deliver.flags = 1;
        ck_assert_int_eq(sb_frame_encode(&f, buf, sizeof(buf)), -EINVAL);
        f = sample_frame(SB_MSG_QUERY, 0, 0);
        f.query.flags = 2;
        ck_assert_int_eq(sb_frame_encode(&f, buf, sizeof(buf)), -EINVAL);
        f = sample_frame(SB_MSG_DATA, 0, 0);
        f.data.flags = 2;
        ck_assert_int_eq(sb_frame_encode(&f, buf, sizeof(buf)), -EINVAL);

        /* A length with no bytes behind it. */
        f = sample_frame(SB_MSG_SEND, 1, 0);
        f.send.payload = NULL;
        ck_assert_int_eq(sb_frame_encode(&f, buf, sizeof(buf)), -EINVAL);
        f = sample_frame(SB_MSG_SEND, 0, 1);
        f.send.group = NULL;
        ck_assert_int_eq(sb_frame_encode(&f, buf, sizeof(buf)), -EINVAL);
        f = sample_frame(SB_MSG_JOIN, 1, 0);
        f.name.name = NULL;
        ck_assert_int_eq(sb_frame_encode(&f, buf, sizeof(buf)), -EINVAL);

        /* NULL is fine where the length is 0. */
        f = sample_frame(SB_MSG_DELIVER, 0, 0);
        f.deliver.payload = NULL;
        ck_assert_int_eq(sb_frame_encode(&f, buf, sizeof(buf)), SB_HEADER_SIZE + 64);

        /* Nothing above wrote past the one frame that was encoded. */
        for (size_t i = SB_HEADER_SIZE + 64; i < sizeof(buf); i++)
                ck_assert_uint_eq(buf[i], 0x5a);
}
END_TEST

/* ---- signal names ---- */

/* The names come from the C library, not from a copy of protocol/'s table:
 * glibc's sigabbrev_np() for the standard signals (the host's numbers are
 * the wire's on every architecture with Linux's generic numbering), and
 * SIGRTMIN/SIGRTMAX for the real-time range. */
#if SIGHUP == 1 && SIGUSR1 == 10 && SIGCHLD == 17 && SIGSYS == 31
#define HOST_HAS_WIRE_NUMBERS 1
#else
#define HOST_HAS_WIRE_NUMBERS 0
#endif

static void lowercase(char *s) {
        for (; *s; s++)
                if (*s >= 'A' && *s <= 'Z')
                        *s = (char) (*s - 'A' + 'a');
}

/* Every spelling of name parses to signo. */
static void assert_parses(const char *name, int signo) {
        char buf[32];

        ck_assert_int_eq(sb_signal_from_string(name), signo);
        snprintf(buf, sizeof(buf), "SIG%s", name);
        ck_assert_int_eq(sb_signal_from_string(buf), signo);
        lowercase(buf);
        ck_assert_int_eq(sb_signal_from_string(buf), signo);
        ck_assert_int_eq(sb_signal_from_string(buf + 3), signo);
        snprintf(buf, sizeof(buf), "Sig%s", name);
        if (buf[4] >= 'A' && buf[4] <= 'Z')
                buf[4] = (char) (buf[4] - 'A' + 'a');   /* SigHUP -> SigHuP */
        ck_assert_int_eq(sb_signal_from_string(buf), signo);
}

START_TEST(test_signal_names) {
        if (!HOST_HAS_WIRE_NUMBERS)
                return;
        for (int i = 1; i < 32; i++) {
                const char *libc = sigabbrev_np(i);
                char name[16];
                const char *ours = sb_signal_to_string(i, name);

                ck_assert_msg(libc, "glibc has no name for %d", i);
                assert_parses(libc, i);
                assert_parses(ours, i);
                /* glibc calls 29 POLL, the System V name; kill -l, ps and
                 * the man pages call it IO, as sigbroker does. Both parse. */
                if (i == SIGIO)
                        ck_assert_str_eq(ours, "IO");
                else
                        ck_assert_str_eq(ours, libc);
        }
        ck_assert_int_eq(SIGPOLL, SIGIO);
        ck_assert_int_eq(sb_signal_from_string("POLL"), SIGIO);
        ck_assert_int_eq(sb_signal_from_string("IOT"), SIGIOT);
        /* 32 and 33 belong to the C library: glibc names neither. */
        for (int i = 32; i < 34; i++) {
                char name[16], number[16];
                ck_assert_ptr_null(sigabbrev_np(i));
                snprintf(number, sizeof(number), "%d", i);
                ck_assert_str_eq(sb_signal_to_string(i, name), number);
        }
}
END_TEST

START_TEST(test_signal_names_realtime) {
        int rtmin = SIGRTMIN, rtmax = SIGRTMAX;

        /* The wire's real-time range is glibc's as a program sees it. */
        ck_assert_int_eq(SB_SIGRTMIN, rtmin);
        ck_assert_int_eq(SB_SIGNO_MAX, rtmax);
        for (int n = 0; n <= rtmax - rtmin; n++) {
                char buf[32], name[16], expected[32];
                int signo = rtmin + n, back = rtmax - signo;

                snprintf(buf, sizeof(buf), "RTMIN+%d", n);
                ck_assert_int_eq(sb_signal_from_string(buf), signo);
                snprintf(buf, sizeof(buf), "RTMAX-%d", back);
                ck_assert_int_eq(sb_signal_from_string(buf), signo);
                /* Named from the nearer end, as kill -l does: RTMIN+n up to
                 * the middle, RTMAX-n above it, the ends bare. */
                if (n == 0)
                        snprintf(expected, sizeof(expected), "RTMIN");
                else if (back == 0)
                        snprintf(expected, sizeof(expected), "RTMAX");
                else if (signo <= (rtmin + rtmax) / 2)
                        snprintf(expected, sizeof(expected), "RTMIN+%d", n);
                else
                        snprintf(expected, sizeof(expected), "RTMAX-%d", back);
                ck_assert_str_eq(sb_signal_to_string(signo, name), expected);
                assert_parses(expected, signo);
        }
}
END_TEST

START_TEST(test_signal_aliases_and_numbers) {
        char buf[8];

        ck_assert_int_eq(sb_signal_from_string("IOT"), 6);
        ck_assert_int_eq(sb_signal_from_string("SIGIOT"), 6);
        ck_assert_int_eq(sb_signal_from_string("CLD"), 17);
        ck_assert_int_eq(sb_signal_from_string("sigcld"), 17);
        ck_assert_int_eq(sb_signal_from_string("POLL"), 29);
        ck_assert_int_eq(sb_signal_from_string("SIGPOLL"), 29);

        for (int i = 0; i <= SB_SIGNO_MAX; i++) {
                snprintf(buf, sizeof(buf), "%d", i);
                ck_assert_int_eq(sb_signal_from_string(buf), i);
        }
        ck_assert_int_eq(sb_signal_from_string("010"), 10);
        ck_assert_int_eq(sb_signal_from_string("064"), 64);
}
END_TEST

START_TEST(test_signal_realtime) {
        char buf[32];

        ck_assert_int_eq(sb_signal_from_string("RTMIN"), 34);
        ck_assert_int_eq(sb_signal_from_string("SIGRTMIN"), 34);
        ck_assert_int_eq(sb_signal_from_string("RTMAX"), 64);
        ck_assert_int_eq(sb_signal_from_string("sigrtmax"), 64);
        for (int n = 0; n <= 30; n++) {
                snprintf(buf, sizeof(buf), "RTMIN+%d", n);
                ck_assert_int_eq(sb_signal_from_string(buf), 34 + n);
                snprintf(buf, sizeof(buf), "SIGRTMIN+%d", n);
                ck_assert_int_eq(sb_signal_from_string(buf), 34 + n);
                snprintf(buf, sizeof(buf), "rtmax-%d", n);
                ck_assert_int_eq(sb_signal_from_string(buf), 64 - n);
                snprintf(buf, sizeof(buf), "SigRtMax-%d", n);
                ck_assert_int_eq(sb_signal_from_string(buf), 64 - n);
        }
}
END_TEST

START_TEST(test_signal_invalid) {
        static const char *const bad[] = {
                "RTMIN+31", "RTMAX-31", "RTMIN+100", "RTMIN+1000", "65", "100", "999", "1000", "0010",
                "-1", "+1", "", "SIG", "sig", "RTMIN+", "RTMAX-", "RTMIN-1", "RTMAX+1", "RTMIN1",
                "RTMIN+1a", "RTMIN+-1", "RTMIN+ 1", "12a", "a12", " 1", "1 ", "USR", "USR3", "SIGUSR",
                "SIGSIGUSR1", "SIG10", "HUP ", "RT", "RTMI", "RTMAXX", "SIGRT", "TERM\n",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                ck_assert_msg(sb_signal_from_string(bad[i]) == -EINVAL, "\"%s\" accepted", bad[i]);
        ck_assert_int_eq(sb_signal_from_string(NULL), -EINVAL);
}
END_TEST

START_TEST(test_signal_to_string) {
        char buf[16];

        for (int i = 1; i <= SB_SIGNO_MAX; i++) {
                const char *s = sb_signal_to_string(i, buf);

                ck_assert_ptr_nonnull(s);
                ck_assert_msg(sb_signal_from_string(s) == i, "%d -> \"%s\" -> %d", i, s, sb_signal_from_string(s));
        }
        ck_assert_str_eq(sb_signal_to_string(10, buf), "USR1");
        ck_assert_str_eq(sb_signal_to_string(32, buf), "32");
        ck_assert_str_eq(sb_signal_to_string(33, buf), "33");
        ck_assert_str_eq(sb_signal_to_string(34, buf), "RTMIN");
        ck_assert_str_eq(sb_signal_to_string(35, buf), "RTMIN+1");
        ck_assert_str_eq(sb_signal_to_string(49, buf), "RTMIN+15");
        ck_assert_str_eq(sb_signal_to_string(50, buf), "RTMAX-14");
        ck_assert_str_eq(sb_signal_to_string(63, buf), "RTMAX-1");
        ck_assert_str_eq(sb_signal_to_string(64, buf), "RTMAX");
        ck_assert_str_eq(sb_signal_to_string(0, buf), "0");
        ck_assert_str_eq(sb_signal_to_string(65, buf), "65");
        ck_assert_str_eq(sb_signal_to_string(-1, buf), "-1");
}
END_TEST

START_TEST(test_signal_classes) {
        ck_assert(sb_signal_is_valid(0));
        ck_assert(sb_signal_is_valid(64));
        ck_assert(!sb_signal_is_valid(65));
        ck_assert(!sb_signal_is_valid(UINT32_MAX));
        ck_assert(!sb_signal_is_realtime(31));
        ck_assert(sb_signal_is_realtime(32));
        ck_assert(sb_signal_is_realtime(64));
        ck_assert(!sb_signal_is_realtime(65));
        ck_assert_uint_eq(SB_SIGMASK(1), 1);
        ck_assert_uint_eq(SB_SIGMASK(64), UINT64_C(1) << 63);
}
END_TEST

/* ---- group names ---- */

START_TEST(test_group_names) {
        static const char *const good[] = {
                "a", "Z", "0", "_", ".", ":", "@", "-", "workers", "web.frontend-1", "pool:eu@host_2",
        };
        static const char *const bad[] = {
                "with space", "a/b", "tab\t", "new\nline", "caf\xc3\xa9", "a,b", "a*", "$x", "q\"", "\x7f",
        };
        char name[SB_GROUP_NAME_MAX + 2];

        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                ck_assert_msg(sb_group_name_is_valid(good[i], strlen(good[i])), "\"%s\" refused", good[i]);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                ck_assert_msg(!sb_group_name_is_valid(bad[i], strlen(bad[i])), "\"%s\" accepted", bad[i]);

        memset(name, 'x', sizeof(name));
        ck_assert(sb_group_name_is_valid(name, SB_GROUP_NAME_MAX));
        ck_assert(!sb_group_name_is_valid(name, SB_GROUP_NAME_MAX + 1));
        ck_assert(!sb_group_name_is_valid(name, 0));
        ck_assert(!sb_group_name_is_valid("", 0));
        ck_assert(!sb_group_name_is_valid(NULL, 0));
        ck_assert(!sb_group_name_is_valid(NULL, 3));
        /* The length is what counts, not a terminator. */
        ck_assert(!sb_group_name_is_valid("ab\0cd", 5));
        ck_assert(sb_group_name_is_valid("ab cd", 2));

        /* Every byte value alone. */
        for (int c = 0; c < 256; c++) {
                char s[1] = { (char) c };
                bool expected = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                        c == '_' || c == '.' || c == ':' || c == '@' || c == '-';

                ck_assert_msg(sb_group_name_is_valid(s, 1) == expected, "byte 0x%02x", c);
        }
}
END_TEST

static Suite *protocol_suite(void) {
        Suite *s = suite_create("protocol");
        TCase *tc;

        tc = tcase_create("roundtrip");
        tcase_add_loop_test(tc, test_roundtrip, 0, ELEMENTSOF(samples));
        tcase_add_loop_test(tc, test_roundtrip_with_trailer, 0, ELEMENTSOF(samples));
        tcase_add_test(tc, test_roundtrip_max_packet);
        tcase_add_test(tc, test_golden_hello);
        tcase_add_test(tc, test_welcome_features);
        tcase_add_test(tc, test_golden_send);
        tcase_add_test(tc, test_golden_deliver);
        tcase_add_test(tc, test_golden_small_types);
        tcase_add_test(tc, test_type_numbers);
        suite_add_tcase(s, tc);

        tc = tcase_create("packet");
        tcase_add_test(tc, test_packet_walk);
        tcase_add_test(tc, test_packet_walk_stops_at_damage);
        suite_add_tcase(s, tc);

        tc = tcase_create("reject");
        /* Every prefix of a 64 KiB frame is a copy: seconds under sanitizers. */
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_reject_short_header);
        tcase_add_test(tc, test_reject_version);
        tcase_add_test(tc, test_reject_type);
        tcase_add_test(tc, test_reject_too_long);
        tcase_add_loop_test(tc, test_reject_every_prefix, 0, ELEMENTSOF(samples));
        tcase_add_test(tc, test_reject_fixed_size);
        tcase_add_test(tc, test_reject_reserved);
        tcase_add_test(tc, test_reject_flags);
        tcase_add_test(tc, test_accept_defined_flags);
        tcase_add_test(tc, test_reject_lengths);
        tcase_add_test(tc, test_reject_over_limits);
        tcase_add_test(tc, test_values_not_judged);
        tcase_add_test(tc, test_parse_error_strings);
        suite_add_tcase(s, tc);

        tc = tcase_create("encode");
        tcase_add_loop_test(tc, test_encode_nobufs, 0, ELEMENTSOF(samples));
        tcase_add_test(tc, test_encode_invalid);
        tcase_add_test(tc, test_deliver_head_patch);
        tcase_add_test(tc, test_deliver_head_refusals);
        suite_add_tcase(s, tc);

        tc = tcase_create("signals");
        tcase_add_test(tc, test_signal_names);
        tcase_add_test(tc, test_signal_names_realtime);
        tcase_add_test(tc, test_signal_aliases_and_numbers);
        tcase_add_test(tc, test_signal_realtime);
        tcase_add_test(tc, test_signal_invalid);
        tcase_add_test(tc, test_signal_to_string);
        tcase_add_test(tc, test_signal_classes);
        tcase_add_test(tc, test_group_names);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        SRunner *sr = srunner_create(protocol_suite());
        int failed;

        pattern_init();
        guard_init();
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
