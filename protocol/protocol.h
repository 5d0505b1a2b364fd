/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * sigbroker wire protocol, version 1.
 *
 * The transport is AF_UNIX SOCK_SEQPACKET. A packet holds one or more whole
 * frames, back to back; a frame never spans packets. Every frame is a
 * 16-byte header followed by a typed body. All integers are little-endian
 * and unaligned on the wire. sigbroker-protocol(7) is the reference.
 *
 *   offset  size  field
 *   0       1     version    SB_PROTOCOL_VERSION
 *   1       1     type       SbMsgType
 *   2       2     flags      0 (reserved, must be zero)
 *   4       4     length     body length in bytes, not counting the header
 *   8       8     serial     chosen by the sender; replies name it
 *
 * This module does no I/O and allocates nothing: the encoder writes into a
 * buffer the caller hands in, and the decoder fills an SbFrame whose
 * pointers (payload, names, data) point into the caller's buffer.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SB_PROTOCOL_VERSION 1
#define SB_HEADER_SIZE 16

#define SB_SIGNO_MAX 64                 /* Linux: 1..64; 0 is the probe */
#define SB_SIGRTMIN 34                  /* glibc's SIGRTMIN */
#define SB_PRIORITY_MAX 99
#define SB_PAYLOAD_MAX_DEFAULT 4096
#define SB_PAYLOAD_MAX_LIMIT 65536      /* --max-payload cannot go above */
#define SB_GROUP_NAME_MAX 64
#define SB_DATA_MAX 65536               /* one QUERY/EVENT data chunk */
#define SB_ERROR_TEXT_MAX 256

/* The largest packet either side sends or accepts (a larger one is a
 * protocol violation), and so the largest frame. A payload over the
 * daemon's --max-payload inside a well-formed frame is not a violation: the
 * send is answered with EMSGSIZE. */
#define SB_PACKET_MAX (128 * 1024)
#define SB_BODY_MAX (SB_PACKET_MAX - SB_HEADER_SIZE)

typedef enum SbMsgType {
        SB_MSG_INVALID = 0,
        SB_MSG_HELLO,           /* c→d  first frame on a connection */
        SB_MSG_WELCOME,         /* d→c  answer to HELLO: client id, identity, limits */
        SB_MSG_SUBSCRIBE,       /* c→d  add signal numbers to the subscription */
        SB_MSG_UNSUBSCRIBE,     /* c→d  remove signal numbers */
        SB_MSG_SEND,            /* c→d  send one signal */
        SB_MSG_RESULT,          /* d→c  outcome of one SEND */
        SB_MSG_REPLY,           /* d→c  outcome of any other request */
        SB_MSG_DELIVER,         /* d→c  one signal for this receiver */
        SB_MSG_ACK,             /* c→d  deliveries consumed: returns window credit */
        SB_MSG_GAP,             /* d→c  signals lost to a drop-oldest subscription */
        SB_MSG_JOIN,            /* c→d  join a named group */
        SB_MSG_LEAVE,           /* c→d  leave a named group */
        SB_MSG_SET_WINDOW,      /* c→d  change the flow-control window */
        SB_MSG_BLOCK,           /* c→d  replace the blocked set */
        SB_MSG_ERROR,           /* d→c  last frame before the daemon hangs up */
        SB_MSG_QUERY,           /* c→d  administration and introspection */
        SB_MSG_DATA,            /* d→c  a chunk of a QUERY answer, or a monitor event */
        SB_MSG_SYNC,            /* c→d  answered by a REPLY once every earlier request is answered */
        _SB_MSG_MAX,
} SbMsgType;

/* Frame header flags: none defined in version 1. */

typedef enum SbTargetKind {
        SB_TARGET_PID = 0,
        SB_TARGET_PGID,
        SB_TARGET_SID,
        SB_TARGET_GROUP,        /* named group, the name travels in the frame */
        SB_TARGET_CLIENT,       /* client id */
        SB_TARGET_BROADCAST,    /* every subscriber the sender may signal */
        _SB_TARGET_MAX,
} SbTargetKind;

typedef enum SbQueryKind {
        SB_QUERY_STATUS = 0,
        SB_QUERY_STATS,
        SB_QUERY_CLIENTS,
        SB_QUERY_GROUPS,
        SB_QUERY_RELOAD,
        SB_QUERY_MONITOR,       /* admin: stream every routed signal as DATA */
        SB_QUERY_DISCONNECT,    /* admin: arg = client id */
        _SB_QUERY_MAX,
} SbQueryKind;

/* HELLO flags */
/* The client reads WELCOME's features field: a daemon answers such a HELLO
 * with the longer WELCOME, and every other HELLO with the first revision's
 * 32-byte body, so that a client built before the field existed still
 * parses its WELCOME. */
#define SB_HELLO_FEATURES (UINT32_C(1) << 0)
#define SB_HELLO_FLAGS_ALL SB_HELLO_FEATURES

