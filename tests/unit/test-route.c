/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Routing (daemon/core/route.c) through a real Broker with socketpair
 * clients: who a send reaches for each target kind, subscriptions and named
 * groups, the kill(2) rule and the policy file across real uids and
 * sessions, coalescing of standard signals and delivery order, the queue
 * limit with and without drop-oldest, and the answer kill(2) would give.
 */

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-broker.h"
#include "unit.h"
#include "user.h"

#define USR1 10
#define USR2 12
#define RTMIN 34

static const TestIdentity nobody = { .uid = 65534, .gid = 65534 };
static const TestIdentity nobody_own_session = { .uid = 65534, .gid = 65534, .new_session = true };
static const TestIdentity other = { .uid = 65533, .gid = 65533 };

static void assert_result(SbResult r, int error, uint32_t queued, uint32_t merged, uint32_t refused, uint32_t denied) {
        ck_assert_int_eq(r.error, error);
        ck_assert_uint_eq(r.queued, queued);
        ck_assert_uint_eq(r.merged, merged);
        ck_assert_uint_eq(r.refused, refused);
        ck_assert_uint_eq(r.denied, denied);
}

static void assert_deliver(const SbFrame *f, uint32_t signo, const char *payload, uint64_t seq) {
        ck_assert_int_eq(f->type, SB_MSG_DELIVER);
        ck_assert_uint_eq(f->deliver.signo, signo);
        ck_assert_uint_eq(f->deliver.seq, seq);
        ck_assert_uint_eq(f->deliver.payload_len, strlen(payload));
        ck_assert(memcmp(f->deliver.payload, payload, strlen(payload)) == 0);
}

START_TEST(test_validation) {
        Broker *b = tb_broker_new("[limits]\nmax-payload = 16\n", 0);
        TestClient *s = tb_connect(b, 0), *r = tb_connect(b, 0);

        ck_assert_int_eq(tb_subscribe(r, SB_SIGMASK(USR1), 0), 0);
        assert_result(tb_send(s, 65, 0, SB_TARGET_BROADCAST, 0, NULL, NULL), EINVAL, 0, 0, 0, 0);
        assert_result(tb_send(s, USR1, SB_PRIORITY_MAX + 1, SB_TARGET_BROADCAST, 0, NULL, NULL), EINVAL, 0, 0, 0, 0);
        assert_result(tb_send(s, USR1, 0, _SB_TARGET_MAX, 0, NULL, NULL), EINVAL, 0, 0, 0, 0);
        assert_result(tb_send(s, USR1, 0, SB_TARGET_PID, 0, NULL, NULL), EINVAL, 0, 0, 0, 0);
        assert_result(tb_send(s, USR1, 0, SB_TARGET_PID, (uint64_t) INT32_MAX + 1, NULL, NULL), EINVAL, 0, 0, 0, 0);
        assert_result(tb_send(s, USR1, 0, SB_TARGET_SID, (uint64_t) INT32_MAX + 1, NULL, NULL), EINVAL, 0, 0, 0, 0);
        assert_result(tb_send(s, USR1, 0, SB_TARGET_GROUP, 0, "bad name", NULL), EINVAL, 0, 0, 0, 0);
        assert_result(tb_send(s, USR1, 0, SB_TARGET_BROADCAST, 0, "grp", NULL), EINVAL, 0, 0, 0, 0);
        assert_result(tb_send(s, USR1, 0, SB_TARGET_BROADCAST, 0, NULL, "seventeen bytes!!"), EMSGSIZE, 0, 0, 0, 0);
        /* The limit itself is fine; nothing above reached the receiver. */
        assert_result(tb_send(s, USR1, SB_PRIORITY_MAX, SB_TARGET_BROADCAST, 0, NULL, "sixteen bytes!!!"), 0, 1, 0, 0, 0);
        {
                SbFrame d[4];
                ck_assert_uint_eq(tb_deliveries(r, d, 4), 1);
                assert_deliver(&d[0], USR1, "sixteen bytes!!!", 1);
                ck_assert_uint_eq(d[0].deliver.priority, SB_PRIORITY_MAX);
        }
        tb_close(s);
        tb_close(r);
        tb_broker_free(b);
}
END_TEST

