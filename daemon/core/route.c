/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Routing: subscriptions, named groups, and the path of one SEND from its
 * target to the receivers' queues.
 *
 * Candidates come from an index per target kind, so the cost of a send
 * grows with the receivers it can reach, not with the clients connected:
 * pid and client id are hash lookups, named groups keep member lists,
 * broadcast walks the subscribers of that signal number. Process groups
 * and sessions are not indexed: a process can change either at any time
 * without telling us, so they are read from the kernel at send time for
 * each subscriber of the signal, and each answer is trusted only while
 * the subscriber's pidfd says its process is still alive.
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "monitor.h"
#include "state.h"
#include "user.h"

typedef struct Route {
        Broker *b;
        Peer *sender;
        const SbSend *send;
        uint64_t mask;                  /* SB_SIGMASK(signo), 0 for a probe */
        Signal *signal;                 /* made on the first receiver that queues */
        uint32_t allowed;               /* receivers that passed the permission check */
        SbResult result;
        bool tracing;                   /* there are monitors: note each receiver */
        MonitorTrace trace;
} Route;

static void trace(Route *rt, const Peer *to, MonitorOutcome outcome) {
        if (rt->tracing)
                monitor_trace(&rt->trace, to, outcome);
}

/* ---- accounting ---- */

static bool sender_limited(const Broker *b, const User *u) {
        return u->uid != 0 || b->limits.limit_root;
}

/* A pending signal is charged to the uid that sent it and, separately, to
 * the uid whose receiver holds it: deaf receivers of one uid then fill
 * only that uid's share of the broker, not the global caps. */
static void charge(Broker *b, Peer *to, Pending *pe) {
        User *u = pe->signal->charged;
        uint64_t cost = pending_cost(pe->signal);

        user_ref(u);
        u->pending++;
        u->bytes += cost;
        to->user->received++;
        to->user->received_bytes += cost;
        b->total_pending++;
        b->total_bytes += cost;
        if (b->total_bytes > b->peak_bytes)
                b->peak_bytes = b->total_bytes;
}

void broker_uncharge(Broker *b, Peer *to, Pending *pe) {
        User *u = pe->signal->charged;
        uint64_t cost = pending_cost(pe->signal);

        u->pending--;
        u->bytes -= cost;
        to->user->received--;
        to->user->received_bytes -= cost;
        b->total_pending--;
        b->total_bytes -= cost;
        user_unref(u);
}

typedef enum Overflow {
        OVERFLOW_NONE,
        OVERFLOW_RECEIVER,
        OVERFLOW_UID,
        OVERFLOW_RECEIVER_UID,
        OVERFLOW_GLOBAL,
} Overflow;

/* A receiving uid's share of the global caps: as configured, or a quarter. */
static uint32_t received_share(const Limits *l) {
        return l->max_received_per_uid ? l->max_received_per_uid : MAX(l->max_pending / 4, 1u);
}

static uint64_t received_bytes_share(const Limits *l) {
        return l->max_received_bytes_per_uid ? l->max_received_bytes_per_uid : l->max_bytes / 4;
}

static Overflow check_room(const Route *rt, const Peer *to, uint64_t cost) {
        const Limits *l = &rt->b->limits;
        const User *u = rt->sender->user;

        if (peer_pending(to) + 1 > l->max_queue || peer_pending_bytes(to) + cost > l->max_queue_bytes)
                return OVERFLOW_RECEIVER;
        if (sender_limited(rt->b, u) &&
            (u->pending + 1 > l->max_pending_per_uid || u->bytes + cost > l->max_bytes_per_uid))
                return OVERFLOW_UID;
        if (sender_limited(rt->b, to->user) && (to->user->received + 1 > received_share(l) ||
                                                to->user->received_bytes + cost > received_bytes_share(l)))
                return OVERFLOW_RECEIVER_UID;
        if (rt->b->total_pending + 1 > l->max_pending || rt->b->total_bytes + cost > l->max_bytes)
                return OVERFLOW_GLOBAL;
        return OVERFLOW_NONE;
}

