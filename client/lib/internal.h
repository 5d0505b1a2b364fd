/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The inside of a sigbroker handle, shared by the library's files:
 * connection.c (packets in and out, frames into state), queue.c (deliveries
 * read but not yet consumed), libsigbroker.c (connect and requests),
 * send.c and receive.c.
 */

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "protocol.h"
#include "sigbroker.h"

#define _public_ __attribute__((visibility("default")))

/* sigbroker_wait() as each symbol version sees it (receive.c). */
int sigbroker_wait_v3(sigbroker *sb, int64_t timeout_usec, sigbroker_info *ret_info);
int sigbroker_wait_v1(sigbroker *sb, int64_t timeout_usec, sigbroker_info *ret_info);

/* Public functions check their arguments with this, internal ones assert. */
#define assert_return(expr, r)                  \
        do {                                    \
                if (!(expr))                    \
                        return (r);             \
        } while (0)

#define USEC_INFINITY UINT64_MAX

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ __attribute__((cleanup(freep)))
#define _cleanup_(f) __attribute__((cleanup(f)))
#define TAKE_PTR(p) ({ __typeof__(p) _p_ = (p); (p) = NULL; _p_; })

/* A request not answered in this time means the daemon is stuck: the
 * connection is given up (answers would no longer match requests). */
#define SB_REQUEST_TIMEOUT_USEC (25ULL * 1000 * 1000)

/* The longest blocking receive; longer waits poll on (sb_wait_input()). */
#define SB_RCVTIMEO_MAX_USEC (3600ULL * 1000 * 1000)

/* A QUERY answer is at most this big, whatever the daemon sends. */
#define SB_QUERY_TEXT_MAX (256U * 1024 * 1024)

/* Packets read by one sigbroker_dispatch() before it runs handlers, so that
 * a busy connection cannot keep it reading for ever. */
#define SB_DISPATCH_READ_MAX 64

/* Every packet we build keeps room for one ACK frame at its end, so that
 * acknowledgements never wait for a flush of their own. */
#define SB_ACK_FRAME_SIZE (SB_HEADER_SIZE + 8)

/* One delivery or gap record, read but not yet consumed. */
typedef struct Entry Entry;
struct Entry {
        Entry *prev, *next;
        size_t capacity;        /* bytes in data[] */
        sigbroker_info info;    /* info.payload points at data[] */
        bool acked;             /* its credit was already returned to the daemon */
        uint8_t data[];
};

typedef struct Queue {
        Entry *head, *tail;
        size_t n;
        size_t n_unacked;       /* entries whose window credit is still out */
        uint64_t generation;    /* bumped on every removal, see sigbroker_dispatch() */
        Entry *cache;           /* freed small entries, for reuse */
        size_t n_cache;
        size_t n_peak;          /* the most entries queued at once */
} Queue;

typedef struct Handler {
        sigbroker_handler_t fn;
        void *userdata;
        unsigned flags;
} Handler;

/* The answer to the one synchronous request in flight. */
typedef struct SyncReply {
        bool done;
        uint8_t type;           /* the answer expected: SB_MSG_REPLY, _RESULT, _DATA or _WELCOME */
        int error;              /* 0 or negative errno */
        sigbroker_send_result result;
        char *text;             /* DATA chunks so far */
        size_t text_len, text_size;
} SyncReply;

/* The result of one async send, kept for the result handler. */
typedef struct ResultRecord {
        uint64_t serial;
        int error;
        sigbroker_send_result result;
} ResultRecord;

struct sigbroker {
        int fd;
        int dead;               /* 0, or the negative errno that ended the connection */
        int disconnect_error;   /* from an ERROR frame: positive errno, 0 if none */
        char *disconnect_text;

        bool handshake;         /* waiting for WELCOME */
        uint64_t client_id;
        uint64_t features;              /* SB_FEATURE_* from WELCOME */
        uint32_t pid, uid, gid;
        uint32_t max_payload, max_queue, window;

