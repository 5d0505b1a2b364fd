/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * libsigbroker: the client library of sigbrokerd, the signal broker.
 * sigbroker(3) is the reference; this header says what each call does in a
 * line or two.
 *
 * Conventions: every function returns 0 (or a count) on success and a
 * negative errno on failure. Output parameters come last and are named
 * ret_*; they are written only on success unless stated otherwise. Invalid
 * arguments give -EINVAL, never a crash. The library keeps no global state
 * and never logs.
 *
 * Thread-safety: a handle may be used by one thread at a time. Different
 * handles are independent and may be used from different threads at once.
 */

#include <signal.h>      /* SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK for sigbroker_block() */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sigbroker sigbroker;

/* Signal numbers are Linux's, 1..64 (RTMIN is 34); 0 is the probe. A mask
 * has bit (signo - 1) set for each signal number in it. The real-time
 * signals are numbered as glibc numbers them for programs (its SIGRTMIN,
 * SIGRTMAX), on every architecture, whatever the host's <signal.h> says:
 * use these rather than SIGRTMIN, which is a function call in glibc. */
#define SIGBROKER_SIGNO_MAX 64
#define SIGBROKER_SIGRTMIN 34
#define SIGBROKER_SIGRTMAX 64
#define SIGBROKER_PRIORITY_MAX 99
#define SIGBROKER_SIGMASK(signo) (UINT64_C(1) << ((signo) - 1))

/* sigbroker_target.kind; the values are the wire protocol's. */
enum {
        SIGBROKER_TARGET_PID = 0,
        SIGBROKER_TARGET_PGID = 1,
        SIGBROKER_TARGET_SID = 2,
        SIGBROKER_TARGET_GROUP = 3,     /* named group, see sigbroker_join() */
        SIGBROKER_TARGET_CLIENT = 4,    /* client id, see sigbroker_get_client_id() */
        SIGBROKER_TARGET_BROADCAST = 5, /* every subscriber the sender may signal */
};

/* sigbroker_query() kinds; the values are the wire protocol's. */
enum {
        SIGBROKER_QUERY_STATUS = 0,
        SIGBROKER_QUERY_STATS = 1,
        SIGBROKER_QUERY_CLIENTS = 2,
        SIGBROKER_QUERY_GROUPS = 3,
        SIGBROKER_QUERY_RELOAD = 4,
        /* 5 is the monitor stream: use sigbroker_monitor() */
        SIGBROKER_QUERY_DISCONNECT = 6, /* arg: the client id to disconnect */
};

#define SIGBROKER_SUBSCRIBE_DROP_OLDEST (1U << 0) /* full queue: drop the oldest, report a gap */
#define SIGBROKER_HANDLER_ONESHOT (1U << 0)       /* remove the handler after its first call */
#define SIGBROKER_QUERY_OPENMETRICS (1U << 0)     /* STATS as OpenMetrics text instead of JSON */

typedef struct sigbroker_target {
        int kind;               /* SIGBROKER_TARGET_* */
        uint64_t id;            /* pid, pgid, sid or client id; unused for GROUP and BROADCAST */
        const char *group;      /* SIGBROKER_TARGET_GROUP: the group's name */
} sigbroker_target;

/* What the daemon did with one send: for how many receivers the signal was
 * queued, merged into a pending one, refused (queue full) or denied. */
typedef struct sigbroker_send_result {
        uint32_t queued, merged, refused, denied;
} sigbroker_send_result;

/* Sums over the asynchronous sends collected by sigbroker_collect_results(). */
typedef struct sigbroker_batch_result {
        uint64_t sends;         /* results received */
        uint64_t delivered;     /* sends that reached at least one receiver */
        uint64_t failed;        /* sends that did not */
        uint64_t queued, merged, refused, denied;
        int first_error;        /* negative errno of the first failed send, or 0 */
} sigbroker_batch_result;

/* What a sigbroker_info reports (LIBSIGBROKER_3). */
enum {
        SIGBROKER_RECORD_SIGNAL = 0,    /* a signal */
        SIGBROKER_RECORD_GAP = 1,       /* `lost` signals of signo dropped (drop-oldest) */
        SIGBROKER_RECORD_EXPIRED = 2,   /* `lost` signals of signo expired unread */
        SIGBROKER_RECORD_EXIT = 3,      /* a watched process or client is gone */
};