/* ---- logging of refusals, rate-limited: clients can cause them at will ---- */

static void log_refusal(const Route *rt, const Peer *to, const char *mid, RateLimit *rl, const char *why) {
        char f_spid[32], f_suid[32], f_rpid[32], f_ruid[32], f_signo[32], f_signal[40], f_target[40], f_sup[40];
        const char *fields[] = { f_spid, f_suid, f_rpid, f_ruid, f_signo, f_signal, f_target, f_sup, NULL };
        const char *kind = sb_target_kind_to_string(rt->send->target_kind), *signame;
        char name[16];
        unsigned suppressed;

        if (!ratelimit_test(rl, &suppressed))
                return;
        snprintf(f_spid, sizeof(f_spid), "SIGBROKER_SENDER_PID=%d", (int) rt->sender->pid);
        snprintf(f_suid, sizeof(f_suid), "SIGBROKER_SENDER_UID=%u", (unsigned) rt->sender->uid);
        snprintf(f_rpid, sizeof(f_rpid), "SIGBROKER_RECEIVER_PID=%d", (int) to->pid);
        snprintf(f_ruid, sizeof(f_ruid), "SIGBROKER_RECEIVER_UID=%u", (unsigned) to->uid);
        snprintf(f_signo, sizeof(f_signo), "SIGBROKER_SIGNO=%u", rt->send->signo);
        signame = sb_signal_to_string((int) rt->send->signo, name);
        snprintf(f_signal, sizeof(f_signal), "SIGBROKER_SIGNAL=%s", signame);
        if (kind)
                snprintf(f_target, sizeof(f_target), "SIGBROKER_TARGET_KIND=%s", kind);
        else
                snprintf(f_target, sizeof(f_target), "SIGBROKER_TARGET_KIND=%u", rt->send->target_kind);
        snprintf(f_sup, sizeof(f_sup), "SIGBROKER_SUPPRESSED=%u", suppressed);
        log_fields(LOG_NOTICE, mid, fields, "Signal %s from pid %d (uid %u) to pid %d (uid %u) %s%s",
                   signame, (int) rt->sender->pid,
                   (unsigned) rt->sender->uid, (int) to->pid, (unsigned) to->uid, why,
                   suppressed ? " (earlier similar messages suppressed)" : "");
}

int broker_restore_pending(Broker *b, Peer *p, Signal *s, uint64_t order, uint32_t merged, uint8_t priority) {
        Pending *pe;

        s->charged = p->user;   /* the sender may not have come back: charge the receiver's uid */
        pe = queue_push(&p->queue, s, order);
        if (!pe)
                return -ENOMEM;
        if (priority > pe->priority)
                queue_merge(&p->queue, pe, priority);   /* moves it up to where it was */
        pe->merged = merged;
        charge(b, p, pe);
        return 0;
}

/* ---- permission ---- */

static bool same_session(const Peer *a, const Peer *b) {
        pid_t sa = peer_get_sid(a), sb = peer_get_sid(b);
        return sa >= 0 && sa == sb;
}

/* kill(2)'s rule (check_kill_permission() in the kernel), after the policy
 * file had its say. */
static bool may_signal(const Route *rt, const Peer *to) {
        const Peer *from = rt->sender;
        PolicyPeer ps = { from->uid, from->gid, from->groups, from->n_groups };
        PolicyPeer pr = { to->uid, to->gid, to->groups, to->n_groups };

        if (peer_same_process(from, to))
                return true;    /* a process may always signal itself */
        switch (config_policy_check(rt->b->config, &ps, &pr, rt->send->signo, rt->send->target_kind, NULL)) {
        case POLICY_ALLOW:
                return true;
        case POLICY_DENY:
                return false;
        case POLICY_NO_RULE:
                break;
        }
        if (peer_kill_ok_by_cred(from, to))
                return true;
        return rt->send->signo == SIGCONT && same_session(from, to);
}

