/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Frame encoding and the untrusted decoder. Both walk the body with a small
 * cursor; the decoder checks every length against what is left before it
 * reads, so no input can make it read outside the buffer.
 */

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "protocol.h"

/* Fixed part of each body; types with a variable part add to it. */
static const uint32_t body_fixed[_SB_MSG_MAX] = {
        [SB_MSG_HELLO] = 8,
        [SB_MSG_WELCOME] = 32,
        [SB_MSG_SUBSCRIBE] = 16,
        [SB_MSG_UNSUBSCRIBE] = 16,
        [SB_MSG_SEND] = 24,
        [SB_MSG_RESULT] = 32,
        [SB_MSG_REPLY] = 16,
        [SB_MSG_DELIVER] = 64,
        [SB_MSG_ACK] = 8,
        [SB_MSG_GAP] = 16,
        [SB_MSG_JOIN] = 0,
        [SB_MSG_LEAVE] = 0,
        [SB_MSG_SET_WINDOW] = 8,
        [SB_MSG_BLOCK] = 8,
        [SB_MSG_ERROR] = 8,
        [SB_MSG_QUERY] = 16,
        [SB_MSG_DATA] = 24,
        [SB_MSG_SYNC] = 0,
};

static const char *const msg_type_names[_SB_MSG_MAX] = {
        [SB_MSG_INVALID] = "invalid",
        [SB_MSG_HELLO] = "hello",
        [SB_MSG_WELCOME] = "welcome",
        [SB_MSG_SUBSCRIBE] = "subscribe",
        [SB_MSG_UNSUBSCRIBE] = "unsubscribe",
        [SB_MSG_SEND] = "send",
        [SB_MSG_RESULT] = "result",
        [SB_MSG_REPLY] = "reply",
        [SB_MSG_DELIVER] = "deliver",
        [SB_MSG_ACK] = "ack",
        [SB_MSG_GAP] = "gap",
        [SB_MSG_JOIN] = "join",
        [SB_MSG_LEAVE] = "leave",
        [SB_MSG_SET_WINDOW] = "set-window",
        [SB_MSG_BLOCK] = "block",
        [SB_MSG_ERROR] = "error",
        [SB_MSG_QUERY] = "query",
        [SB_MSG_DATA] = "data",
        [SB_MSG_SYNC] = "sync",
};

static const char *const parse_error_names[_SB_PARSE_E_MAX] = {
        [SB_PARSE_OK] = "ok",
        [SB_PARSE_E_SHORT_HEADER] = "frame header truncated",
        [SB_PARSE_E_VERSION] = "unsupported protocol version",
        [SB_PARSE_E_TYPE] = "unknown message type",
        [SB_PARSE_E_TOO_LONG] = "frame length over the limit",
        [SB_PARSE_E_TRUNCATED] = "frame body truncated",
        [SB_PARSE_E_MALFORMED] = "malformed frame body",
};

const char *sb_msg_type_to_string(int type) {
        if (type < 0 || type >= _SB_MSG_MAX || !msg_type_names[type])
                return "unknown";
        return msg_type_names[type];
}

const char *sb_parse_error_to_string(int e) {
        if (e < 0 || e >= _SB_PARSE_E_MAX)
                return "unknown parse error";
        return parse_error_names[e];
}

/* ---- writing ---- */

typedef struct Writer {
        uint8_t *p;
} Writer;

static void put8(Writer *w, uint8_t v) { *w->p++ = v; }
static void put16(Writer *w, uint16_t v) { v = htole16(v); memcpy(w->p, &v, 2); w->p += 2; }
static void put32(Writer *w, uint32_t v) { v = htole32(v); memcpy(w->p, &v, 4); w->p += 4; }
static void put64(Writer *w, uint64_t v) { v = htole64(v); memcpy(w->p, &v, 8); w->p += 8; }

static void put_bytes(Writer *w, const void *data, size_t len) {
        if (len > 0)
                memcpy(w->p, data, len);
        w->p += len;
}

/* 64-bit so that group_len + payload_len cannot wrap around to a small size
 * that passes the buffer check while the copies write far past it. */