/* WELCOME features: what the daemon offers beyond the first revision of
 * version 1. A client asks for a feature's frames only if its bit is set. */
#define SB_FEATURE_WATCH (UINT64_C(1) << 0)     /* WATCH, UNWATCH, EXIT */
#define SB_FEATURE_DEADLINE (UINT64_C(1) << 1)  /* SEND deadlines, EXPIRED */
#define SB_FEATURE_CONFIRM (UINT64_C(1) << 2)   /* confirmed SEND, CONFIRMED */

/* SUBSCRIBE flags */
#define SB_SUBSCRIBE_DROP_OLDEST (UINT32_C(1) << 0)
#define SB_SUBSCRIBE_FLAGS_ALL SB_SUBSCRIBE_DROP_OLDEST

/* SEND flags */
/* The sender does not wait for this RESULT: if the send succeeds, the
 * daemon may hold its RESULT back until it writes anything else to the
 * sender, until the sender sends SYNC, or for at most SB_RESULT_HOLD_USEC.
 * A failed send is answered at once. */
#define SB_SEND_DEFER_RESULT (UINT16_C(1) << 0)
#define SB_SEND_FLAGS_ALL SB_SEND_DEFER_RESULT
/* Long enough that the daemon's hold timer rarely runs short: with 1 ms or
 * 10 ms, a timer due that soon doubled the ping-pong p99 on the bench VMs
 * (re-arming the hardware timer of a VM is costly); 100 ms did not. A
 * client that waits for an answer sends SYNC and does not wait this long. */
#define SB_RESULT_HOLD_USEC 100000

/* QUERY flags */
#define SB_QUERY_OPENMETRICS (UINT32_C(1) << 0)  /* STATS as OpenMetrics text instead of JSON */
#define SB_QUERY_FLAGS_ALL SB_QUERY_OPENMETRICS

/* DATA flags */
#define SB_DATA_MORE (UINT32_C(1) << 0)          /* more chunks of this answer follow */
#define SB_DATA_FLAGS_ALL SB_DATA_MORE

/* Signal masks: bit (signo - 1) stands for signo, 1..64. */
#define SB_SIGMASK(signo) (UINT64_C(1) << ((signo) - 1))

typedef struct SbHello {
        uint32_t window;        /* flow-control window; 0 = daemon default */
        uint32_t flags;         /* SB_HELLO_* */
} SbHello;

typedef struct SbWelcome {
        uint64_t client_id;
        uint32_t pid, uid, gid; /* as the kernel told the daemon */
        uint32_t max_payload;
        uint32_t max_queue;
        uint32_t window;        /* in force */
        uint64_t features;      /* SB_FEATURE_*; on the wire only when not 0 */
} SbWelcome;

typedef struct SbSubscribe {   /* SUBSCRIBE, UNSUBSCRIBE */
        uint64_t mask;
        uint32_t flags;         /* SB_SUBSCRIBE_*; 0 for UNSUBSCRIBE */
} SbSubscribe;

typedef struct SbSend {
        uint32_t signo;         /* not range-checked here: the daemon answers EINVAL */
        uint8_t priority;
        uint8_t target_kind;    /* SbTargetKind, likewise */
        uint16_t flags;         /* SB_SEND_* */
        uint64_t target;        /* pid, pgid, sid or client id */
        const char *group;      /* SB_TARGET_GROUP; not NUL-terminated */
        uint16_t group_len;
        const void *payload;
        uint32_t payload_len;
} SbSend;

typedef struct SbResult {
        uint64_t reply_serial;
        int32_t error;          /* 0 or a positive errno */
        uint32_t queued, merged, refused, denied;
} SbResult;

typedef struct SbReply {
        uint64_t reply_serial;
        int32_t error;          /* 0 or a positive errno */
} SbReply;

typedef struct SbDeliver {
        uint32_t signo;
        uint8_t priority;
        uint8_t flags;          /* 0 */
        uint32_t sender_pid, sender_uid, sender_gid;
        uint32_t merged;        /* sends coalesced into this one (standard signals) */
        uint64_t sender_client_id;
        uint64_t realtime_ns, monotonic_ns;  /* when the daemon accepted the send */
        uint64_t seq;           /* per receiver, counts up from 1 */
        const void *payload;
        uint32_t payload_len;
} SbDeliver;

typedef struct SbAck {
        uint32_t count;         /* deliveries consumed since the last ACK */
} SbAck;

typedef struct SbGap {
        uint32_t signo;
        uint32_t lost;
        uint64_t seq;           /* takes a sequence number like a delivery */
} SbGap;

typedef struct SbName {        /* JOIN, LEAVE */
        const char *name;       /* not NUL-terminated; 1..SB_GROUP_NAME_MAX bytes */
        uint16_t len;
} SbName;

typedef struct SbWindow {
        uint32_t window;
} SbWindow;

typedef struct SbBlock {
        uint64_t mask;
} SbBlock;