/* ---- queueing ---- */

static Signal *route_signal(Route *rt) {
        const SbSend *s = rt->send;
        Signal *sig;

        if (rt->signal)
                return rt->signal;
        sig = signal_new(s->signo, s->priority, s->payload, s->payload_len);
        if (!sig)
                return NULL;
        sig->sender_pid = (uint32_t) rt->sender->pid;
        sig->sender_uid = rt->sender->uid;
        sig->sender_gid = rt->sender->gid;
        sig->sender_client_id = rt->sender->id;
        sig->realtime_ns = now_ns(CLOCK_REALTIME);
        sig->monotonic_ns = now_ns(CLOCK_MONOTONIC);
        sig->charged = rt->sender->user;
        sig->id = ++rt->b->next_signal_id;
        return rt->signal = sig;
}

static bool try_merge(Route *rt, Peer *to) {
        Queue *q = &to->queue;
        Pending *pe = queue_find_standard(q, rt->send->signo);

        if (!pe) {
                q = &to->held;
                pe = queue_find_standard(q, rt->send->signo);
        }
        if (!pe)
                return false;
        queue_merge(q, pe, rt->send->priority);
        state_log_merge(rt->b, to, pe);
        trace(rt, to, MONITOR_MERGED);
        rt->result.merged++;
        to->stats.merged++;
        rt->b->metrics.merged++;
        return true;
}

/* Make room under a drop-oldest subscription: the oldest pending signal of
 * the same number goes, and the receiver will be told by a gap record. */
static bool drop_oldest(Route *rt, Peer *to) {
        uint32_t signo = rt->send->signo;
        Pending *pe;

        if (!(to->drop_oldest & rt->mask))
                return false;
        pe = queue_remove_oldest(&to->queue, signo);
        if (!pe)
                pe = queue_remove_oldest(&to->held, signo);
        if (!pe)
                return false;
        if (!to->lost) {
                to->lost = calloc(SB_SIGNO_MAX + 1, sizeof(*to->lost));
                if (!to->lost) {
                        queue_push_pending(&to->queue, pe);
                        return false;
                }
        }
        to->lost[signo]++;
        state_log_drop(rt->b, to, pe);
        to->stats.dropped++;
        rt->b->metrics.dropped++;
        broker_uncharge(rt->b, to, pe);
        pending_free(pe);
        return true;
}

static void refuse(Route *rt, Peer *to, Overflow why) {
        static const char *const text[] = {
                [OVERFLOW_RECEIVER] = "refused: the receiver's queue is full",
                [OVERFLOW_UID] = "refused: the sender's uid has reached its pending limit",
                [OVERFLOW_RECEIVER_UID] = "refused: the receiver's uid has reached its share of pending signals",
                [OVERFLOW_GLOBAL] = "refused: the broker has reached its global pending limit",
        };
        Broker *b = rt->b;

        trace(rt, to, MONITOR_REFUSED);
        rt->result.refused++;
        to->stats.refused++;
        b->metrics.refused++;
        if (why == OVERFLOW_UID)
                log_refusal(rt, to, SB_MID_UID_LIMIT, &b->rl_uid_limit, text[why]);
        else
                log_refusal(rt, to, SB_MID_OVERFLOW, &b->rl_overflow, text[why]);
}

static void enqueue(Route *rt, Peer *to) {
        uint64_t cost = (uint64_t) rt->send->payload_len + PENDING_OVERHEAD;
        bool dropped = false;
        Overflow why;
        Signal *sig;
        Pending *pe;

        if (try_merge(rt, to))
                return;
        while ((why = check_room(rt, to, cost)) != OVERFLOW_NONE) {
                if (!drop_oldest(rt, to)) {
                        refuse(rt, to, why);
                        return;
                }
                dropped = true;
        }
        sig = route_signal(rt);
        pe = sig ? queue_push((to->blocked & rt->mask) ? &to->held : &to->queue, sig, ++rt->b->next_order) : NULL;
        if (!pe) {
                refuse(rt, to, OVERFLOW_GLOBAL);        /* out of memory is a full broker too */
                return;
        }
        charge(rt->b, to, pe);
        state_log_enqueue(rt->b, to, pe);
        trace(rt, to, dropped ? MONITOR_QUEUED_DROPPING : MONITOR_QUEUED);
        rt->result.queued++;
        peer_mark_dirty(to);
}