static uint64_t body_variable(const SbFrame *f) {
        switch (f->type) {
        case SB_MSG_SEND:
                return (uint64_t) f->send.group_len + f->send.payload_len;
        case SB_MSG_DELIVER:
                return f->deliver.payload_len;
        case SB_MSG_WELCOME:
                return f->welcome.features ? 8 : 0;
        case SB_MSG_JOIN:
        case SB_MSG_LEAVE:
                return f->name.len;
        case SB_MSG_ERROR:
                return f->error.text_len;
        case SB_MSG_DATA:
                return f->data.data_len;
        default:
                return 0;
        }
}

/* Message types are numbered for good: one withdrawn or not yet merged
 * leaves a hole in SbMsgType, which has no name and is never valid. */
static bool type_is_defined(uint8_t type) {
        return type != SB_MSG_INVALID && type < _SB_MSG_MAX && msg_type_names[type];
}

static uint64_t frame_size(const SbFrame *frame) {
        if (!type_is_defined(frame->type))
                return 0;
        return SB_HEADER_SIZE + (uint64_t) body_fixed[frame->type] + body_variable(frame);
}

size_t sb_frame_size(const SbFrame *frame) {
        uint64_t n = frame_size(frame);

        return n > SIZE_MAX ? SIZE_MAX : (size_t) n;
}

/* The decoder's rules seen from the encoder: a frame the decoder would refuse
 * (or whose bytes the caller did not provide) is not written, so everything
 * sb_frame_encode() produces parses again to the same frame. */
static bool bytes_ok(const void *p, size_t len) {
        return p || len == 0;
}

static bool frame_is_encodable(const SbFrame *f) {
        switch (f->type) {
        case SB_MSG_HELLO:
                return (f->hello.flags & ~SB_HELLO_FLAGS_ALL) == 0;
        case SB_MSG_SUBSCRIBE:
        case SB_MSG_UNSUBSCRIBE:
                return (f->subscribe.flags & ~SB_SUBSCRIBE_FLAGS_ALL) == 0;
        case SB_MSG_SEND:
                return (f->send.flags & ~SB_SEND_FLAGS_ALL) == 0 && f->send.group_len <= SB_GROUP_NAME_MAX &&
                        bytes_ok(f->send.group, f->send.group_len) &&
                        bytes_ok(f->send.payload, f->send.payload_len);
        case SB_MSG_DELIVER:
                return f->deliver.flags == 0 && bytes_ok(f->deliver.payload, f->deliver.payload_len);
        case SB_MSG_JOIN:
        case SB_MSG_LEAVE:
                return f->name.len >= 1 && f->name.len <= SB_GROUP_NAME_MAX && f->name.name;
        case SB_MSG_ERROR:
                return f->error.text_len <= SB_ERROR_TEXT_MAX && bytes_ok(f->error.text, f->error.text_len);
        case SB_MSG_QUERY:
                return (f->query.flags & ~SB_QUERY_FLAGS_ALL) == 0;
        case SB_MSG_DATA:
                return (f->data.flags & ~SB_DATA_FLAGS_ALL) == 0 && f->data.data_len <= SB_DATA_MAX &&
                        bytes_ok(f->data.data, f->data.data_len);
        default:
                return true;
        }
}

static void encode_header(uint8_t type, uint32_t body_len, uint64_t serial, Writer *w) {
        put8(w, SB_PROTOCOL_VERSION);
        put8(w, type);
        put16(w, 0);
        put32(w, body_len);
        put64(w, serial);
}

/* The fixed part of a DELIVER body: everything but the payload. */
static void encode_deliver_fixed(const SbDeliver *d, Writer *w) {
        put32(w, d->signo);
        put8(w, d->priority);
        put8(w, d->flags);
        put16(w, 0);
        put32(w, d->sender_pid);
        put32(w, d->sender_uid);
        put32(w, d->sender_gid);
        put32(w, d->merged);
        put64(w, d->sender_client_id);
        put64(w, d->realtime_ns);
        put64(w, d->monotonic_ns);
        put64(w, d->seq);
        put32(w, d->payload_len);
        put32(w, 0);
}