START_TEST(test_broadcast_and_subscriptions) {
        Broker *b = tb_broker_new(NULL, 0);
        TestClient *s = tb_connect(b, 0), *r1 = tb_connect(b, 0), *r2 = tb_connect(b, 0), *r3 = tb_connect(b, 0);
        TestClient *raw = tb_connect_raw(b, NULL);
        SbFrame d[8];

        /* Nobody subscribed: no such process, as kill(2) would say. */
        assert_result(tb_send(s, USR1, 0, SB_TARGET_BROADCAST, 0, NULL, NULL), ESRCH, 0, 0, 0, 0);
        ck_assert_int_eq(tb_subscribe(r1, SB_SIGMASK(USR1) | SB_SIGMASK(RTMIN), 0), 0);
        ck_assert_int_eq(tb_subscribe(r2, SB_SIGMASK(USR1), 0), 0);
        ck_assert_int_eq(tb_subscribe(r3, SB_SIGMASK(USR2), 0), 0);
        /* Subscribing twice changes nothing. */
        ck_assert_int_eq(tb_subscribe(r2, SB_SIGMASK(USR1), 0), 0);

        assert_result(tb_send(s, USR1, 5, SB_TARGET_BROADCAST, 0, NULL, "hi"), 0, 2, 0, 0, 0);
        ck_assert_uint_eq(tb_deliveries(r1, d, 8), 1);
        assert_deliver(&d[0], USR1, "hi", 1);
        ck_assert_uint_eq(d[0].deliver.priority, 5);
        ck_assert_uint_eq(d[0].deliver.sender_client_id, s->peer->id);
        ck_assert_uint_eq(d[0].deliver.sender_pid, (uint32_t) getpid());
        ck_assert_uint_eq(d[0].deliver.sender_uid, 0);
        ck_assert_uint_eq(tb_deliveries(r2, d, 8), 1);
        assert_deliver(&d[0], USR1, "hi", 1);
        ck_assert_uint_eq(tb_deliveries(r3, d, 8), 0);
        ck_assert_uint_eq(tb_read(raw, d, 8), 0);

        assert_result(tb_send(s, RTMIN, 0, SB_TARGET_BROADCAST, 0, NULL, NULL), 0, 1, 0, 0, 0);
        ck_assert_uint_eq(tb_deliveries(r1, d, 8), 1);
        ck_assert_uint_eq(d[0].deliver.seq, 2);
        ck_assert_uint_eq(tb_deliveries(r2, d, 8), 0);

        /* Unsubscribed: gone from the signal's subscribers, the others stay. */
        {
                SbFrame f = { .type = SB_MSG_UNSUBSCRIBE, .subscribe = { .mask = SB_SIGMASK(USR1) } };
                ck_assert_int_eq(tb_wait_answer(r1, tb_send_frame(r1, &f)).reply.error, 0);
        }
        assert_result(tb_send(s, USR1, 0, SB_TARGET_BROADCAST, 0, NULL, NULL), 0, 1, 0, 0, 0);
        ck_assert_uint_eq(tb_deliveries(r1, d, 8), 0);
        ck_assert_uint_eq(tb_deliveries(r2, d, 8), 1);
        assert_result(tb_send(s, RTMIN, 0, SB_TARGET_BROADCAST, 0, NULL, NULL), 0, 1, 0, 0, 0);
        ck_assert_uint_eq(tb_deliveries(r1, d, 8), 1);

        /* A receiver that left is no longer one. */
        tb_close(r2);
        assert_result(tb_send(s, USR1, 0, SB_TARGET_BROADCAST, 0, NULL, NULL), ESRCH, 0, 0, 0, 0);

        /* A probe reaches every client said hello, subscribed or not. */
        assert_result(tb_send(s, 0, 0, SB_TARGET_CLIENT, r3->peer->id, NULL, NULL), 0, 0, 0, 0, 0);
        assert_result(tb_send(s, 0, 0, SB_TARGET_CLIENT, raw->peer->id, NULL, NULL), ESRCH, 0, 0, 0, 0);
        tb_close(raw);
        tb_close(r1);
        tb_close(r3);
        tb_close(s);
        tb_broker_free(b);
}
END_TEST

