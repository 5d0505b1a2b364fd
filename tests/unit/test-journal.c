/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The restart journal (daemon/restart/state.c): what one broker records as
 * its clients act is replayed by a second broker onto the same connections,
 * the way a restarted sigbrokerd gets them back from systemd's fd store,
 * and the second broker must then behave as the first would have: same
 * client ids, hello and windows, subscriptions, drop-oldest and blocked
 * sets, group memberships, pending signals with their payloads, merges and
 * order, deliveries already written not written again, and departed
 * clients gone. A record that a change forgets to write shows up here as a
 * difference after the restart. A journal that is not one loses the
 * clients, cleanly.
 */

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "state.h"
#include "test-broker.h"
#include "unit.h"

#define USR1 10
#define USR2 12
#define RTMIN 34

static Broker *journaling_broker(uint32_t max_queue) {
        Broker *b = tb_broker_new(NULL, max_queue);

        b->journaling = true;   /* as under systemd; the fd store calls go nowhere */
        return b;
}

static Broker *first_broker(uint32_t max_queue) {
        Broker *b = journaling_broker(max_queue);

        /* Nothing to restore: writes an empty journal. */
        ck_assert_int_eq(state_restore(b), 0);
        return b;
}

static void add_fd(Broker *b, int fd, const char *prefix, uint64_t n) {
        char name[32];

        ck_assert_int_ge(fd, 0);
        snprintf(name, sizeof(name), "%s%llu", prefix, (unsigned long long) n);
        ck_assert_int_eq(state_restore_add_fd(b, fd, name), 0);
}

/* A new broker from a's journal and the connections of the clients still
 * open; a goes as a stopping daemon does (its connections stay). Each
 * client is moved over: its peer is the new broker's, or NULL if the
 * journal did not bring it back. */
static Broker *restart(Broker *a, TestClient **clients, size_t n) {
        Broker *b = journaling_broker(a->limits.max_queue);
        uint64_t generation;
        int fd = state_journal_fd(a, &generation);
        Peer *p;

        add_fd(b, dup(fd), STATE_FDNAME_PREFIX, generation);
        list_for_each_entry(p, &a->peers, link)
                add_fd(b, dup(p->fd), STATE_CLIENT_FDNAME_PREFIX, p->id);
        ck_assert_int_eq(state_restore(b), 0);
        for (size_t i = 0; i < n; i++) {
                HashNode *node = hashtable_first(&b->peers_by_id, clients[i]->id);
                clients[i]->broker = b;
                clients[i]->peer = node ? container_of(node, Peer, by_id) : NULL;
        }
        a->stopping = true;
        broker_free(a);
        tb_run(b);
        return b;
}

static void assert_deliver(const SbFrame *f, uint32_t signo, const char *payload, uint64_t seq, uint32_t merged) {
        ck_assert_int_eq(f->type, SB_MSG_DELIVER);
        ck_assert_uint_eq(f->deliver.signo, signo);
        ck_assert_uint_eq(f->deliver.seq, seq);
        ck_assert_uint_eq(f->deliver.merged, merged);
        ck_assert_uint_eq(f->deliver.payload_len, strlen(payload));
        ck_assert(memcmp(f->deliver.payload, payload, strlen(payload)) == 0);
}

static SbResult broadcast(TestClient *c, uint32_t signo, uint8_t priority, const char *payload) {
        return tb_send(c, signo, priority, SB_TARGET_BROADCAST, 0, NULL, payload);
}