static void encode_body(const SbFrame *f, Writer *w) {
        switch (f->type) {
        case SB_MSG_HELLO:
                put32(w, f->hello.window);
                put32(w, f->hello.flags);
                break;
        case SB_MSG_WELCOME:
                put64(w, f->welcome.client_id);
                put32(w, f->welcome.pid);
                put32(w, f->welcome.uid);
                put32(w, f->welcome.gid);
                put32(w, f->welcome.max_payload);
                put32(w, f->welcome.max_queue);
                put32(w, f->welcome.window);
                if (f->welcome.features)
                        put64(w, f->welcome.features);
                break;
        case SB_MSG_SUBSCRIBE:
        case SB_MSG_UNSUBSCRIBE:
                put64(w, f->subscribe.mask);
                put32(w, f->subscribe.flags);
                put32(w, 0);
                break;
        case SB_MSG_SEND:
                put32(w, f->send.signo);
                put8(w, f->send.priority);
                put8(w, f->send.target_kind);
                put16(w, f->send.flags);
                put64(w, f->send.target);
                put16(w, f->send.group_len);
                put16(w, 0);
                put32(w, f->send.payload_len);
                put_bytes(w, f->send.group, f->send.group_len);
                put_bytes(w, f->send.payload, f->send.payload_len);
                break;
        case SB_MSG_RESULT:
                put64(w, f->result.reply_serial);
                put32(w, (uint32_t) f->result.error);
                put32(w, f->result.queued);
                put32(w, f->result.merged);
                put32(w, f->result.refused);
                put32(w, f->result.denied);
                put32(w, 0);
                break;
        case SB_MSG_REPLY:
                put64(w, f->reply.reply_serial);
                put32(w, (uint32_t) f->reply.error);
                put32(w, 0);
                break;
        case SB_MSG_DELIVER:
                encode_deliver_fixed(&f->deliver, w);
                put_bytes(w, f->deliver.payload, f->deliver.payload_len);
                break;
        case SB_MSG_ACK:
                put32(w, f->ack.count);
                put32(w, 0);
                break;
        case SB_MSG_GAP:
                put32(w, f->gap.signo);
                put32(w, f->gap.lost);
                put64(w, f->gap.seq);
                break;
        case SB_MSG_JOIN:
        case SB_MSG_LEAVE:
                put_bytes(w, f->name.name, f->name.len);
                break;
        case SB_MSG_SET_WINDOW:
                put32(w, f->window.window);
                put32(w, 0);
                break;
        case SB_MSG_BLOCK:
                put64(w, f->block.mask);
                break;
        case SB_MSG_ERROR:
                put32(w, (uint32_t) f->error.error);
                put16(w, f->error.text_len);
                put16(w, 0);
                put_bytes(w, f->error.text, f->error.text_len);
                break;
        case SB_MSG_QUERY:
                put32(w, f->query.kind);
                put32(w, f->query.flags);
                put64(w, f->query.arg);
                break;
        case SB_MSG_DATA:
                put64(w, f->data.reply_serial);
                put32(w, (uint32_t) f->data.error);
                put32(w, f->data.flags);
                put32(w, f->data.data_len);
                put32(w, 0);
                put_bytes(w, f->data.data, f->data.data_len);
                break;
        }
}

ssize_t sb_frame_encode(const SbFrame *frame, void *buf, size_t size) {
        uint64_t n = frame_size(frame);
        Writer w = { .p = buf };

        if (n == 0 || n - SB_HEADER_SIZE > SB_BODY_MAX || !frame_is_encodable(frame))
                return -EINVAL;
        if (n > size)
                return -ENOBUFS;

        encode_header(frame->type, (uint32_t) (n - SB_HEADER_SIZE), frame->serial, &w);
        encode_body(frame, &w);
        return (ssize_t) n;
}

/* Offsets, in a DELIVER frame, of what differs between receivers. */
#define DELIVER_PRIORITY_AT (SB_HEADER_SIZE + 4)
#define DELIVER_MERGED_AT (SB_HEADER_SIZE + 20)
#define DELIVER_SEQ_AT (SB_HEADER_SIZE + 48)

