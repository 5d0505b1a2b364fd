/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Which clients' processes have exited, known without a system call per
 * send. Every client's pidfd sits in one epoll set of its own (a pidfd
 * polls readable once its process has exited); the event loop watches that
 * set as a single fd, at a higher priority than the clients' sockets, so an
 * exit the kernel had reported when the loop woke up is handled before any
 * request read in the same turn. Each pidfd reports once (EPOLLONESHOT).
 *
 * The sets cost no memory of ours per client: the kernel keeps one entry
 * per pidfd.
 */

struct event_base;
struct event;

typedef void (*PidWatchFn)(void *item, void *userdata);

typedef struct PidWatch {
        int epfd;
        struct event *event;
        PidWatchFn fn;
        void *userdata;
} PidWatch;

#define PIDWATCH_INIT { .epfd = -1 }

/* priority: the libevent priority of the watch, lower runs first. */
int pidwatch_init(PidWatch *w, struct event_base *base, int priority, PidWatchFn fn, void *userdata);
void pidwatch_done(PidWatch *w);

/* fn(item, userdata) runs once, from the event loop, after pidfd's process
 * has exited. Returns 0 or a negative errno. */
int pidwatch_add(PidWatch *w, int pidfd, void *item);
void pidwatch_remove(PidWatch *w, int pidfd);