START_TEST(test_client_pid_and_session_targets) {
        Broker *b = tb_broker_new(NULL, 0);
        TestClient *s = tb_connect(b, 0), *local = tb_connect(b, 0);
        TestClient *child = tb_connect_as(b, &nobody, 0), *alone = tb_connect_as(b, &nobody_own_session, 0);
        TestClient *all[] = { local, child, alone };
        SbFrame d[4];

        for (size_t i = 0; i < 3; i++)
                ck_assert_int_eq(tb_subscribe(all[i], SB_SIGMASK(USR1), 0), 0);

        /* By client id: that one only. */
        assert_result(tb_send(s, USR1, 0, SB_TARGET_CLIENT, child->peer->id, NULL, NULL), 0, 1, 0, 0, 0);
        ck_assert_uint_eq(tb_deliveries(child, d, 4), 1);
        ck_assert_uint_eq(tb_deliveries(local, d, 4), 0);
        assert_result(tb_send(s, USR1, 0, SB_TARGET_CLIENT, 999999, NULL, NULL), ESRCH, 0, 0, 0, 0);

        /* By pid: every connection of that process. Ours are the sender's
         * and local's; the sender is not subscribed. */
        assert_result(tb_send(s, USR1, 0, SB_TARGET_PID, (uint64_t) getpid(), NULL, NULL), 0, 1, 0, 0, 0);
        ck_assert_uint_eq(tb_deliveries(local, d, 4), 1);
        assert_result(tb_send(s, USR1, 0, SB_TARGET_PID, (uint64_t) alone->child, NULL, NULL), 0, 1, 0, 0, 0);
        ck_assert_uint_eq(tb_deliveries(alone, d, 4), 1);
        ck_assert_uint_eq(tb_deliveries(child, d, 4), 0);

        /* By session: alone leads its own; the others share ours. */
        assert_result(tb_send(s, USR1, 0, SB_TARGET_SID, (uint64_t) alone->child, NULL, NULL), 0, 1, 0, 0, 0);
        ck_assert_uint_eq(tb_deliveries(alone, d, 4), 1);
        assert_result(tb_send(s, USR1, 0, SB_TARGET_SID, (uint64_t) getsid(0), NULL, NULL), 0, 2, 0, 0, 0);
        ck_assert_uint_eq(tb_deliveries(local, d, 4), 1);
        ck_assert_uint_eq(tb_deliveries(child, d, 4), 1);
        ck_assert_uint_eq(tb_deliveries(alone, d, 4), 0);
        /* 0 is the sender's own, as with kill(0, sig). */
        assert_result(tb_send(s, USR1, 0, SB_TARGET_PGID, 0, NULL, NULL), 0, 2, 0, 0, 0);

        /* A process that has exited is no target, though its connection
         * lingers. */
        {
                pid_t pid = alone->child;
                close(alone->child_ctl);
                ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
                alone->child = 0;
                tb_run(b);
                assert_result(tb_send(s, USR1, 0, SB_TARGET_PID, (uint64_t) pid, NULL, NULL), ESRCH, 0, 0, 0, 0);
        }
        tb_close(alone);
        tb_close(child);
        tb_close(local);
        tb_close(s);
        tb_broker_free(b);
}
END_TEST

