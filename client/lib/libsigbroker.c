/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The handle: connecting (socket, HELLO/WELCOME), closing, what the
 * daemon told us, and the simple requests, each answered by one REPLY.
 */

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

#define SYSTEM_SOCKET "/run/sigbroker/sigbroker.sock"

_public_ int sigbroker_socket_path(const char *path, char **ret_path) {
        const char *e;
        char *p;

        assert_return(ret_path, -EINVAL);

        if (!path) {
                e = secure_getenv("SIGBROKER_SOCKET");
                if (e && *e)
                        path = e;
        }
        if (!path && geteuid() != 0) {
                e = secure_getenv("XDG_RUNTIME_DIR");
                if (e && e[0] == '/') {
                        if (asprintf(&p, "%s/sigbroker.sock", e) < 0)
                                return -ENOMEM;
                        if (access(p, F_OK) == 0) {
                                *ret_path = p;
                                return 0;
                        }
                        free(p);
                }
        }
        p = strdup(path ? path : SYSTEM_SOCKET);
        if (!p)
                return -ENOMEM;
        *ret_path = p;
        return 0;
}

/* "@name" is the abstract socket "\0name". */
static int make_address(const char *path, struct sockaddr_un *ret_sa, socklen_t *ret_len) {
        size_t n = strlen(path);

        if (n == 0)
                return -EINVAL;
        *ret_sa = (struct sockaddr_un) { .sun_family = AF_UNIX };
        if (path[0] == '@') {
                if (n > sizeof(ret_sa->sun_path))
                        return -ENAMETOOLONG;
                memcpy(ret_sa->sun_path + 1, path + 1, n - 1);
                *ret_len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n);
                return 0;
        }
        if (n >= sizeof(ret_sa->sun_path))
                return -ENAMETOOLONG;
        memcpy(ret_sa->sun_path, path, n);
        *ret_len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n + 1);
        return 0;
}