/* One candidate the target named: is it a receiver, may it be signalled,
 * and then queue, merge or refuse. */
static void offer(Route *rt, Peer *to) {
        if (!to->hello || (rt->mask && !(to->subscribed & rt->mask)))
                return;
        if (!may_signal(rt, to)) {
                trace(rt, to, MONITOR_DENIED);
                rt->result.denied++;
                to->stats.denied++;
                rt->b->metrics.denied++;
                log_refusal(rt, to, SB_MID_DENIED, &rt->b->rl_denied, "denied by policy");
                return;
        }
        rt->allowed++;
        if (rt->mask)
                enqueue(rt, to);
        else
                trace(rt, to, MONITOR_ALLOWED);
}

/* ---- candidates per target kind ---- */

static void route_pid(Route *rt, pid_t pid) {
        for (HashNode *n = hashtable_first(&rt->b->peers_by_pid, (uint64_t) pid); n; n = hashtable_next(n)) {
                Peer *to = container_of(n, Peer, by_pid);
                if (peer_is_alive(to))
                        offer(rt, to);
        }
}

static void route_client(Route *rt, uint64_t id) {
        HashNode *n = hashtable_first(&rt->b->peers_by_id, id);
        if (n)
                offer(rt, container_of(n, Peer, by_id));
}

/* Process group or session: every subscriber of the signal (every peer for
 * a probe) is asked the kernel for its current one. */
static void route_process_set(Route *rt, pid_t id, pid_t (*get)(const Peer *p)) {
        Peer *to;

        /* pgid or sid 0 of a sender whose process is gone: it has none, and
         * -ESRCH must not match the other dead peers. */
        if (id <= 0)
                return;
        if (rt->mask) {
                Subscription *s;
                list_for_each_entry(s, &rt->b->subscribers[rt->send->signo], signo_link)
                        if (get(s->peer) == id)
                                offer(rt, s->peer);
        } else {
                list_for_each_entry(to, &rt->b->peers, link)
                        if (get(to) == id)
                                offer(rt, to);
        }
}

static Group *group_find(Broker *b, const char *name, size_t len) {
        for (HashNode *n = hashtable_first(&b->groups, hash_string(name, len)); n; n = hashtable_next(n)) {
                Group *g = container_of(n, Group, node);
                if (strlen(g->name) == len && memcmp(g->name, name, len) == 0)
                        return g;
        }
        return NULL;
}

static void route_group(Route *rt) {
        Group *g = group_find(rt->b, rt->send->group, rt->send->group_len);
        Membership *m;

        if (g)
                list_for_each_entry(m, &g->members, group_link)
                        offer(rt, m->peer);
}

static void route_broadcast(Route *rt) {
        Peer *to;

        if (rt->mask) {
                Subscription *s;
                list_for_each_entry(s, &rt->b->subscribers[rt->send->signo], signo_link)
                        offer(rt, s->peer);
        } else {
                list_for_each_entry(to, &rt->b->peers, link)
                        offer(rt, to);
        }
}

static int route_validate(const Broker *b, const SbSend *s) {
        if (!sb_signal_is_valid(s->signo) || s->priority > SB_PRIORITY_MAX || s->target_kind >= _SB_TARGET_MAX)
                return EINVAL;
        if (s->target_kind == SB_TARGET_GROUP && !sb_group_name_is_valid(s->group, s->group_len))
                return EINVAL;
        if (s->target_kind != SB_TARGET_GROUP && s->group_len > 0)
                return EINVAL;
        if (s->target_kind == SB_TARGET_PID && (s->target == 0 || s->target > INT32_MAX))
                return EINVAL;
        if ((s->target_kind == SB_TARGET_PGID || s->target_kind == SB_TARGET_SID) && s->target > INT32_MAX)
                return EINVAL;
        if (s->payload_len > b->limits.max_payload)
                return EMSGSIZE;
        return 0;
}