typedef struct SbError {
        int32_t error;          /* positive errno */
        const char *text;       /* not NUL-terminated */
        uint16_t text_len;
} SbError;

typedef struct SbQuery {
        uint32_t kind;          /* SbQueryKind; unknown kinds get EOPNOTSUPP */
        uint32_t flags;         /* SB_QUERY_* */
        uint64_t arg;
} SbQuery;

typedef struct SbData {
        uint64_t reply_serial;  /* the QUERY this answers */
        int32_t error;          /* 0 or a positive errno */
        uint32_t flags;         /* SB_DATA_* */
        const char *data;       /* UTF-8 text (JSON, OpenMetrics); not NUL-terminated */
        uint32_t data_len;
} SbData;

typedef struct SbFrame {
        uint8_t type;           /* SbMsgType */
        uint64_t serial;
        union {
                SbHello hello;
                SbWelcome welcome;
                SbSubscribe subscribe;
                SbSend send;
                SbResult result;
                SbReply reply;
                SbDeliver deliver;
                SbAck ack;
                SbGap gap;
                SbName name;
                SbWindow window;
                SbBlock block;
                SbError error;
                SbQuery query;
                SbData data;
        };
} SbFrame;

/* Why sb_frame_parse_untrusted() refused its input; each has its own code so
 * that a peer can be told exactly what it did wrong. */
typedef enum SbParseError {
        SB_PARSE_OK = 0,
        SB_PARSE_E_SHORT_HEADER,        /* fewer than SB_HEADER_SIZE bytes left */
        SB_PARSE_E_VERSION,             /* version is not SB_PROTOCOL_VERSION */
        SB_PARSE_E_TYPE,                /* unknown message type */
        SB_PARSE_E_TOO_LONG,            /* length over SB_BODY_MAX */
        SB_PARSE_E_TRUNCATED,           /* the body runs past the end of the buffer */
        SB_PARSE_E_MALFORMED,           /* body does not fit its type: size, reserved bits, lengths */
        _SB_PARSE_E_MAX,
} SbParseError;

/* Decode the frame at the start of buf. Never reads outside buf[0..size).
 * Returns 0 and fills *ret_frame and *ret_size (bytes taken, header
 * included), or a positive SbParseError. Field values (signal numbers,
 * target kinds, priorities) are the caller's to judge. */
int sb_frame_parse_untrusted(const void *buf, size_t size, SbFrame *ret_frame, size_t *ret_size);

/* Bytes sb_frame_encode() will write for this frame. */
size_t sb_frame_size(const SbFrame *frame);

/* Encode frame into buf. Returns the number of bytes written, or -ENOBUFS
 * if it does not fit (nothing useful is left in buf then), or -EINVAL for a
 * frame that could not be decoded again (a length over its limit). */
ssize_t sb_frame_encode(const SbFrame *frame, void *buf, size_t size);

/* One DELIVER for many receivers: its frame, up to the payload, encoded
 * once (sb_deliver_encode_head(): -EINVAL for a frame that is no DELIVER
 * or could not be decoded again); then, per receiver, a copy patched with
 * what differs (sb_deliver_patch()) and followed by the payload. */
#define SB_DELIVER_HEAD_SIZE (SB_HEADER_SIZE + 64)
int sb_deliver_encode_head(const SbFrame *frame, uint8_t head[static SB_DELIVER_HEAD_SIZE]);
void sb_deliver_patch(uint8_t head[static SB_DELIVER_HEAD_SIZE], uint8_t priority, uint32_t merged, uint64_t seq);

const char *sb_parse_error_to_string(int e);
const char *sb_msg_type_to_string(int type);

/* Signal numbers and names: "USR1", "SIGUSR1", "10", "RTMIN+1", "SIGRTMAX-2".
 * Returns the number 0..64, or -EINVAL. */
int sb_signal_from_string(const char *s);
/* The name of 0..64: "USR1", "RTMIN+3", "RTMAX-2", "0", "32"; NULL out of
 * range. Every name goes back to its number through sb_signal_from_string(). */
const char *sb_signal_name(int signo);
/* As sb_signal_name(), and the number written to buf when out of range. */
const char *sb_signal_to_string(int signo, char buf[static 16]);
static inline bool sb_signal_is_valid(uint32_t signo) { return signo <= SB_SIGNO_MAX; }
static inline bool sb_signal_is_realtime(uint32_t signo) { return signo >= 32 && signo <= SB_SIGNO_MAX; }

/* Target kinds by name: "pid", "pgid", "sid", "group", "client",
 * "broadcast". NULL for an unknown kind; -EINVAL for an unknown name. */
const char *sb_target_kind_to_string(int kind);
int sb_target_kind_from_string(const char *s);

/* Group names: 1..SB_GROUP_NAME_MAX bytes of [A-Za-z0-9_.:@-]. */
bool sb_group_name_is_valid(const char *name, size_t len);