START_TEST(test_clients_ids_hello_window) {
        Broker *b = first_broker(0);
        TestClient *c1 = tb_connect(b, 7), *c2 = tb_connect(b, 0), *raw = tb_connect_raw(b, NULL);
        TestClient *gone = tb_connect(b, 0);
        TestClient *all[] = { c1, c2, raw, gone };
        uint64_t ids[4];

        for (size_t i = 0; i < 4; i++)
                ids[i] = all[i]->peer->id;
        close(gone->fd);
        tb_run(b);
        gone->fd = -1;
        gone->peer = NULL;
        ck_assert_ptr_null(hashtable_first(&b->peers_by_id, ids[3]));

        b = restart(b, all, 4);
        ck_assert_uint_eq(b->n_peers, 3);
        ck_assert_ptr_null(gone->peer);
        for (size_t i = 0; i < 3; i++) {
                ck_assert_ptr_nonnull(all[i]->peer);
                ck_assert_uint_eq(all[i]->peer->id, ids[i]);
                ck_assert_uint_eq(all[i]->peer->uid, 0);
                ck_assert_int_eq(all[i]->peer->pid, getpid());
        }
        ck_assert(c1->peer->hello);
        ck_assert_uint_eq(c1->peer->window, 7);
        ck_assert(c2->peer->hello);
        ck_assert_uint_eq(c2->peer->window, b->limits.default_window);
        ck_assert(!raw->peer->hello);

        /* The client that had not said hello yet may now, under its id. */
        {
                SbFrame f = { .type = SB_MSG_HELLO }, got[2];
                tb_send_frame(raw, &f);
                ck_assert_uint_eq(tb_read(raw, got, 2), 1);
                ck_assert_int_eq(got[0].type, SB_MSG_WELCOME);
                ck_assert_uint_eq(got[0].welcome.client_id, ids[2]);
        }
        /* A new client's id is none given before the restart, not even
         * that of the client that left (the highest). */
        {
                TestClient *fresh = tb_connect(b, 0);
                for (size_t i = 0; i < 4; i++)
                        ck_assert_uint_gt(fresh->peer->id, ids[i]);
                tb_close(fresh);
        }
        for (size_t i = 0; i < 3; i++)
                tb_close(all[i]);
        free(gone);
        tb_broker_free(b);
}
END_TEST

START_TEST(test_subscriptions_blocks_groups) {
        Broker *b = first_broker(0);
        TestClient *r = tb_connect(b, 0), *s = tb_connect(b, 0);
        TestClient *all[] = { r, s };
        SbFrame d[8];

        ck_assert_int_eq(tb_subscribe(r, SB_SIGMASK(USR1) | SB_SIGMASK(USR2), 0), 0);
        ck_assert_int_eq(tb_subscribe(r, SB_SIGMASK(RTMIN), SB_SUBSCRIBE_DROP_OLDEST), 0);
        {
                SbFrame f = { .type = SB_MSG_UNSUBSCRIBE, .subscribe = { .mask = SB_SIGMASK(USR2) } };
                ck_assert_int_eq(tb_wait_answer(r, tb_send_frame(r, &f)).reply.error, 0);
        }
        ck_assert_int_eq(tb_block(r, SB_SIGMASK(USR1)), 0);
        ck_assert_int_eq(tb_join(r, "web"), 0);
        ck_assert_int_eq(tb_join(r, "db"), 0);
        ck_assert_int_eq(tb_leave(r, "db"), 0);
        ck_assert_int_eq(tb_join(s, "db"), 0);

        b = restart(b, all, 2);
        ck_assert_uint_eq(r->peer->subscribed, SB_SIGMASK(USR1) | SB_SIGMASK(RTMIN));
        ck_assert_uint_eq(r->peer->drop_oldest, SB_SIGMASK(RTMIN));
        ck_assert_uint_eq(r->peer->blocked, SB_SIGMASK(USR1));
        ck_assert_uint_eq(r->peer->n_memberships, 1);
        ck_assert_uint_eq(s->peer->n_memberships, 1);
        ck_assert_uint_eq(b->n_groups, 2);

        /* And they work: the indexes were rebuilt, not just the masks. */
        ck_assert_int_eq(tb_send(s, USR1, 0, SB_TARGET_GROUP, 0, "web", NULL).queued, 1);
        ck_assert_int_eq(tb_send(s, USR1, 0, SB_TARGET_GROUP, 0, "db", NULL).error, ESRCH);
        ck_assert_int_eq(broadcast(s, USR2, 0, NULL).error, ESRCH);
        ck_assert_int_eq(broadcast(s, RTMIN, 0, "rt").queued, 1);
        /* USR1 is held: only the RTMIN comes. */
        ck_assert_uint_eq(tb_deliveries(r, d, 8), 1);
        assert_deliver(&d[0], RTMIN, "rt", 1, 0);
        ck_assert_int_eq(tb_block(r, 0), 0);
        ck_assert_uint_eq(tb_deliveries(r, d, 8), 1);
        assert_deliver(&d[0], USR1, "", 2, 0);
        tb_close(r);
        tb_close(s);
        ck_assert_uint_eq(b->n_groups, 0);
        tb_broker_free(b);
}
END_TEST