int sb_deliver_encode_head(const SbFrame *frame, uint8_t head[static SB_DELIVER_HEAD_SIZE]) {
        Writer w = { .p = head };

        if (frame->type != SB_MSG_DELIVER || frame->deliver.flags != 0 ||
            frame->deliver.payload_len > SB_BODY_MAX - (SB_DELIVER_HEAD_SIZE - SB_HEADER_SIZE))
                return -EINVAL;
        encode_header(SB_MSG_DELIVER, SB_DELIVER_HEAD_SIZE - SB_HEADER_SIZE + frame->deliver.payload_len,
                      frame->serial, &w);
        encode_deliver_fixed(&frame->deliver, &w);
        return 0;
}

void sb_deliver_patch(uint8_t head[static SB_DELIVER_HEAD_SIZE], uint8_t priority, uint32_t merged, uint64_t seq) {
        Writer w = { .p = head + DELIVER_PRIORITY_AT };

        put8(&w, priority);
        w.p = head + DELIVER_MERGED_AT;
        put32(&w, merged);
        w.p = head + DELIVER_SEQ_AT;
        put64(&w, seq);
}

/* ---- reading ---- */

typedef struct Reader {
        const uint8_t *p;
        const uint8_t *end;
        bool bad;               /* a reserved field was not zero, or a length did not fit */
} Reader;

static uint8_t get8(Reader *r) { return *r->p++; }
static uint16_t get16(Reader *r) { uint16_t v; memcpy(&v, r->p, 2); r->p += 2; return le16toh(v); }
static uint32_t get32(Reader *r) { uint32_t v; memcpy(&v, r->p, 4); r->p += 4; return le32toh(v); }
static uint64_t get64(Reader *r) { uint64_t v; memcpy(&v, r->p, 8); r->p += 8; return le64toh(v); }

static void get_zero16(Reader *r) { if (get16(r) != 0) r->bad = true; }
static void get_zero32(Reader *r) { if (get32(r) != 0) r->bad = true; }

/* Take len bytes of the variable part. The fixed part was checked against
 * the body size before decoding began; variable parts are checked here. */
static const void *get_bytes(Reader *r, size_t len) {
        const void *p = r->p;

        if ((size_t) (r->end - r->p) < len) {
                r->bad = true;
                return NULL;
        }
        r->p += len;
        return p;
}