START_TEST(test_groups) {
        Broker *b = tb_broker_new("[limits]\nmax-groups-per-client = 2\n", 0);
        TestClient *s = tb_connect(b, 0), *r1 = tb_connect(b, 0), *r2 = tb_connect(b, 0);
        SbFrame d[4];

        ck_assert_int_eq(tb_subscribe(r1, SB_SIGMASK(USR1), 0), 0);
        ck_assert_int_eq(tb_subscribe(r2, SB_SIGMASK(USR1), 0), 0);
        assert_result(tb_send(s, USR1, 0, SB_TARGET_GROUP, 0, "web", NULL), ESRCH, 0, 0, 0, 0);

        ck_assert_int_eq(tb_join(r1, "web"), 0);
        ck_assert_int_eq(tb_join(r1, "web"), 0);        /* already a member: no second membership */
        ck_assert_int_eq(tb_join(r2, "web"), 0);
        ck_assert_int_eq(tb_join(r2, "db"), 0);
        ck_assert_uint_eq(b->n_groups, 2);
        ck_assert_uint_eq(r1->peer->n_memberships, 1);
        assert_result(tb_send(s, USR1, 0, SB_TARGET_GROUP, 0, "web", NULL), 0, 2, 0, 0, 0);
        ck_assert_uint_eq(tb_deliveries(r1, d, 4), 1);
        ck_assert_uint_eq(tb_deliveries(r2, d, 4), 1);
        assert_result(tb_send(s, USR1, 0, SB_TARGET_GROUP, 0, "db", NULL), 0, 1, 0, 0, 0);
        ck_assert_uint_eq(tb_deliveries(r1, d, 4), 0);
        /* Names are compared whole. */
        assert_result(tb_send(s, USR1, 0, SB_TARGET_GROUP, 0, "we", NULL), ESRCH, 0, 0, 0, 0);
        assert_result(tb_send(s, USR1, 0, SB_TARGET_GROUP, 0, "WEB", NULL), ESRCH, 0, 0, 0, 0);

        /* The per-client limit, and bad names. */
        ck_assert_int_eq(tb_join(r2, "third"), ENOSPC);
        ck_assert_int_eq(tb_join(r1, "has space"), EINVAL);
        ck_assert_int_eq(tb_leave(r1, "db"), ENOENT);

        /* A group goes with its last member. */
        ck_assert_int_eq(tb_leave(r1, "web"), 0);
        ck_assert_int_eq(tb_leave(r1, "web"), ENOENT);
        assert_result(tb_send(s, USR1, 0, SB_TARGET_GROUP, 0, "web", NULL), 0, 1, 0, 0, 0);
        ck_assert_uint_eq(b->n_groups, 2);
        tb_close(r2);
        ck_assert_uint_eq(b->n_groups, 0);
        assert_result(tb_send(s, USR1, 0, SB_TARGET_GROUP, 0, "web", NULL), ESRCH, 0, 0, 0, 0);
        /* Room again once left. */
        ck_assert_int_eq(tb_join(r1, "a"), 0);
        ck_assert_int_eq(tb_join(r1, "b"), 0);
        ck_assert_int_eq(tb_join(r1, "c"), ENOSPC);
        ck_assert_int_eq(tb_leave(r1, "a"), 0);
        ck_assert_int_eq(tb_join(r1, "c"), 0);
        tb_close(r1);
        ck_assert_uint_eq(b->n_groups, 0);
        tb_close(s);
        tb_broker_free(b);
}
END_TEST

START_TEST(test_merge_and_order) {
        Broker *b = tb_broker_new(NULL, 0);
        TestClient *s = tb_connect(b, 0), *r = tb_connect(b, 0);
        uint64_t mask = SB_SIGMASK(USR1) | SB_SIGMASK(USR2) | SB_SIGMASK(36) | SB_SIGMASK(40);
        SbFrame d[8];

        ck_assert_int_eq(tb_subscribe(r, mask, 0), 0);
        ck_assert_int_eq(tb_block(r, mask), 0);
        assert_result(tb_send(s, 40, 0, SB_TARGET_BROADCAST, 0, NULL, "a"), 0, 1, 0, 0, 0);
        assert_result(tb_send(s, 36, 0, SB_TARGET_BROADCAST, 0, NULL, "b"), 0, 1, 0, 0, 0);
        assert_result(tb_send(s, USR1, 0, SB_TARGET_BROADCAST, 0, NULL, "c"), 0, 1, 0, 0, 0);
        /* A standard signal pending already: merged, like the kernel's. */
        assert_result(tb_send(s, USR1, 0, SB_TARGET_BROADCAST, 0, NULL, "d"), 0, 0, 1, 0, 0);
        assert_result(tb_send(s, USR1, 0, SB_TARGET_BROADCAST, 0, NULL, "e"), 0, 0, 1, 0, 0);
        assert_result(tb_send(s, USR2, 90, SB_TARGET_BROADCAST, 0, NULL, "f"), 0, 1, 0, 0, 0);
        /* Real-time signals queue each. */
        assert_result(tb_send(s, 40, 0, SB_TARGET_BROADCAST, 0, NULL, "g"), 0, 1, 0, 0, 0);
        ck_assert_uint_eq(tb_deliveries(r, d, 8), 0);
        ck_assert_uint_eq(b->total_pending, 5);

        ck_assert_int_eq(tb_block(r, 0), 0);
        /* Higher priority first, then the lower number, then send order;
         * the merged one keeps its first payload and counts the merges. */
        ck_assert_uint_eq(tb_deliveries(r, d, 8), 5);
        assert_deliver(&d[0], USR2, "f", 1);
        assert_deliver(&d[1], USR1, "c", 2);
        ck_assert_uint_eq(d[1].deliver.merged, 2);
        ck_assert_uint_eq(d[0].deliver.merged, 0);
        assert_deliver(&d[2], 36, "b", 3);
        assert_deliver(&d[3], 40, "a", 4);
        assert_deliver(&d[4], 40, "g", 5);
        ck_assert_uint_eq(b->total_pending, 0);

        /* Delivered: the next USR1 is queued afresh, not merged. */
        assert_result(tb_send(s, USR1, 0, SB_TARGET_BROADCAST, 0, NULL, "h"), 0, 1, 0, 0, 0);
        tb_close(s);
        tb_close(r);
        tb_broker_free(b);
}
END_TEST

