/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The relay: the least a broker hop can cost. One process, one
 * SOCK_SEQPACKET listening socket, epoll. A client's first packet is a
 * HELLO (optionally subscribing), answered by an ACK so the client knows
 * it is registered. Every other frame is copied to every subscriber
 * except the one it came from. No queue: sends block (bounded by
 * SO_SNDTIMEO), so a full receiver slows the sender down, which is the
 * cheapest possible flow control.
 *
 * plain: one recv() per packet, one send() per frame per receiver.
 * mmsg:  recvmmsg() up to 64 packets, one sendmmsg() per receiver per batch.
 */

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "bench.h"

#define RELAY_EVENTS 64
#define RELAY_SNDTIMEO_SEC 2

/* Per client: what any server must keep for a peer, and nothing more. */
struct relay_client {
        int fd;                        /* -1 once dropped */
        int sub_index;                 /* in relay.subs, or -1 */
        struct relay_client *next_dead;
};

struct relay {
        int epfd;
        int listen_fd;
        bool mmsg;
        struct relay_client **subs;    /* subscribers, grown by doubling */
        unsigned n_subs, cap_subs;
        /* Dropped clients are freed only after the epoll batch, which may
         * still hold events pointing at them. */
        struct relay_client *dead;
        struct bench_frame frames[BENCH_BATCH_MAX];
        struct iovec iov[BENCH_BATCH_MAX];
        struct mmsghdr msgs[BENCH_BATCH_MAX];
};

static void relay_drop(struct relay *r, struct relay_client *c) {
        if (c->sub_index >= 0) {
                struct relay_client *last = r->subs[--r->n_subs];

                r->subs[c->sub_index] = last;
                last->sub_index = c->sub_index;
        }
        c->sub_index = -1;
        epoll_ctl(r->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
        c->next_dead = r->dead;
        r->dead = c;
}

static void relay_free_dead(struct relay *r) {
        while (r->dead) {
                struct relay_client *c = r->dead;

                r->dead = c->next_dead;
                free(c);
        }
}

static void relay_accept(struct relay *r) {
        for (unsigned i = 0; i < RELAY_EVENTS; i++) {
                struct timeval tv = { .tv_sec = RELAY_SNDTIMEO_SEC };
                struct epoll_event ev = { .events = EPOLLIN };
                struct relay_client *c;
                int fd = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC);

                if (fd < 0)
                        return; /* EAGAIN, or out of fds: retried on the next wakeup */
                c = malloc(sizeof(*c));
                if (!c) {
                        close(fd);
                        return;
                }
                *c = (struct relay_client) { .fd = fd, .sub_index = -1 };
                setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
                ev.data.ptr = c;
                if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                        close(fd);
                        free(c);
                }
        }
}

static int relay_subscribe(struct relay *r, struct relay_client *c) {
        if (c->sub_index >= 0)
                return 0;
        if (r->n_subs == r->cap_subs) {
                unsigned cap = r->cap_subs ? 2 * r->cap_subs : 16;
                struct relay_client **subs = realloc(r->subs, cap * sizeof(*subs));

                if (!subs)
                        return -ENOMEM;
                r->subs = subs;
                r->cap_subs = cap;
        }
        c->sub_index = (int) r->n_subs;
        r->subs[r->n_subs++] = c;
        return 0;
}

/* Returns false if the client was dropped. */
static bool relay_hello(struct relay *r, struct relay_client *c, const struct bench_frame *f) {
        struct bench_frame ack;

        if ((f->flags & BENCH_HELLO_SUBSCRIBE) && relay_subscribe(r, c) < 0) {
                relay_drop(r, c);
                return false;
        }
        bench_frame_init(&ack, BENCH_FRAME_ACK, f->seq);
        if (send(c->fd, &ack, sizeof(ack), MSG_NOSIGNAL) < 0) {
                relay_drop(r, c);
                return false;
        }
        return true;
}

static int relay_sendmmsg_all(int fd, struct mmsghdr *msgs, unsigned n) {
        unsigned off = 0;

        while (off < n) {
                int k = sendmmsg(fd, msgs + off, n - off, MSG_NOSIGNAL);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return -errno;
                off += (unsigned) k;
        }
        return 0;
}

/* Copies frames [from, from+n) to every subscriber but src. Iterates
 * backwards so that dropping a dead receiver does not skip another. */