/* Pending signals keep payload, priority, merges and order, across two
 * restarts (the second replays the compacted journal the first wrote). */
START_TEST(test_pending_signals) {
        Broker *b = first_broker(0);
        TestClient *r = tb_connect(b, 0), *s = tb_connect(b, 0);
        TestClient *all[] = { r, s };
        uint64_t mask = SB_SIGMASK(USR1) | SB_SIGMASK(36) | SB_SIGMASK(40);
        uint64_t bytes;
        SbFrame d[8];

        ck_assert_int_eq(tb_subscribe(r, mask, 0), 0);
        ck_assert_int_eq(tb_block(r, mask), 0);
        ck_assert_uint_eq(broadcast(s, 40, 0, "a").queued, 1);
        ck_assert_uint_eq(broadcast(s, USR1, 0, "b").queued, 1);
        ck_assert_uint_eq(broadcast(s, USR1, 0, "x").merged, 1);
        ck_assert_uint_eq(broadcast(s, 36, 70, "c").queued, 1);
        ck_assert_uint_eq(broadcast(s, 40, 0, "d").queued, 1);
        ck_assert_uint_eq(b->total_pending, 4);
        bytes = b->total_bytes;

        b = restart(b, all, 2);
        ck_assert_uint_eq(b->total_pending, 4);
        ck_assert_uint_eq(b->total_bytes, bytes);
        /* The restored USR1 is still the pending one to merge into. */
        ck_assert_uint_eq(broadcast(s, USR1, 90, "y").merged, 1);
        b = restart(b, all, 2);
        ck_assert_uint_eq(b->total_pending, 4);

        ck_assert_int_eq(tb_block(r, 0), 0);
        ck_assert_uint_eq(tb_deliveries(r, d, 8), 4);
        /* The merge raised USR1 to priority 90. */
        assert_deliver(&d[0], USR1, "b", 1, 2);
        ck_assert_uint_eq(d[0].deliver.priority, 90);
        assert_deliver(&d[1], 36, "c", 2, 0);
        ck_assert_uint_eq(d[1].deliver.priority, 70);
        assert_deliver(&d[2], 40, "a", 3, 0);
        assert_deliver(&d[3], 40, "d", 4, 0);
        for (size_t i = 0; i < 4; i++) {
                ck_assert_uint_eq(d[i].deliver.sender_client_id, s->peer->id);
                ck_assert_uint_eq(d[i].deliver.sender_pid, (uint32_t) getpid());
        }
        ck_assert_uint_eq(b->total_pending, 0);
        ck_assert_uint_eq(b->total_bytes, 0);
        tb_close(r);
        tb_close(s);
        tb_broker_free(b);
}
END_TEST

/* A delivery written before the restart is not written again; the window
 * it took is still taken until acknowledged. */
START_TEST(test_written_once) {
        Broker *b = first_broker(0);
        TestClient *r = tb_connect(b, 2), *s = tb_connect(b, 0);
        TestClient *all[] = { r, s };
        char payload[4];
        SbFrame d[8];

        ck_assert_int_eq(tb_subscribe(r, SB_SIGMASK(RTMIN), 0), 0);
        for (int i = 1; i <= 5; i++) {
                snprintf(payload, sizeof(payload), "%d", i);
                ck_assert_uint_eq(broadcast(s, RTMIN, 0, payload).queued, 1);
        }
        /* Two are in r's socket, unread, three pending. */
        b = restart(b, all, 2);
        ck_assert_uint_eq(r->peer->in_flight, 2);
        ck_assert_uint_eq(r->peer->seq, 2);
        ck_assert_uint_eq(b->total_pending, 3);
        ck_assert_uint_eq(tb_deliveries(r, d, 8), 2);
        assert_deliver(&d[0], RTMIN, "1", 1, 0);
        assert_deliver(&d[1], RTMIN, "2", 2, 0);
        tb_ack(r, 2);
        ck_assert_uint_eq(tb_deliveries(r, d, 8), 2);
        assert_deliver(&d[0], RTMIN, "3", 3, 0);
        assert_deliver(&d[1], RTMIN, "4", 4, 0);
        /* An acknowledgement is journaled too. */
        tb_ack(r, 1);
        b = restart(b, all, 2);
        ck_assert_uint_eq(r->peer->in_flight, 2);
        ck_assert_uint_eq(tb_deliveries(r, d, 8), 1);
        assert_deliver(&d[0], RTMIN, "5", 5, 0);
        ck_assert_uint_eq(tb_deliveries(r, d, 8), 0);
        tb_close(r);
        tb_close(s);
        tb_broker_free(b);
}
END_TEST