/* One signal received. The payload stays valid until the next call on the
 * handle (for a handler: until it returns). The structure only grows at its
 * end: a program built against an older header calls the sigbroker_wait()
 * of its version, which fills only the fields it knows. */
typedef struct sigbroker_info {
        int signo;
        int priority;
        pid_t sender_pid;       /* as the kernel told the daemon */
        uid_t sender_uid;
        gid_t sender_gid;
        uint64_t sender_client_id;
        uint64_t realtime_ns;   /* when the daemon accepted the send */
        uint64_t monotonic_ns;
        uint64_t seq;           /* per receiver, counts up from 1; gaps take one too */
        uint32_t merged;        /* standard signals: sends coalesced into this one */
        bool gap;               /* a gap or expiry record: `lost` signals of signo are gone */
        uint32_t lost;
        const void *payload;
        size_t payload_len;
        /* LIBSIGBROKER_3 */
        int record;             /* SIGBROKER_RECORD_* */
} sigbroker_info;

/* Called by sigbroker_dispatch() for a signal of its number. A negative
 * return stops sigbroker_dispatch(), which returns it. */
typedef int (*sigbroker_handler_t)(sigbroker *sb, const sigbroker_info *info, void *userdata);

/* Called once per sigbroker_send_async(), from sigbroker_dispatch() and
 * sigbroker_collect_results() only. error: 0 or a negative errno. */
typedef void (*sigbroker_result_handler_t)(sigbroker *sb, uint64_t serial, int error,
                                           const sigbroker_send_result *result, void *userdata);

/* Called by sigbroker_monitor() for each event, one JSON object (not
 * NUL-terminated): first {"type":"start",...} once the daemon streams, then
 * {"type":"signal",...} for each routed send (sigbrokerctl(1) describes
 * the fields). Non-zero stops the monitor. */
typedef int (*sigbroker_monitor_handler_t)(sigbroker *sb, const char *json, size_t len, void *userdata);

/* Connecting. path NULL: $SIGBROKER_SOCKET, else (not root) an existing
 * $XDG_RUNTIME_DIR/sigbroker.sock, else /run/sigbroker/sigbroker.sock.
 * A path starting with '@' names an abstract socket. window: deliveries the
 * daemon may have in flight before this client acknowledges; 0 = the
 * daemon's default. */
int sigbroker_connect(const char *path, sigbroker **ret);
/* The socket path sigbroker_connect(path) would use, malloc()ed. */
int sigbroker_socket_path(const char *path, char **ret_path);
int sigbroker_connect_with(const char *path, unsigned window, sigbroker **ret);
/* As sigbroker_connect_with(); when the daemon refuses the connection with
 * a reason (its connection limits), *ret_reason gets the daemon's text,
 * malloc()ed, else NULL: free() it in every case. (LIBSIGBROKER_2) */
int sigbroker_connect_with_reason(const char *path, unsigned window, sigbroker **ret, char **ret_reason);
/* Closes the connection and frees the handle; accepts NULL, returns NULL.
 * Output not yet written (see sigbroker_flush()) is lost. */
sigbroker *sigbroker_close(sigbroker *sb);

int sigbroker_get_client_id(sigbroker *sb, uint64_t *ret_id);
/* What the daemon offers beyond the first protocol revision: a mask of
 * SIGBROKER_FEATURE_*. A call that needs a feature the daemon lacks fails
 * with -EOPNOTSUPP. (LIBSIGBROKER_3) */
enum {
        SIGBROKER_FEATURE_WATCH = 1 << 0,       /* sigbroker_watch() */
        SIGBROKER_FEATURE_DEADLINE = 1 << 1,    /* sends with a time to live */
        SIGBROKER_FEATURE_CONFIRM = 1 << 2,     /* confirmed sends */
};
int sigbroker_get_features(sigbroker *sb, uint64_t *ret_features);
int sigbroker_get_identity(sigbroker *sb, pid_t *ret_pid, uid_t *ret_uid, gid_t *ret_gid);
int sigbroker_get_limits(sigbroker *sb, size_t *ret_max_payload, unsigned *ret_max_queue);
int sigbroker_get_window(sigbroker *sb, unsigned *ret_window);
int sigbroker_set_window(sigbroker *sb, unsigned window);
/* Why the daemon hung up, if it said (-ENODATA otherwise). ret_text is owned
 * by the handle. */
int sigbroker_get_disconnect_reason(sigbroker *sb, int *ret_error, const char **ret_text);