static void route(Route *rt) {
        const SbSend *s = rt->send;
        pid_t id = (pid_t) s->target;

        switch (s->target_kind) {
        case SB_TARGET_PID:
                route_pid(rt, id);
                break;
        case SB_TARGET_PGID:
                /* 0 is the sender's own, as with kill(0, sig). */
                route_process_set(rt, id ? id : peer_get_pgid(rt->sender), peer_get_pgid);
                break;
        case SB_TARGET_SID:
                route_process_set(rt, id ? id : peer_get_sid(rt->sender), peer_get_sid);
                break;
        case SB_TARGET_GROUP:
                route_group(rt);
                break;
        case SB_TARGET_CLIENT:
                route_client(rt, s->target);
                break;
        case SB_TARGET_BROADCAST:
                route_broadcast(rt);
                break;
        }
}

/* kill(2)'s answer: success if any receiver got it; otherwise the most
 * telling reason. */
static int route_error(const Route *rt) {
        const SbResult *r = &rt->result;

        if (r->queued + r->merged > 0 || (rt->mask == 0 && rt->allowed > 0))
                return 0;
        if (r->refused > 0)
                return EAGAIN;
        if (r->denied > 0)
                return EPERM;
        return ESRCH;
}

int broker_handle_send(Broker *b, Peer *sender, uint64_t serial, const SbSend *send) {
        Route rt = {
                .b = b,
                .sender = sender,
                .send = send,
                .result = { .reply_serial = serial },
                .tracing = monitor_any(b),
        };
        SbFrame f = { .type = SB_MSG_RESULT };
        int e, r;

        sender->stats.sent++;
        sender->stats.bytes_sent += send->payload_len;
        b->metrics.sent++;
        b->metrics.bytes_sent += send->payload_len;

        e = route_validate(b, send);
        if (e == 0) {
                rt.mask = send->signo ? SB_SIGMASK(send->signo) : 0;
                route(&rt);
                e = route_error(&rt);
        }
        signal_unref(rt.signal);

        f.result = rt.result;
        f.result.error = e;
        if (rt.tracing)
                monitor_routed(b, sender, send, &f.result, e, &rt.trace);
        /* A failure is news the sender should have at once. */
        if (e == 0 && (send->flags & SB_SEND_DEFER_RESULT))
                r = peer_queue_deferred(sender, &f);
        else
                r = peer_queue_frame(sender, &f);
        return r < 0 ? -PEER_E_DISCONNECT : 0;
}

/* ---- subscriptions ---- */

static Subscription *subscription_find(Peer *p, uint32_t signo) {
        Subscription *s;

        list_for_each_entry(s, &p->subscriptions, peer_link)
                if (s->signo == signo)
                        return s;
        return NULL;
}

int broker_subscribe(Broker *b, Peer *p, uint64_t mask, uint32_t flags) {
        for (uint32_t signo = 1; signo <= SB_SIGNO_MAX; signo++) {
                Subscription *s;
                if (!(mask & SB_SIGMASK(signo)))
                        continue;
                if (flags & SB_SUBSCRIBE_DROP_OLDEST)
                        p->drop_oldest |= SB_SIGMASK(signo);
                else
                        p->drop_oldest &= ~SB_SIGMASK(signo);
                if (p->subscribed & SB_SIGMASK(signo))
                        continue;
                s = calloc(1, sizeof(*s));
                if (!s)
                        return -ENOMEM;
                s->peer = p;
                s->signo = signo;
                list_link_tail(&b->subscribers[signo], &s->signo_link);
                list_link_tail(&p->subscriptions, &s->peer_link);
                p->subscribed |= SB_SIGMASK(signo);
        }
        return 0;
}

