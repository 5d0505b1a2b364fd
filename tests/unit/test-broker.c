/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <event2/event.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-broker.h"
#include "util.h"

static void quiet(int severity, const char *msg) {
        /* Several brokers in one process each have signal events. */
}

Broker *tb_broker_new(const char *config, uint32_t max_queue) {
        char path[] = "/tmp/test-broker-XXXXXX";
        BrokerOptions o = {
                .config_path = "/dev/null",
                .max_queue = max_queue ? (int64_t) max_queue : -1,
                .max_payload = -1,
        };
        char *error = NULL;
        Broker *b = NULL;
        int fd = -1, r;

        if (config) {
                fd = mkstemp(path);
                ck_assert_int_ge(fd, 0);
                ck_assert_int_eq(write(fd, config, strlen(config)), (ssize_t) strlen(config));
                close(fd);
                o.config_path = path;
        }
        event_set_log_callback(quiet);
        r = broker_new(&o, &b, &error);
        ck_assert_msg(r == 0, "broker_new: %d %s", r, error ? error : "");
        if (config)
                unlink(path);
        return b;
}

void tb_broker_free(Broker *b) {
        broker_free(b);
}

void tb_run(Broker *b) {
        /* Reading input queues output, which the next round flushes. */
        for (int i = 0; i < 8; i++)
                event_base_loop(b->base, EVLOOP_NONBLOCK);
}

static void send_fds(int sock, const int fds[2]) {
        char byte = 0, control[CMSG_SPACE(2 * sizeof(int))];
        struct iovec iov = { &byte, 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                             .msg_controllen = sizeof(control) };
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

        memset(control, 0, sizeof(control));
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(2 * sizeof(int));
        memcpy(CMSG_DATA(cm), fds, 2 * sizeof(int));
        if (sendmsg(sock, &mh, 0) != 1)
                _exit(3);
}

static void recv_fds(int sock, int fds[2]) {
        char byte, control[CMSG_SPACE(2 * sizeof(int))];
        struct iovec iov = { &byte, 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                             .msg_controllen = sizeof(control) };
        struct cmsghdr *cm;

        ck_assert_int_eq(recvmsg(sock, &mh, MSG_CMSG_CLOEXEC), 1);
        cm = CMSG_FIRSTHDR(&mh);
        ck_assert_ptr_nonnull(cm);
        ck_assert_int_eq(cm->cmsg_type, SCM_RIGHTS);
        memcpy(fds, CMSG_DATA(cm), 2 * sizeof(int));
}

/* The child takes the identity, makes the socketpair (whose peer
 * credentials are then its own), hands both ends over and waits. */
static void make_pair_as(const TestIdentity *id, int sv[2], pid_t *ret_child, int *ret_ctl) {
        int ctl[2];
        pid_t pid;

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                char c;
                /* Nothing of the parent's: another client's end kept open
                 * here would hide its closing from the broker. */
                if (ctl[1] > 3)
                        close_range(3, (unsigned) ctl[1] - 1, 0);
                close_range((unsigned) ctl[1] + 1, ~0u, 0);
                if (id->new_session && setsid() < 0)
                        _exit(2);
                if (setgroups(id->n_groups, id->groups) < 0 || setresgid(id->gid, id->gid, id->gid) < 0 ||
                    setresuid(id->uid, id->uid, id->uid) < 0)
                        _exit(2);
                if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
                        _exit(2);
                send_fds(ctl[1], sv);
                close(sv[0]);
                close(sv[1]);
                /* Only now may the parent count on its closing an end to
                 * be seen. */
                if (write(ctl[1], "k", 1) != 1)
                        _exit(3);
                while (read(ctl[1], &c, 1) > 0)
                        ;
                _exit(0);
        }
        close(ctl[1]);
        recv_fds(ctl[0], sv);
        {
                char k;
                ck_assert_int_eq(read(ctl[0], &k, 1), 1);
        }
        *ret_child = pid;
        *ret_ctl = ctl[0];
}

TestClient *tb_connect_raw(Broker *b, const TestIdentity *id) {
        TestClient *c = calloc(1, sizeof(*c));
        int sv[2];

        ck_assert_ptr_nonnull(c);
        c->broker = b;
        c->child_ctl = -1;
        if (id)
                make_pair_as(id, sv, &c->child, &c->child_ctl);
        else
                ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
        ck_assert_int_eq(peer_new(b, sv[0], &c->peer), 0);
        c->id = c->peer->id;
        c->fd = sv[1];
        if (id)
                ck_assert_uint_eq(c->peer->uid, id->uid);
        return c;
}

static TestClient *hello(TestClient *c, uint32_t window) {
        SbFrame f = { .type = SB_MSG_HELLO, .hello = { .window = window } };
        SbFrame got[4];

        tb_send_frame(c, &f);
        ck_assert_uint_eq(tb_read(c, got, 4), 1);
        ck_assert_int_eq(got[0].type, SB_MSG_WELCOME);
        ck_assert_uint_eq(got[0].welcome.client_id, c->peer->id);
        return c;
}

TestClient *tb_connect(Broker *b, uint32_t window) {
        return hello(tb_connect_raw(b, NULL), window);
}

TestClient *tb_connect_as(Broker *b, const TestIdentity *id, uint32_t window) {
        return hello(tb_connect_raw(b, id), window);
}