START_TEST(test_queue_limit_and_drop_oldest) {
        Broker *b = tb_broker_new(NULL, 4);
        TestClient *s = tb_connect(b, 0), *full = tb_connect(b, 0), *dropping = tb_connect(b, 0);
        char payload[8];
        SbFrame d[8];

        ck_assert_int_eq(tb_subscribe(full, SB_SIGMASK(RTMIN), 0), 0);
        ck_assert_int_eq(tb_subscribe(dropping, SB_SIGMASK(RTMIN), SB_SUBSCRIBE_DROP_OLDEST), 0);
        ck_assert_int_eq(tb_block(full, SB_SIGMASK(RTMIN)), 0);
        ck_assert_int_eq(tb_block(dropping, SB_SIGMASK(RTMIN)), 0);
        for (int i = 1; i <= 4; i++) {
                snprintf(payload, sizeof(payload), "%d", i);
                assert_result(tb_send(s, RTMIN, 0, SB_TARGET_BROADCAST, 0, NULL, payload), 0, 2, 0, 0, 0);
        }
        /* Full: one receiver refuses, the other makes room. */
        assert_result(tb_send(s, RTMIN, 0, SB_TARGET_BROADCAST, 0, NULL, "5"), 0, 1, 0, 1, 0);
        assert_result(tb_send(s, RTMIN, 0, SB_TARGET_BROADCAST, 0, NULL, "6"), 0, 1, 0, 1, 0);
        ck_assert_uint_eq(b->total_pending, 8);
        /* Refused by every receiver: EAGAIN. */
        assert_result(tb_send(s, RTMIN, 0, SB_TARGET_CLIENT, full->peer->id, NULL, "7"), EAGAIN, 0, 0, 1, 0);

        ck_assert_int_eq(tb_block(full, 0), 0);
        ck_assert_uint_eq(tb_deliveries(full, d, 8), 4);
        for (int i = 0; i < 4; i++) {
                snprintf(payload, sizeof(payload), "%d", i + 1);
                assert_deliver(&d[i], RTMIN, payload, (uint64_t) i + 1);
        }
        ck_assert_int_eq(tb_block(dropping, 0), 0);
        /* The two oldest went; gap records (written as the drops happen:
         * blocking holds deliveries, not gaps) count them, ahead of the
         * four left. */
        {
                size_t n = tb_deliveries(dropping, d, 8), gaps = 0;
                uint32_t lost = 0;
                for (; gaps < n && d[gaps].type == SB_MSG_GAP; gaps++) {
                        ck_assert_uint_eq(d[gaps].gap.signo, RTMIN);
                        ck_assert_uint_eq(d[gaps].gap.seq, gaps + 1);
                        lost += d[gaps].gap.lost;
                }
                ck_assert_uint_eq(lost, 2);
                ck_assert_uint_eq(n - gaps, 4);
                for (size_t i = 0; i < 4; i++) {
                        snprintf(payload, sizeof(payload), "%zu", i + 3);
                        assert_deliver(&d[gaps + i], RTMIN, payload, gaps + i + 1);
                }
        }
        ck_assert_uint_eq(b->metrics.dropped, 2);
        ck_assert_uint_eq(b->metrics.refused, 3);
        tb_close(s);
        tb_close(full);
        tb_close(dropping);
        tb_broker_free(b);
}
END_TEST