/* Receiving: subscribe to signal numbers, join named groups. */
int sigbroker_subscribe(sigbroker *sb, uint64_t mask, unsigned flags);
int sigbroker_unsubscribe(sigbroker *sb, uint64_t mask);
int sigbroker_join(sigbroker *sb, const char *group);
int sigbroker_leave(sigbroker *sb, const char *group);
/* Like sigprocmask(2): how is SIG_BLOCK, SIG_UNBLOCK or SIG_SETMASK. Blocked
 * signals stay pending in the broker; those already received are held back
 * here and released, in order, when unblocked. */
int sigbroker_block(sigbroker *sb, int how, uint64_t mask, uint64_t *ret_old);

/* Like sigtimedwait(2): the next signal (or gap record) not blocked.
 * Returns its signo, -EAGAIN after timeout_usec (0 polls, < 0 waits for
 * ever), -EINTR if a signal interrupted the wait. */
int sigbroker_wait(sigbroker *sb, int64_t timeout_usec, sigbroker_info *ret_info);

/* Event-loop use: a handler per signal number (fn NULL removes it), run by
 * sigbroker_dispatch(), which never blocks and returns how many handlers it
 * ran. Poll sigbroker_get_fd() for sigbroker_get_events() (ask again after
 * every call on the handle: POLLOUT is included when there is output to
 * write or work already read, so that the loop comes straight back). */
int sigbroker_set_handler(sigbroker *sb, int signo, sigbroker_handler_t fn, void *userdata, unsigned flags);
int sigbroker_dispatch(sigbroker *sb);
int sigbroker_get_fd(sigbroker *sb);
int sigbroker_get_events(sigbroker *sb);

/* Sending. Returns 0 if at least one receiver got the signal, else -EPERM,
 * -ESRCH, -EAGAIN, -EINVAL or -EMSGSIZE; ret_result (may be NULL) gets the
 * counts. */
int sigbroker_send(sigbroker *sb, const sigbroker_target *target, int signo, int priority,
                   const void *payload, size_t len, sigbroker_send_result *ret_result);

/* Pipelined sending: frames are packed into one packet, written when it is
 * full or by sigbroker_flush(); results are collected later. */
int sigbroker_send_async(sigbroker *sb, const sigbroker_target *target, int signo, int priority,
                         const void *payload, size_t len, uint64_t *ret_serial);
int sigbroker_flush(sigbroker *sb);
int sigbroker_set_result_handler(sigbroker *sb, sigbroker_result_handler_t fn, void *userdata);
/* Writes what is pending, then waits up to timeout_usec until at most
 * max_outstanding async sends are still unanswered (0: all answered), runs
 * the result handler, and returns how many are unanswered. ret_totals (may
 * be NULL) gets the sums since the previous call. A sender keeps its
 * pipeline bounded by calling it with max_outstanding > 0 now and then. */
int sigbroker_collect_results(sigbroker *sb, uint64_t max_outstanding, int64_t timeout_usec,
                              sigbroker_batch_result *ret_totals);

/* Signal names, those sigbrokerctl(1) takes and prints. From a number
 * ("10", "0"), a name with or without "SIG" in any case ("USR1",
 * "SIGUSR1", "sigterm") or a real-time name ("RTMIN", "RTMIN+3",
 * "RTMAX-2"): the number 0..64, or -EINVAL. To a name: "USR1", "RTMIN+3",
 * "RTMAX-2", a number for 0, 32 and 33; NULL outside 0..64. The string is
 * static: keep it, do not free it. (LIBSIGBROKER_2) */
int sigbroker_signal_from_string(const char *s);
const char *sigbroker_signal_to_string(int signo);

/* Administration and introspection: the daemon's answer as text (JSON, or
 * OpenMetrics), malloc()ed and NUL-terminated. *ret_text is also set when
 * the daemon reports an error (its explanation, maybe empty) and is NULL
 * otherwise: free() it in every case. */
int sigbroker_query(sigbroker *sb, int kind, unsigned flags, uint64_t arg, char **ret_text);
/* Streams every routed signal to fn until fn returns non-zero (a negative
 * value is returned), the daemon refuses (-EPERM) or hangs up. The daemon
 * keeps streaming: afterwards the handle is only good for sigbroker_close(). */
int sigbroker_monitor(sigbroker *sb, sigbroker_monitor_handler_t fn, void *userdata);

static inline void sigbroker_closep(sigbroker **sb) {
        if (*sb)
                sigbroker_close(*sb);
}

#ifdef __cplusplus
}
#endif