static void decode_body(Reader *r, SbFrame *f) {
        switch (f->type) {
        case SB_MSG_HELLO:
                f->hello.window = get32(r);
                f->hello.flags = get32(r);
                if (f->hello.flags & ~SB_HELLO_FLAGS_ALL)
                        r->bad = true;
                break;
        case SB_MSG_WELCOME:
                f->welcome.client_id = get64(r);
                f->welcome.pid = get32(r);
                f->welcome.uid = get32(r);
                f->welcome.gid = get32(r);
                f->welcome.max_payload = get32(r);
                f->welcome.max_queue = get32(r);
                f->welcome.window = get32(r);
                /* The features field follows only if the client asked. */
                if (r->end - r->p >= 8) {
                        f->welcome.features = get64(r);
                        if (f->welcome.features == 0)
                                r->bad = true;  /* written only when not 0 */
                }
                break;
        case SB_MSG_SUBSCRIBE:
        case SB_MSG_UNSUBSCRIBE:
                f->subscribe.mask = get64(r);
                f->subscribe.flags = get32(r);
                get_zero32(r);
                if (f->subscribe.flags & ~SB_SUBSCRIBE_FLAGS_ALL)
                        r->bad = true;
                break;
        case SB_MSG_SEND:
                f->send.signo = get32(r);
                f->send.priority = get8(r);
                f->send.target_kind = get8(r);
                f->send.flags = get16(r);
                f->send.target = get64(r);
                f->send.group_len = get16(r);
                get_zero16(r);
                f->send.payload_len = get32(r);
                if (f->send.flags & ~SB_SEND_FLAGS_ALL || f->send.group_len > SB_GROUP_NAME_MAX)
                        r->bad = true;
                f->send.group = get_bytes(r, f->send.group_len);
                f->send.payload = get_bytes(r, f->send.payload_len);
                break;
        case SB_MSG_RESULT:
                f->result.reply_serial = get64(r);
                f->result.error = (int32_t) get32(r);
                f->result.queued = get32(r);
                f->result.merged = get32(r);
                f->result.refused = get32(r);
                f->result.denied = get32(r);
                get_zero32(r);
                break;
        case SB_MSG_REPLY:
                f->reply.reply_serial = get64(r);
                f->reply.error = (int32_t) get32(r);
                get_zero32(r);
                break;
        case SB_MSG_DELIVER:
                f->deliver.signo = get32(r);
                f->deliver.priority = get8(r);
                f->deliver.flags = get8(r);
                get_zero16(r);
                if (f->deliver.flags != 0)
                        r->bad = true;
                f->deliver.sender_pid = get32(r);
                f->deliver.sender_uid = get32(r);
                f->deliver.sender_gid = get32(r);
                f->deliver.merged = get32(r);
                f->deliver.sender_client_id = get64(r);
                f->deliver.realtime_ns = get64(r);
                f->deliver.monotonic_ns = get64(r);
                f->deliver.seq = get64(r);
                f->deliver.payload_len = get32(r);
                get_zero32(r);
                f->deliver.payload = get_bytes(r, f->deliver.payload_len);
                break;
        case SB_MSG_ACK:
                f->ack.count = get32(r);
                get_zero32(r);
                break;
        case SB_MSG_GAP:
                f->gap.signo = get32(r);
                f->gap.lost = get32(r);
                f->gap.seq = get64(r);
                break;
        case SB_MSG_JOIN:
        case SB_MSG_LEAVE:
                f->name.len = (uint16_t) (r->end - r->p);
                if (f->name.len == 0 || (size_t) (r->end - r->p) > SB_GROUP_NAME_MAX)
                        r->bad = true;
                else
                        f->name.name = get_bytes(r, f->name.len);
                break;
        case SB_MSG_SET_WINDOW:
                f->window.window = get32(r);
                get_zero32(r);
                break;
        case SB_MSG_BLOCK:
                f->block.mask = get64(r);
                break;
        case SB_MSG_ERROR:
                f->error.error = (int32_t) get32(r);
                f->error.text_len = get16(r);
                get_zero16(r);
                if (f->error.text_len > SB_ERROR_TEXT_MAX)
                        r->bad = true;
                f->error.text = get_bytes(r, f->error.text_len);
                break;
        case SB_MSG_QUERY:
                f->query.kind = get32(r);
                f->query.flags = get32(r);
                f->query.arg = get64(r);
                if (f->query.flags & ~SB_QUERY_FLAGS_ALL)
                        r->bad = true;
                break;
        case SB_MSG_DATA:
                f->data.reply_serial = get64(r);
                f->data.error = (int32_t) get32(r);
                f->data.flags = get32(r);
                f->data.data_len = get32(r);
                get_zero32(r);
                if (f->data.flags & ~SB_DATA_FLAGS_ALL || f->data.data_len > SB_DATA_MAX)
                        r->bad = true;
                f->data.data = get_bytes(r, f->data.data_len);
                break;
        }
}

int sb_frame_parse_untrusted(const void *buf, size_t size, SbFrame *ret_frame, size_t *ret_size) {
        Reader r;
        SbFrame f = {};
        uint32_t length;

        /* Checked before the cursor is set up: buf may be NULL when size is 0. */
        if (size < SB_HEADER_SIZE)
                return SB_PARSE_E_SHORT_HEADER;
        r = (Reader) { .p = buf, .end = (const uint8_t *) buf + size };
        if (get8(&r) != SB_PROTOCOL_VERSION)
                return SB_PARSE_E_VERSION;
        f.type = get8(&r);
        if (!type_is_defined(f.type))
                return SB_PARSE_E_TYPE;
        if (get16(&r) != 0)
                return SB_PARSE_E_MALFORMED;
        length = get32(&r);
        f.serial = get64(&r);
        if (length > SB_BODY_MAX)
                return SB_PARSE_E_TOO_LONG;
        if (length > size - SB_HEADER_SIZE)
                return SB_PARSE_E_TRUNCATED;
        if (length < body_fixed[f.type])
                return SB_PARSE_E_MALFORMED;

        r.end = r.p + length;
        decode_body(&r, &f);
        if (r.bad || r.p != r.end)
                return SB_PARSE_E_MALFORMED;

        *ret_frame = f;
        *ret_size = SB_HEADER_SIZE + (size_t) length;
        return SB_PARSE_OK;
}