START_TEST(test_window) {
        Broker *b = tb_broker_new(NULL, 0);
        TestClient *s = tb_connect(b, 0), *r = tb_connect(b, 2);
        SbFrame d[8];

        ck_assert_int_eq(tb_subscribe(r, SB_SIGMASK(RTMIN), 0), 0);
        for (int i = 0; i < 5; i++)
                assert_result(tb_send(s, RTMIN, 0, SB_TARGET_BROADCAST, 0, NULL, NULL), 0, 1, 0, 0, 0);
        /* Two in flight at most until acknowledged. */
        ck_assert_uint_eq(tb_deliveries(r, d, 8), 2);
        ck_assert_uint_eq(tb_deliveries(r, d, 8), 0);
        tb_ack(r, 1);
        ck_assert_uint_eq(tb_deliveries(r, d, 8), 1);
        ck_assert_uint_eq(d[0].deliver.seq, 3);
        tb_ack(r, 2);
        ck_assert_uint_eq(tb_deliveries(r, d, 8), 2);
        ck_assert_uint_eq(d[1].deliver.seq, 5);
        ck_assert_uint_eq(b->total_pending, 0);
        tb_close(s);
        tb_close(r);
        tb_broker_free(b);
}
END_TEST

/* kill(2)'s rule across real uids and sessions, with no policy file. */
START_TEST(test_kill_rule) {
        Broker *b = tb_broker_new(NULL, 0);
        TestClient *root = tb_connect(b, 0), *r = tb_connect_as(b, &nobody, 0);
        TestClient *alone = tb_connect_as(b, &nobody_own_session, 0);
        TestClient *same_uid = tb_connect_as(b, &nobody, 0), *stranger = tb_connect_as(b, &other, 0);
        uint64_t mask = SB_SIGMASK(USR1) | SB_SIGMASK(SIGCONT);
        SbFrame d[4];

        ck_assert_int_eq(tb_subscribe(r, mask, 0), 0);
        ck_assert_int_eq(tb_subscribe(alone, mask, 0), 0);
        assert_result(tb_send(root, USR1, 0, SB_TARGET_CLIENT, r->peer->id, NULL, NULL), 0, 1, 0, 0, 0);
        assert_result(tb_send(same_uid, USR1, 0, SB_TARGET_CLIENT, r->peer->id, NULL, NULL), 0, 1, 0, 0, 0);
        assert_result(tb_send(stranger, USR1, 0, SB_TARGET_CLIENT, r->peer->id, NULL, NULL), EPERM, 0, 0, 0, 1);
        /* A probe follows the same rule. */
        assert_result(tb_send(stranger, 0, 0, SB_TARGET_CLIENT, r->peer->id, NULL, NULL), EPERM, 0, 0, 0, 1);
        assert_result(tb_send(same_uid, 0, 0, SB_TARGET_CLIENT, r->peer->id, NULL, NULL), 0, 0, 0, 0, 0);
        /* Broadcast: the allowed get it, the others count as denied. */
        assert_result(tb_send(stranger, USR1, 0, SB_TARGET_BROADCAST, 0, NULL, NULL), EPERM, 0, 0, 0, 2);
        /* SIGCONT goes to any process of the same session. */
        assert_result(tb_send(stranger, SIGCONT, 0, SB_TARGET_CLIENT, r->peer->id, NULL, NULL), 0, 1, 0, 0, 0);
        assert_result(tb_send(stranger, SIGCONT, 0, SB_TARGET_CLIENT, alone->peer->id, NULL, NULL), EPERM, 0, 0, 0, 1);
        ck_assert_uint_eq(tb_deliveries(r, d, 4), 3);
        ck_assert_uint_eq(tb_deliveries(alone, d, 4), 0);
        ck_assert_uint_eq(b->metrics.denied, 5);
        tb_close(root);
        tb_close(r);
        tb_close(alone);
        tb_close(same_uid);
        tb_close(stranger);
        tb_broker_free(b);
}
END_TEST

/* The policy file first, then kill(2)'s rule; not even root passes a deny,
 * but every process may signal itself. */