static void relay_forward(struct relay *r, const struct relay_client *src, unsigned from, unsigned n) {
        for (unsigned s = r->n_subs; s-- > 0;) {
                struct relay_client *c = r->subs[s];
                int err = 0;

                if (c == src)
                        continue;
                if (r->mmsg)
                        err = relay_sendmmsg_all(c->fd, r->msgs + from, n);
                else
                        for (unsigned i = from; i < from + n && err == 0; i++)
                                if (send(c->fd, &r->frames[i], sizeof(r->frames[i]), MSG_NOSIGNAL) < 0)
                                        err = -errno;
                if (err < 0)
                        relay_drop(r, c);
        }
}

/* Handles n received frames: HELLOs one by one, runs of others in bulk.
 * Returns false if the client was dropped. */
static bool relay_dispatch(struct relay *r, struct relay_client *c, unsigned n) {
        unsigned run = 0;

        for (unsigned i = 0; i < n; i++) {
                const struct bench_frame *f = &r->frames[i];
                bool ok = bench_frame_valid(f, r->msgs[i].msg_len);

                if (ok && f->type != BENCH_FRAME_HELLO)
                        continue;
                if (i > run)
                        relay_forward(r, c, run, i - run);
                run = i + 1;
                if (ok && !relay_hello(r, c, f))
                        return false;
        }
        if (n > run)
                relay_forward(r, c, run, n - run);
        return true;
}

/* One batch into r->frames: *ret_n frames, *ret_eof once the peer closed
 * (recv() returns 0; recvmmsg() reports an empty packet). */
static int relay_read_batch(struct relay *r, int fd, unsigned *ret_n, bool *ret_eof) {
        int k;

        *ret_n = 0;
        *ret_eof = false;
        if (r->mmsg)
                k = recvmmsg(fd, r->msgs, BENCH_BATCH_MAX, MSG_DONTWAIT, NULL);
        else {
                ssize_t len = recv(fd, &r->frames[0], sizeof(r->frames[0]), MSG_DONTWAIT);

                r->msgs[0].msg_len = len > 0 ? (unsigned) len : 0;
                k = len < 0 ? -1 : 1;
        }
        if (k < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        while (*ret_n < (unsigned) k && r->msgs[*ret_n].msg_len > 0)
                (*ret_n)++;
        *ret_eof = *ret_n < (unsigned) k;
        return 0;
}

static void relay_read(struct relay *r, struct relay_client *c) {
        /* At most 64 packets per wakeup (one recvmmsg, or 64 recv), so
         * one busy sender cannot starve the others (epoll is level-triggered). */
        for (unsigned round = 0; round < (r->mmsg ? 1 : BENCH_BATCH_MAX); round++) {
                unsigned n;
                bool eof;

                if (relay_read_batch(r, c->fd, &n, &eof) < 0) {
                        relay_drop(r, c);
                        return;
                }
                if (n > 0 && !relay_dispatch(r, c, n))
                        return;
                if (eof)
                        relay_drop(r, c);
                if (eof || n == 0)
                        return;
        }
}

static int relay_init(struct relay *r, int listen_fd, bool mmsg) {
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
        long nofile;
        int err;

        *r = (struct relay) { .listen_fd = listen_fd, .mmsg = mmsg, .epfd = -1 };
        err = bench_raise_nofile(&nofile);
        if (err < 0)
                return err;
        if (fcntl(listen_fd, F_SETFL, O_NONBLOCK) < 0)
                return -errno;
        for (unsigned i = 0; i < BENCH_BATCH_MAX; i++) {
                r->iov[i] = (struct iovec) { &r->frames[i], sizeof(r->frames[i]) };
                r->msgs[i].msg_hdr = (struct msghdr) { .msg_iov = &r->iov[i], .msg_iovlen = 1 };
        }
        r->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (r->epfd < 0)
                return -errno;
        if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, listen_fd, &ev) < 0)
                return -errno;
        return 0;
}

/* Runs in the forked relay process until it is killed; its life is
 * bounded by the alarm every bench child gets (BENCH_CHILD_SECONDS). */
int bench_relay_main(int listen_fd, bool mmsg) {
        struct epoll_event evs[RELAY_EVENTS];
        struct relay r;
        int n, err;

        err = relay_init(&r, listen_fd, mmsg);
        if (err < 0)
                return err;
        for (;;) {
                n = epoll_wait(r.epfd, evs, RELAY_EVENTS, 1000);
                if (n < 0 && errno != EINTR)
                        return -errno;
                for (int i = 0; i < n; i++) {
                        struct relay_client *c = evs[i].data.ptr;

                        if (!c)
                                relay_accept(&r);
                        else if (c->fd >= 0)
                                relay_read(&r, c);
                }
                relay_free_dead(&r);
        }
}
