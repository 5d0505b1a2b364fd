/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <malloc.h>
#include <event2/event.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "broker.h"
#include "config.h"
#include "sb-build.h"
#include "state.h"
#include "util.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

#define SECOND_NS UINT64_C(1000000000)
#define TRIM_THRESHOLD (1u << 20)

/* The config's limits with the command-line overrides on top; the result
 * must still be consistent (a payload limit over a byte limit is not). */
static int compute_limits(const Broker *b, const Config *c, Limits *ret, char **ret_error) {
        Limits l = c->limits;
        int r;

        if (b->options.max_queue >= 0)
                l.max_queue = (uint32_t) b->options.max_queue;
        if (b->options.max_payload >= 0)
                l.max_payload = (uint32_t) b->options.max_payload;
        r = config_check_limits(&l, ret_error);
        if (r < 0)
                return r;
        *ret = l;
        return 0;
}

void broker_status_text(const Broker *b, char *buf, size_t size) {
        snprintf(buf, size, "%u client%s, %u signal%s pending, %llu delivered", b->n_peers, plural(b->n_peers),
                 b->total_pending, plural(b->total_pending), (unsigned long long) b->metrics.delivered);
}

static void notify_status(Broker *b) {
        char text[128];

        broker_status_text(b, text, sizeof(text));
        sd_notifyf(0, "STATUS=%s", text);
}

static int reload_config(Broker *b, char **ret_error) {
        Config *c = NULL;
        int r;

        /* A file that was read once must still be there: a missing one
         * (deleted, or a mount not yet there) would silently drop the
         * policy. Only while the defaults are in force because no file
         * was ever found may it still be absent. */
        r = config_parse_file(b->options.config_path, !b->config->from_file, &c, ret_error);
        if (r < 0)
                return r;
        r = compute_limits(b, c, &b->limits, ret_error);
        if (r < 0) {
                config_free(c);
                return r;
        }
        config_free(b->config);
        b->config = c;
        state_check_capacity(b);
        return 0;
}

int broker_reload(Broker *b, char **ret_error) {
        _cleanup_free_ char *error = NULL;
        char f_path[4200];
        const char *fields[] = { f_path, NULL };
        int r;

        sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long) (now_ns(CLOCK_MONOTONIC) / 1000));
        r = reload_config(b, &error);
        snprintf(f_path, sizeof(f_path), "SIGBROKER_CONFIG=%s", b->options.config_path);
        if (r < 0)
                log_fields(LOG_ERR, SB_MID_RELOAD_FAILED, fields, "Configuration not reloaded, keeping the old one: %s",
                           error ? error : strerror(-r));
        else
                log_fields(LOG_INFO, SB_MID_RELOADED, fields, "Configuration reloaded from %s", b->options.config_path);
        sd_notify(0, "READY=1");
        notify_status(b);
        if (ret_error)
                *ret_error = TAKE_PTR(error);
        return r;
}

static void on_signal(evutil_socket_t signo, short what, void *userdata) {
        Broker *b = userdata;

        if (signo == SIGHUP) {
                (void) broker_reload(b, NULL);
                return;
        }
        sd_notify(0, "STOPPING=1");
        /* Under systemd the connections stay in the fd store and the
         * journal says what they had: a restart takes them over. */
        broker_flush_dirty(b);
        b->stopping = state_stop(b);
        event_base_loopbreak(b->base);
}

/* A burst's suppressed count, logged once the burst is over. */
static void log_suppressed(Broker *b) {
        static const struct {
                size_t offset;
                const char *what;
        } limits[] = {
                { offsetof(Broker, rl_denied), "denial" },
                { offsetof(Broker, rl_overflow), "queue overflow" },
                { offsetof(Broker, rl_violation), "protocol violation" },
                { offsetof(Broker, rl_uid_limit), "per-uid limit" },
                { offsetof(Broker, rl_accept), "accept pause" },
        };

        for (size_t i = 0; i < ELEMENTSOF(limits); i++) {
                unsigned n = ratelimit_take_suppressed((RateLimit *) ((char *) b + limits[i].offset));
                char f_sup[48];
                const char *fields[] = { f_sup, NULL };

                if (n == 0)
                        continue;
                snprintf(f_sup, sizeof(f_sup), "SIGBROKER_SUPPRESSED=%u", n);
                log_fields(LOG_NOTICE, SB_MID_SUPPRESSED, fields, "%u more %s message%s %s suppressed", n,
                           limits[i].what, plural(n), n == 1 ? "was" : "were");
        }
}

/* What emptied queues and acknowledgement rings kept for the next burst
 * (queue.h, metrics.h): an idle client holds none of it for long. */
static void release_idle_buffers(Broker *b) {
        Peer *p;

        list_for_each_entry(p, &b->peers, link) {
                queue_release_idle(&p->queue);
                queue_release_idle(&p->held);
                metrics_release_idle(&b->metrics, p);
        }
}