        /* Requests get serials from serial_next; the daemon answers them in
         * order, so everything in [reply_next, serial_next) is waiting for
         * its answer. At most one of them is synchronous (sync_serial); the
         * others are async sends. */
        uint64_t serial_next;
        uint64_t reply_next;
        uint64_t sync_serial;
        SyncReply sync;
        /* A SYNC asking for the RESULTs the daemon holds back (async sends
         * are SB_SEND_DEFER_RESULT), while unanswered. */
        uint64_t flush_serial;

        /* The monitor stream, once started, never ends while connected. */
        uint64_t monitor_serial;
        sigbroker_monitor_handler_t monitor_fn;
        void *monitor_userdata;
        int monitor_stop;       /* what sigbroker_monitor() returns, 1 = keep going */

        /* Output: one packet being built, written whole. An ACK frame in it
         * (at ack_offset) is updated in place rather than repeated. */
        uint8_t *wbuf;
        size_t wlen;
        size_t ack_offset;      /* SIZE_MAX: none in wbuf */
        uint32_t ack_written;   /* the count in that frame */
        uint32_t ack_pending;   /* consumed deliveries not yet in an ACK */
        uint64_t last_seq;      /* highest delivery or gap sequence number seen */

        /* Input: the last packet read; its frames before rpos are taken. */
        uint8_t *rbuf;          /* SB_PACKET_MAX */
        size_t rpos, rlen;
        uint64_t rcvtimeo_usec; /* SO_RCVTIMEO in force, 0 if none */

        Queue queue;
        Entry *current;         /* handed out by sigbroker_wait(), freed at the next */
        uint64_t blocked;
        Handler handlers[SB_SIGNO_MAX + 1];

        sigbroker_result_handler_t result_fn;
        void *result_userdata;
        ResultRecord *results;  /* ring, only while a result handler is set */
        size_t results_head, n_results, results_size;
        sigbroker_batch_result totals;
};

/* connection.c */
uint64_t sb_now_usec(void);
uint64_t sb_deadline(int64_t timeout_usec);
/* A delivery or gap with this sequence number was had before (a daemon
 * restarted from its journal repeats what it wrote just before it died):
 * credit it back and skip it. */
bool sb_seen_before(sigbroker *sb, uint64_t seq);
void sb_fail(sigbroker *sb, int error);
int sb_append(sigbroker *sb, SbFrame *frame);
int sb_write(sigbroker *sb);
int sb_flush(sigbroker *sb);
int sb_read(sigbroker *sb);
int sb_receive(sigbroker *sb);
int sb_wait_input(sigbroker *sb, uint64_t deadline);
int sb_next_frame(sigbroker *sb, SbFrame *ret);
int sb_process_frame(sigbroker *sb, const SbFrame *f);
bool sb_deliver_is_valid(const SbDeliver *d);
void sb_info_from_deliver(const SbDeliver *d, sigbroker_info *ret);
void sb_info_from_gap(const SbGap *g, sigbroker_info *ret);
int sb_poll(sigbroker *sb, uint64_t deadline);
int sb_call(sigbroker *sb, SbFrame *frame);
bool sb_output_pending(const sigbroker *sb);
uint64_t sb_async_outstanding(const sigbroker *sb);
int sb_request_results(sigbroker *sb);
void sb_sync_reset(sigbroker *sb);

/* queue.c */
Entry *sb_queue_push(Queue *q, size_t payload_len);
void sb_queue_unlink(Queue *q, Entry *e);
void sb_queue_release(Queue *q, Entry *e);
void sb_queue_done(Queue *q);

/* receive.c */
void sb_entry_credit(sigbroker *sb, Entry *e);
void sb_ack_maybe(sigbroker *sb);
int sb_reap_results(sigbroker *sb);

static inline int sb_errno_from_wire(int32_t e) {
        /* A daemon's errno is positive and small; anything else is nonsense. */
        if (e == 0)
                return 0;
        if (e < 0 || e > 4095)
                return -EPROTO;
        return -e;
}