static int open_socket(const char *path, int *ret_fd) {
        _cleanup_free_ char *p = NULL;
        struct sockaddr_un sa;
        socklen_t sa_len;
        int fd, r, sndbuf = 2 * SB_PACKET_MAX;

        r = sigbroker_socket_path(path, &p);
        if (r < 0)
                return r;
        r = make_address(p, &sa, &sa_len);
        if (r < 0)
                return r;

        /* Blocking while connecting: a listener with a full backlog (many
         * clients starting at once) then makes us wait rather than fail. */
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        /* Room for a few whole packets in flight; the kernel caps it. */
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
        do
                r = connect(fd, (struct sockaddr *) &sa, sa_len);
        while (r < 0 && errno == EINTR);
        /* It stays in blocking mode: every call but the blocking receive
         * of sb_wait_input() says MSG_DONTWAIT. */
        if (r < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        *ret_fd = fd;
        return 0;
}

static int handle_new(sigbroker **ret) {
        sigbroker *sb = calloc(1, sizeof(*sb));

        if (!sb)
                return -ENOMEM;
        sb->fd = -EBADF;
        sb->serial_next = sb->reply_next = 1;
        sb->ack_offset = SIZE_MAX;
        sb->wbuf = malloc(SB_PACKET_MAX);
        sb->rbuf = malloc(SB_PACKET_MAX);
        if (!sb->wbuf || !sb->rbuf) {
                sigbroker_close(sb);
                return -ENOMEM;
        }
        *ret = sb;
        return 0;
}

_public_ int sigbroker_connect_with_reason(const char *path, unsigned window, sigbroker **ret, char **ret_reason) {
        _cleanup_(sigbroker_closep) sigbroker *sb = NULL;
        SbFrame f = { .type = SB_MSG_HELLO, .hello = { .window = window, .flags = SB_HELLO_FEATURES } };
        int r;

        assert_return(ret, -EINVAL);

        if (ret_reason)
                *ret_reason = NULL;
        r = handle_new(&sb);
        if (r < 0)
                return r;
        r = open_socket(path, &sb->fd);
        if (r < 0)
                return r;

        sb->handshake = true;
        r = sb_call(sb, &f);
        if (r < 0) {
                /* A daemon refusing us says why (too many connections...). */
                if (sb->disconnect_error <= 0)
                        return r;
                if (ret_reason && sb->disconnect_text && *sb->disconnect_text)
                        *ret_reason = TAKE_PTR(sb->disconnect_text);
                return -sb->disconnect_error;
        }
        sb_sync_reset(sb);
        *ret = TAKE_PTR(sb);
        return 0;
}

_public_ int sigbroker_connect_with(const char *path, unsigned window, sigbroker **ret) {
        return sigbroker_connect_with_reason(path, window, ret, NULL);
}

_public_ int sigbroker_connect(const char *path, sigbroker **ret) {
        return sigbroker_connect_with_reason(path, 0, ret, NULL);
}

_public_ int sigbroker_signal_from_string(const char *s) {
        return sb_signal_from_string(s);
}

_public_ const char *sigbroker_signal_to_string(int signo) {
        return sb_signal_name(signo);
}

_public_ sigbroker *sigbroker_close(sigbroker *sb) {
        if (!sb)
                return NULL;
        if (sb->fd >= 0) {
                /* Acknowledgements and unflushed sends get one chance to go:
                 * close() never waits. */
                if (sb_output_pending(sb))
                        (void) sb_write(sb);
                close(sb->fd);
        }
        sb_queue_release(&sb->queue, sb->current);
        sb_queue_done(&sb->queue);
        sb_sync_reset(sb);
        free(sb->results);
        free(sb->disconnect_text);
        free(sb->wbuf);
        free(sb->rbuf);
        free(sb);
        return NULL;
}

_public_ int sigbroker_get_client_id(sigbroker *sb, uint64_t *ret_id) {
        assert_return(sb, -EINVAL);
        assert_return(ret_id, -EINVAL);
        *ret_id = sb->client_id;
        return 0;
}

static_assert(SIGBROKER_FEATURE_WATCH == SB_FEATURE_WATCH, "feature bits differ");
static_assert(SIGBROKER_FEATURE_DEADLINE == SB_FEATURE_DEADLINE, "feature bits differ");
static_assert(SIGBROKER_FEATURE_CONFIRM == SB_FEATURE_CONFIRM, "feature bits differ");

_public_ int sigbroker_get_features(sigbroker *sb, uint64_t *ret_features) {
        assert_return(sb, -EINVAL);
        assert_return(ret_features, -EINVAL);
        *ret_features = sb->features;
        return 0;
}

_public_ int sigbroker_get_identity(sigbroker *sb, pid_t *ret_pid, uid_t *ret_uid, gid_t *ret_gid) {
        assert_return(sb, -EINVAL);
        if (ret_pid)
                *ret_pid = (pid_t) sb->pid;
        if (ret_uid)
                *ret_uid = (uid_t) sb->uid;
        if (ret_gid)
                *ret_gid = (gid_t) sb->gid;
        return 0;
}

_public_ int sigbroker_get_limits(sigbroker *sb, size_t *ret_max_payload, unsigned *ret_max_queue) {
        assert_return(sb, -EINVAL);
        if (ret_max_payload)
                *ret_max_payload = sb->max_payload;
        if (ret_max_queue)
                *ret_max_queue = sb->max_queue;
        return 0;
}

_public_ int sigbroker_get_window(sigbroker *sb, unsigned *ret_window) {
        assert_return(sb, -EINVAL);
        assert_return(ret_window, -EINVAL);
        *ret_window = sb->window;
        return 0;
}

_public_ int sigbroker_get_disconnect_reason(sigbroker *sb, int *ret_error, const char **ret_text) {
        assert_return(sb, -EINVAL);
        if (sb->disconnect_error == 0)
                return -ENODATA;
        if (ret_error)
                *ret_error = sb->disconnect_error;
        if (ret_text)
                *ret_text = sb->disconnect_text ? sb->disconnect_text : "";
        return 0;
}

/* A request answered by one REPLY. */
static int request(sigbroker *sb, SbFrame *f) {
        int r = sb_call(sb, f);

        return r < 0 ? r : sb->sync.error;
}

_public_ int sigbroker_set_window(sigbroker *sb, unsigned window) {
        SbFrame f = { .type = SB_MSG_SET_WINDOW, .window = { .window = window } };
        int r;

        assert_return(sb, -EINVAL);
        assert_return(window > 0, -EINVAL);

        r = request(sb, &f);
        if (r < 0)
                return r;
        sb->window = window;
        return 0;
}

_public_ int sigbroker_subscribe(sigbroker *sb, uint64_t mask, unsigned flags) {
        SbFrame f = { .type = SB_MSG_SUBSCRIBE, .subscribe = { .mask = mask, .flags = flags } };

        assert_return(sb, -EINVAL);
        assert_return(mask != 0, -EINVAL);
        assert_return((flags & ~SIGBROKER_SUBSCRIBE_DROP_OLDEST) == 0, -EINVAL);
        return request(sb, &f);
}

_public_ int sigbroker_unsubscribe(sigbroker *sb, uint64_t mask) {
        SbFrame f = { .type = SB_MSG_UNSUBSCRIBE, .subscribe = { .mask = mask } };

        assert_return(sb, -EINVAL);
        assert_return(mask != 0, -EINVAL);
        return request(sb, &f);
}

static int group_request(sigbroker *sb, uint8_t type, const char *group) {
        SbFrame f = { .type = type };
        size_t len;

        assert_return(sb, -EINVAL);
        assert_return(group, -EINVAL);
        len = strlen(group);
        assert_return(sb_group_name_is_valid(group, len), -EINVAL);

        f.name = (SbName) { .name = group, .len = (uint16_t) len };
        return request(sb, &f);
}

_public_ int sigbroker_join(sigbroker *sb, const char *group) {
        return group_request(sb, SB_MSG_JOIN, group);
}

_public_ int sigbroker_leave(sigbroker *sb, const char *group) {
        return group_request(sb, SB_MSG_LEAVE, group);
}

_public_ int sigbroker_query(sigbroker *sb, int kind, unsigned flags, uint64_t arg, char **ret_text) {
        SbFrame f = { .type = SB_MSG_QUERY, .query = { .kind = (uint32_t) kind, .flags = flags, .arg = arg } };
        char *text;
        int r;

        assert_return(sb, -EINVAL);
        assert_return(kind >= 0 && kind != SB_QUERY_MONITOR, -EINVAL);
        assert_return((flags & ~SIGBROKER_QUERY_OPENMETRICS) == 0, -EINVAL);
        if (ret_text)
                *ret_text = NULL;

        r = sb_call(sb, &f);
        if (r < 0)
                return r;
        text = TAKE_PTR(sb->sync.text);
        if (!text) {
                text = strdup("");
                if (!text)
                        return -ENOMEM;
        }
        if (ret_text)
                *ret_text = text;
        else
                free(text);
        return sb->sync.error;
}

_public_ int sigbroker_monitor(sigbroker *sb, sigbroker_monitor_handler_t fn, void *userdata) {
        SbFrame f = { .type = SB_MSG_QUERY, .query = { .kind = SB_QUERY_MONITOR } };
        int r;

        assert_return(sb, -EINVAL);
        assert_return(fn, -EINVAL);
        if (sb->dead)
                return sb->dead;
        if (sb->sync_serial || sb->monitor_fn)
                return -EBUSY;

        /* Called again after it returned: pick the running stream up. */
        if (!sb->monitor_serial) {
                f.serial = sb->serial_next;
                r = sb_append(sb, &f);
                if (r < 0)
                        return r;
                sb->monitor_serial = sb->serial_next++;
        }
        sb->monitor_fn = fn;
        sb->monitor_userdata = userdata;
        sb->monitor_stop = 1;

        r = sb_flush(sb);
        while (r >= 0 && sb->monitor_stop == 1) {
                r = sb_read(sb);
                if (r == 0)
                        r = sb_poll(sb, USEC_INFINITY);
        }
        sb->monitor_fn = NULL;
        if (sb->monitor_stop != 1)
                return sb->monitor_stop;
        return r < 0 ? r : 0;
}