static void on_tick(evutil_socket_t fd, short what, void *userdata) {
        Broker *b = userdata;

        log_suppressed(b);
        peer_close_unidentified(b);
        broker_count_fds(b);
        release_idle_buffers(b);
        /* After a burst has drained, give the memory back to the system
         * rather than keep the high-water mark for good: the queue's free
         * lists to malloc, then malloc's free memory to the kernel. */
        if (b->total_pending == 0 && b->peak_bytes > TRIM_THRESHOLD) {
                queue_pools_trim();
                mempool_trim(&b->out_pool);
                malloc_trim(0);
                b->peak_bytes = 0;
        }
        if (b->watchdog_enabled)
                sd_notify(0, "WATCHDOG=1");
        notify_status(b);
}

void broker_flush_dirty(Broker *b) {
        while (!list_is_empty(&b->dirty)) {
                Peer *p = list_entry(b->dirty.next, Peer, dirty_link);
                list_unlink(&p->dirty_link);
                if (peer_flush(p) < 0)
                        peer_free(p);
        }
        state_maybe_compact(b);
}

/* Event priorities: process exits (pidwatch.h) before everything else. */
enum {
        PRIORITY_EXITS,
        PRIORITY_DEFAULT,
        _PRIORITY_MAX,
};

#define RESULT_HOLD_NS ((uint64_t) SB_RESULT_HOLD_USEC * 1000)

static void arm_defer_timer(Broker *b, uint64_t now) {
        Peer *oldest = list_entry(b->deferred.next, Peer, defer_link);
        uint64_t due = oldest->deferred_ns + RESULT_HOLD_NS, left = due > now ? due - now : 0;
        struct timeval tv = { .tv_sec = (time_t) (left / SECOND_NS), .tv_usec = (suseconds_t) (left % SECOND_NS / 1000) };

        event_add(b->defer_timer, &tv);
}

/* The timer runs while some peer holds RESULTs back, due when the oldest
 * does at the latest. It is not moved when the oldest leaves the list: in
 * a steady exchange, where every held RESULT rides along with a delivery
 * within microseconds, the list rarely empties, and firing once per hold
 * time to find nothing due is cheaper than moving the timer twice per
 * signal. */
void broker_defer(Broker *b, Peer *p) {
        uint64_t now;

        if (list_is_linked(&p->defer_link))
                return;
        now = now_ns(CLOCK_MONOTONIC);
        p->deferred_ns = now;
        list_link_tail(&b->deferred, &p->defer_link);
        if (b->deferred.next == &p->defer_link)
                arm_defer_timer(b, now);
}

void broker_undefer(Broker *b, Peer *p) {
        if (!list_is_linked(&p->defer_link))
                return;
        list_unlink(&p->defer_link);
        if (list_is_empty(&b->deferred))
                event_del(b->defer_timer);
}

static void on_defer_timer(evutil_socket_t fd, short what, void *userdata) {
        Broker *b = userdata;
        uint64_t now = now_ns(CLOCK_MONOTONIC);

        while (!list_is_empty(&b->deferred)) {
                Peer *p = list_entry(b->deferred.next, Peer, defer_link);
                if (now < p->deferred_ns + RESULT_HOLD_NS)
                        break;
                list_unlink(&p->defer_link);    /* the timer is re-armed below */
                peer_mark_dirty(p);
        }
        broker_flush_dirty(b);
        if (!list_is_empty(&b->deferred))
                arm_defer_timer(b, now);
}

static void on_process_exit(void *item, void *userdata) {
        Peer *p = item;

        p->exited = true;
}

static int setup_events(Broker *b) {
        uint64_t watchdog_usec = 0;
        struct timeval tick = { .tv_sec = 2 };

        b->sig_term = evsignal_new(b->base, SIGTERM, on_signal, b);
        b->sig_int = evsignal_new(b->base, SIGINT, on_signal, b);
        b->sig_hup = evsignal_new(b->base, SIGHUP, on_signal, b);
        if (!b->sig_term || !b->sig_int || !b->sig_hup || evsignal_add(b->sig_term, NULL) < 0 ||
            evsignal_add(b->sig_int, NULL) < 0 || evsignal_add(b->sig_hup, NULL) < 0)
                return -ENOMEM;

        /* One timer does the watchdog and the status line, at half the
         * watchdog interval if there is one. */
        b->watchdog_enabled = sd_watchdog_enabled(0, &watchdog_usec) > 0;
        if (b->watchdog_enabled && watchdog_usec / 2 < 2000000) {
                tick.tv_sec = (time_t) (watchdog_usec / 2 / 1000000);
                tick.tv_usec = (suseconds_t) (watchdog_usec / 2 % 1000000);
        }
        b->watchdog = event_new(b->base, -1, EV_PERSIST, on_tick, b);
        if (!b->watchdog || event_add(b->watchdog, &tick) < 0)
                return -ENOMEM;
        b->defer_timer = evtimer_new(b->base, on_defer_timer, b);
        if (!b->defer_timer)
                return -ENOMEM;
        return pidwatch_init(&b->pidwatch, b->base, PRIORITY_EXITS, on_process_exit, b);
}