/* Drop-oldest losses and their gap records: nothing lost twice, none
 * reported twice. */
START_TEST(test_drops_and_gaps) {
        Broker *b = first_broker(2);
        TestClient *r = tb_connect(b, 0), *s = tb_connect(b, 0);
        TestClient *all[] = { r, s };
        char payload[4];
        SbFrame d[8];
        uint32_t lost = 0;
        size_t n, gaps = 0;

        ck_assert_int_eq(tb_subscribe(r, SB_SIGMASK(RTMIN), SB_SUBSCRIBE_DROP_OLDEST), 0);
        ck_assert_int_eq(tb_block(r, SB_SIGMASK(RTMIN)), 0);
        for (int i = 1; i <= 4; i++) {
                snprintf(payload, sizeof(payload), "%d", i);
                ck_assert_uint_eq(broadcast(s, RTMIN, 0, payload).queued, 1);
        }
        b = restart(b, all, 2);
        ck_assert_uint_eq(b->total_pending, 2);
        ck_assert_int_eq(tb_block(r, 0), 0);
        n = tb_deliveries(r, d, 8);
        for (; gaps < n && d[gaps].type == SB_MSG_GAP; gaps++) {
                ck_assert_uint_eq(d[gaps].gap.seq, gaps + 1);
                lost += d[gaps].gap.lost;
        }
        ck_assert_uint_eq(lost, 2);
        ck_assert_uint_eq(n, gaps + 2);
        assert_deliver(&d[gaps], RTMIN, "3", gaps + 1, 0);
        assert_deliver(&d[gaps + 1], RTMIN, "4", gaps + 2, 0);
        tb_close(r);
        tb_close(s);
        tb_broker_free(b);
}
END_TEST

/* Something named like a journal that is not one: the broker starts
 * without the clients, and lets go of their connections. */
START_TEST(test_not_a_journal) {
        Broker *b = journaling_broker(0);
        int sv[2], junk = memfd_create("junk", MFD_CLOEXEC);
        char byte;

        ck_assert_int_ge(junk, 0);
        ck_assert_int_eq(write(junk, "not a journal at all, just text", 31), 31);
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
        add_fd(b, junk, STATE_FDNAME_PREFIX, 1);
        add_fd(b, sv[0], STATE_CLIENT_FDNAME_PREFIX, 1);
        ck_assert_int_eq(state_restore(b), 0);
        ck_assert_uint_eq(b->n_peers, 0);
        ck_assert_uint_eq(b->total_pending, 0);
        /* The connection was closed, the client told why first: one ERROR
         * frame, then the end of it. */
        {
                uint8_t buf[4096];
                ssize_t n = recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT);
                SbFrame f;
                size_t used;

                ck_assert_int_gt(n, 0);
                ck_assert_int_eq(sb_frame_parse_untrusted(buf, (size_t) n, &f, &used), 0);
                ck_assert_int_eq(f.type, SB_MSG_ERROR);
                ck_assert_int_eq(f.error.error, ECONNABORTED);
        }
        ck_assert_int_eq(recv(sv[1], &byte, 1, MSG_DONTWAIT), 0);
        /* A journal was written all the same, for the next restart. */
        {
                uint64_t generation;
                ck_assert_int_ge(state_journal_fd(b, &generation), 0);
                ck_assert_uint_eq(generation, 2);
        }
        close(sv[1]);
        tb_broker_free(b);
}
END_TEST

int main(void) {
        Suite *s = suite_create("journal");
        TCase *tc = tcase_create("replay");

        tcase_add_test(tc, test_clients_ids_hello_window);
        tcase_add_test(tc, test_subscriptions_blocks_groups);
        tcase_add_test(tc, test_pending_signals);
        tcase_add_test(tc, test_written_once);
        tcase_add_test(tc, test_drops_and_gaps);
        tcase_add_test(tc, test_not_a_journal);
        suite_add_tcase(s, tc);
        return unit_run(s);
}