START_TEST(test_policy_rules) {
        Broker *b = tb_broker_new("[policy]\n"
                                  "allow from uid:65533 to uid:65534 signals USR1\n"
                                  "deny from uid:0 signals USR2\n",
                                  0);
        TestClient *root = tb_connect(b, 0), *self = tb_connect(b, 0), *r = tb_connect_as(b, &nobody, 0);
        TestClient *stranger = tb_connect_as(b, &other, 0);
        uint64_t mask = SB_SIGMASK(USR1) | SB_SIGMASK(USR2);

        ck_assert_int_eq(tb_subscribe(r, mask, 0), 0);
        ck_assert_int_eq(tb_subscribe(self, mask, 0), 0);
        ck_assert_int_eq(tb_subscribe(stranger, mask, 0), 0);
        assert_result(tb_send(stranger, USR1, 0, SB_TARGET_CLIENT, r->peer->id, NULL, NULL), 0, 1, 0, 0, 0);
        assert_result(tb_send(stranger, USR2, 0, SB_TARGET_CLIENT, r->peer->id, NULL, NULL), EPERM, 0, 0, 0, 1);
        /* The allow names a receiver: not the other way round. */
        assert_result(tb_send(r, USR1, 0, SB_TARGET_CLIENT, stranger->peer->id, NULL, NULL), EPERM, 0, 0, 0, 1);
        assert_result(tb_send(root, USR2, 0, SB_TARGET_CLIENT, r->peer->id, NULL, NULL), EPERM, 0, 0, 0, 1);
        assert_result(tb_send(root, USR1, 0, SB_TARGET_CLIENT, r->peer->id, NULL, NULL), 0, 1, 0, 0, 0);
        assert_result(tb_send(root, USR2, 0, SB_TARGET_CLIENT, self->peer->id, NULL, NULL), 0, 1, 0, 0, 0);
        /* Broadcast: self gets it, the two others are denied. */
        assert_result(tb_send(root, USR2, 0, SB_TARGET_BROADCAST, 0, NULL, NULL), 0, 1, 0, 0, 2);
        tb_close(root);
        tb_close(self);
        tb_close(r);
        tb_close(stranger);
        tb_broker_free(b);
}
END_TEST

/* What a queued signal charges, and that every charge comes back. */
START_TEST(test_accounting) {
        Broker *b = tb_broker_new(NULL, 0);
        TestClient *s = tb_connect_as(b, &other, 0), *r = tb_connect_as(b, &other, 0);
        User *u = s->peer->user;

        ck_assert_ptr_eq(u, r->peer->user);     /* one User per uid */
        ck_assert_uint_eq(u->connections, 2);
        ck_assert_int_eq(tb_subscribe(r, SB_SIGMASK(RTMIN), 0), 0);
        ck_assert_int_eq(tb_block(r, SB_SIGMASK(RTMIN)), 0);
        assert_result(tb_send(s, RTMIN, 0, SB_TARGET_BROADCAST, 0, NULL, "12345"), 0, 1, 0, 0, 0);
        assert_result(tb_send(s, RTMIN, 0, SB_TARGET_BROADCAST, 0, NULL, NULL), 0, 1, 0, 0, 0);
        ck_assert_uint_eq(u->pending, 2);
        ck_assert_uint_eq(u->bytes, 2 * PENDING_OVERHEAD + 5);
        ck_assert_uint_eq(b->total_pending, 2);
        ck_assert_uint_eq(b->total_bytes, 2 * PENDING_OVERHEAD + 5);
        tb_close(s);
        ck_assert_uint_eq(u->connections, 1);
        ck_assert_uint_eq(u->pending, 2);       /* the sender's uid pays until they leave */
        tb_close(r);
        ck_assert_uint_eq(b->total_pending, 0);
        ck_assert_uint_eq(b->total_bytes, 0);
        ck_assert_ptr_null(hashtable_first(&b->users, other.uid));
        tb_broker_free(b);
}
END_TEST

int main(void) {
        Suite *s = suite_create("route");
        TCase *tc = tcase_create("targets");

        tcase_add_test(tc, test_validation);
        tcase_add_test(tc, test_broadcast_and_subscriptions);
        tcase_add_test(tc, test_client_pid_and_session_targets);
        tcase_add_test(tc, test_groups);
        suite_add_tcase(s, tc);
        tc = tcase_create("queueing");
        tcase_add_test(tc, test_merge_and_order);
        tcase_add_test(tc, test_queue_limit_and_drop_oldest);
        tcase_add_test(tc, test_window);
        tcase_add_test(tc, test_accounting);
        suite_add_tcase(s, tc);
        tc = tcase_create("permission");
        tcase_add_test(tc, test_kill_rule);
        tcase_add_test(tc, test_policy_rules);
        suite_add_tcase(s, tc);
        return unit_run(s);
}