void tb_close(TestClient *c) {
        Broker *b = c->broker;

        close(c->fd);
        tb_run(b);
        if (c->child > 0) {
                int status;
                close(c->child_ctl);
                ck_assert_int_eq(waitpid(c->child, &status, 0), c->child);
                ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
        free(c->backlog);
        free(c->view);
        free(c);
}

uint64_t tb_send_frame(TestClient *c, SbFrame *f) {
        uint8_t buf[SB_PACKET_MAX];
        ssize_t n;

        f->serial = ++c->serial;
        n = sb_frame_encode(f, buf, sizeof(buf));
        ck_assert_int_gt(n, 0);
        ck_assert_int_eq(send(c->fd, buf, (size_t) n, MSG_NOSIGNAL), n);
        tb_run(c->broker);
        return f->serial;
}

static size_t parse_all(const uint8_t *buf, size_t len, SbFrame *frames, size_t max) {
        size_t off = 0, n = 0;

        while (off < len) {
                size_t used;
                ck_assert_uint_lt(n, max);
                ck_assert_int_eq(sb_frame_parse_untrusted(buf + off, len - off, &frames[n], &used), 0);
                off += used;
                n++;
        }
        return n;
}

size_t tb_read(TestClient *c, SbFrame *frames, size_t max) {
        static uint8_t storage[32][SB_PACKET_MAX];
        size_t n;

        free(c->view);
        c->view = TAKE_PTR(c->backlog);
        n = parse_all(c->view, c->backlog_len, frames, max);
        c->backlog_len = 0;
        for (size_t packet = 0; packet < 32; packet++) {
                ssize_t len = recv(c->fd, storage[packet], SB_PACKET_MAX, MSG_DONTWAIT);
                if (len <= 0)
                        break;
                n += parse_all(storage[packet], (size_t) len, frames + n, max - n);
        }
        return n;
}

static void keep(TestClient *c, const SbFrame *f) {
        size_t size = sb_frame_size(f);

        c->backlog = realloc(c->backlog, c->backlog_len + size);
        ck_assert_ptr_nonnull(c->backlog);
        ck_assert_int_eq(sb_frame_encode(f, c->backlog + c->backlog_len, size), (ssize_t) size);
        c->backlog_len += size;
}

SbFrame tb_wait_answer(TestClient *c, uint64_t serial) {
        SbFrame frames[1024], answer = { 0 };
        size_t n = tb_read(c, frames, 1024);

        for (size_t i = 0; i < n; i++)
                if (answer.type == 0 &&
                    ((frames[i].type == SB_MSG_REPLY && frames[i].reply.reply_serial == serial) ||
                     (frames[i].type == SB_MSG_RESULT && frames[i].result.reply_serial == serial)))
                        answer = frames[i];
                else
                        keep(c, &frames[i]);
        ck_assert_msg(answer.type != 0, "no answer to request %llu among %zu frames", (unsigned long long) serial, n);
        return answer;
}

static int request(TestClient *c, SbFrame *f) {
        SbFrame a = tb_wait_answer(c, tb_send_frame(c, f));

        ck_assert_int_eq(a.type, SB_MSG_REPLY);
        return a.reply.error;
}

int tb_subscribe(TestClient *c, uint64_t mask, uint32_t flags) {
        SbFrame f = { .type = SB_MSG_SUBSCRIBE, .subscribe = { .mask = mask, .flags = flags } };
        return request(c, &f);
}

int tb_block(TestClient *c, uint64_t mask) {
        SbFrame f = { .type = SB_MSG_BLOCK, .block = { .mask = mask } };
        return request(c, &f);
}

static int name_request(TestClient *c, uint8_t type, const char *group) {
        SbFrame f = { .type = type, .name = { .name = group, .len = (uint16_t) strlen(group) } };
        return request(c, &f);
}

int tb_join(TestClient *c, const char *group) {
        return name_request(c, SB_MSG_JOIN, group);
}

int tb_leave(TestClient *c, const char *group) {
        return name_request(c, SB_MSG_LEAVE, group);
}

void tb_ack(TestClient *c, uint32_t count) {
        SbFrame f = { .type = SB_MSG_ACK, .ack = { .count = count } };
        tb_send_frame(c, &f);
}

SbResult tb_send(TestClient *c, uint32_t signo, uint8_t priority, uint8_t kind, uint64_t target,
                 const char *group, const char *payload) {
        SbFrame f = {
                .type = SB_MSG_SEND,
                .send = {
                        .signo = signo,
                        .priority = priority,
                        .target_kind = kind,
                        .target = target,
                        .group = group,
                        .group_len = group ? (uint16_t) strlen(group) : 0,
                        .payload = payload,
                        .payload_len = payload ? (uint32_t) strlen(payload) : 0,
                },
        };
        SbFrame a = tb_wait_answer(c, tb_send_frame(c, &f));

        ck_assert_int_eq(a.type, SB_MSG_RESULT);
        return a.result;
}

size_t tb_deliveries(TestClient *c, SbFrame *out, size_t max) {
        SbFrame frames[1024];
        size_t n = tb_read(c, frames, 1024), k = 0;

        for (size_t i = 0; i < n; i++)
                if (frames[i].type == SB_MSG_DELIVER || frames[i].type == SB_MSG_GAP) {
                        ck_assert_uint_lt(k, max);
                        out[k++] = frames[i];
                }
        return k;
}