/* The fds clients may take (peer.c), and whether a client's pidfd can be
 * had again from its socket when it has given it up (SO_PEERPIDFD). */
static void setup_fd_budget(Broker *b) {
        struct rlimit rl;
        int sv[2], pidfd = -1;
        socklen_t len = sizeof(pidfd);

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
                rl.rlim_cur = UINT32_MAX;
        b->fd_budget = rl.rlim_cur > SB_FD_RESERVE ? (uint32_t) MIN(rl.rlim_cur - SB_FD_RESERVE, (rlim_t) UINT32_MAX) : 0;
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return;
        if (getsockopt(sv[0], SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0 && errno == ENOPROTOOPT)
                b->pidfd_by_pid = true;
        if (pidfd >= 0)
                close(pidfd);
        close(sv[0]);
        close(sv[1]);
}

int broker_new(const BrokerOptions *options, Broker **ret, char **ret_error) {
        Broker *b;
        int r;

        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->options = *options;
        if (!b->options.config_path)
                b->options.config_path = CONFIG_DEFAULT_PATH;
        b->listen_fd = -1;
        b->pidwatch = (PidWatch) PIDWATCH_INIT;
        b->out_pool = (MemPool) MEMPOOL_INIT(PEER_OUT_INITIAL);
        list_init(&b->peers);
        list_init(&b->pidfd_peers);
        list_init(&b->dirty);
        list_init(&b->deferred);
        list_init(&b->monitors);
        list_init(&b->unidentified);
        for (size_t i = 0; i < ELEMENTSOF(b->subscribers); i++)
                list_init(&b->subscribers[i]);
        b->rl_denied = (RateLimit) RATELIMIT_INIT(SECOND_NS, 20);
        b->rl_overflow = (RateLimit) RATELIMIT_INIT(SECOND_NS, 20);
        b->rl_violation = (RateLimit) RATELIMIT_INIT(SECOND_NS, 20);
        b->rl_uid_limit = (RateLimit) RATELIMIT_INIT(SECOND_NS, 20);
        /* Out of fds is a state, not an event: say so once per 10 s. */
        b->rl_accept = (RateLimit) RATELIMIT_INIT(10 * SECOND_NS, 1);
        b->started_realtime_ns = now_ns(CLOCK_REALTIME);
        b->started_monotonic_ns = now_ns(CLOCK_MONOTONIC);

        b->rxbuf = malloc(SB_PACKET_MAX);
        b->txbuf = malloc(SB_PACKET_MAX);
        b->in_packet = malloc(SB_PACKET_MAX / (SB_HEADER_SIZE + 64) * sizeof(*b->in_packet));
        b->base = event_base_new();
        /* Before any event exists: events take the default priority when
         * they are created. */
        if (!b->rxbuf || !b->txbuf || !b->in_packet || !b->base ||
            event_base_priority_init(b->base, _PRIORITY_MAX) < 0) {
                r = -ENOMEM;
                goto fail;
        }
        r = setup_events(b);
        if (r < 0)
                goto fail;
        r = peer_identity_init(b);
        if (r < 0)
                goto fail;
        /* The built-in path may be absent (the defaults); a path the
         * administrator named must exist. */
        r = config_parse_file(b->options.config_path, !options->config_path, &b->config, ret_error);
        if (r < 0)
                goto fail;
        r = compute_limits(b, b->config, &b->limits, ret_error);
        if (r < 0)
                goto fail;
        setup_fd_budget(b);
        *ret = b;
        return 0;

fail:
        broker_free(b);
        return r;
}

Broker *broker_free(Broker *b) {
        if (!b)
                return NULL;
        while (!list_is_empty(&b->peers))
                peer_free(list_entry(b->peers.next, Peer, link));
        metrics_done(&b->metrics);
        broker_unlisten(b);
        if (b->sig_term)
                event_free(b->sig_term);
        if (b->sig_int)
                event_free(b->sig_int);
        if (b->sig_hup)
                event_free(b->sig_hup);
        if (b->watchdog)
                event_free(b->watchdog);
        if (b->defer_timer)
                event_free(b->defer_timer);
        pidwatch_done(&b->pidwatch);
        if (b->base)
                event_base_free(b->base);
        hashtable_destroy(&b->peers_by_id);
        hashtable_destroy(&b->peers_by_pid);
        hashtable_destroy(&b->users);
        hashtable_destroy(&b->groups);
        hashtable_destroy(&b->memberships);
        config_free(b->config);
        state_free(b);
        mempool_trim(&b->out_pool);
        free(b->rxbuf);
        free(b->txbuf);
        free(b->in_packet);
        free(b);
        return NULL;
}

int broker_run(Broker *b) {
        if (event_base_dispatch(b->base) < 0)
                return -EIO;
        return 0;
}