void broker_unsubscribe(Broker *b, Peer *p, uint64_t mask) {
        for (uint32_t signo = 1; signo <= SB_SIGNO_MAX; signo++) {
                Subscription *s;
                if (!(mask & p->subscribed & SB_SIGMASK(signo)))
                        continue;
                s = subscription_find(p, signo);
                if (s) {
                        list_unlink(&s->signo_link);
                        list_unlink(&s->peer_link);
                        free(s);
                }
                p->subscribed &= ~SB_SIGMASK(signo);
                p->drop_oldest &= ~SB_SIGMASK(signo);
        }
}

/* ---- named groups ---- */

/* One hash lookup, not a walk of the peer's memberships: a client may
 * hold up to 65536 of them and ask about them as often as it likes. */
static uint64_t membership_key(const Peer *p, const char *name, size_t len) {
        return hash_string(name, len) ^ (p->id * UINT64_C(0x9e3779b97f4a7c15));
}

static Membership *membership_find(Peer *p, const char *name, size_t len) {
        Broker *b = p->broker;

        for (HashNode *n = hashtable_first(&b->memberships, membership_key(p, name, len)); n; n = hashtable_next(n)) {
                Membership *m = container_of(n, Membership, node);
                if (m->peer == p && strlen(m->group->name) == len && memcmp(m->group->name, name, len) == 0)
                        return m;
        }
        return NULL;
}

static Group *group_get(Broker *b, const char *name, size_t len) {
        Group *g = group_find(b, name, len);

        if (g)
                return g;
        g = calloc(1, sizeof(*g));
        if (!g)
                return NULL;
        memcpy(g->name, name, len);
        list_init(&g->members);
        if (hashtable_insert(&b->groups, &g->node, hash_string(name, len)) < 0) {
                free(g);
                return NULL;
        }
        b->n_groups++;
        return g;
}

static void membership_free(Broker *b, Membership *m) {
        Group *g = m->group;

        hashtable_remove(&b->memberships, &m->node);
        list_unlink(&m->group_link);
        list_unlink(&m->peer_link);
        m->peer->n_memberships--;
        free(m);
        if (--g->n_members == 0) {
                hashtable_remove(&b->groups, &g->node);
                b->n_groups--;
                free(g);
        }
}

int broker_join(Broker *b, Peer *p, const char *name, size_t len) {
        Membership *m;
        Group *g;

        if (!sb_group_name_is_valid(name, len))
                return -EINVAL;
        if (membership_find(p, name, len))
                return 0;
        if (p->n_memberships >= b->limits.max_groups_per_client)
                return -ENOSPC;
        g = group_get(b, name, len);
        m = g ? calloc(1, sizeof(*m)) : NULL;
        if (m && hashtable_insert(&b->memberships, &m->node, membership_key(p, name, len)) < 0) {
                free(m);
                m = NULL;
        }
        if (!m) {
                if (g && g->n_members == 0) {
                        hashtable_remove(&b->groups, &g->node);
                        b->n_groups--;
                        free(g);
                }
                return -ENOMEM;
        }
        m->group = g;
        m->peer = p;
        list_link_tail(&g->members, &m->group_link);
        list_link_tail(&p->memberships, &m->peer_link);
        g->n_members++;
        p->n_memberships++;
        return 0;
}

int broker_leave(Broker *b, Peer *p, const char *name, size_t len) {
        Membership *m;

        if (!sb_group_name_is_valid(name, len))
                return -EINVAL;
        m = membership_find(p, name, len);
        if (!m)
                return -ENOENT;
        membership_free(b, m);
        return 0;
}

void broker_forget_peer(Broker *b, Peer *p) {
        Membership *m;

        broker_unsubscribe(b, p, UINT64_MAX);
        metrics_forget_peer(&b->metrics, p);
        monitor_forget(b, p);
        list_for_each_entry(m, &p->memberships, peer_link)
                membership_free(b, m);
}
