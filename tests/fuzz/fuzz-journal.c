/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The restart journal against the state it describes: any sequence of
 * client input is run through a broker that journals, then a second broker
 * is started from that journal and the same client connections, the way a
 * restarted sigbrokerd is, and the two must agree on every client's state
 * and every pending signal. A difference is a signal a restart would lose,
 * duplicate or reorder.
 *
 * Input: as fuzz-daemon's (2-byte little-endian packet lengths), with the
 * packets going alternately to two clients, so that signals cross.
 */

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker.h"
#include "fuzz.h"
#include "state.h"

#define SUMMARY_MAX (1 << 20)

static void quiet(int severity, const char *msg) {
        /* Two brokers have signal events in two bases; libevent warns. */
}

static Broker *new_broker(void) {
        BrokerOptions o = { .config_path = "/dev/null", .max_queue = 8, .max_payload = -1 };
        Broker *b = NULL;

        event_set_log_callback(quiet);
        if (broker_new(&o, &b, NULL) < 0)
                abort();
        b->journaling = true;   /* as under systemd; the fd store calls go nowhere */
        return b;
}

static int cmp_pending(const void *a, const void *b) {
        const Pending *x = *(Pending *const *) a, *y = *(Pending *const *) b;
        return x->order < y->order ? -1 : x->order > y->order;
}

static void summarize_queue(FILE *f, const Peer *p) {
        Pending *all[2 * 1024];
        size_t n = 0;

        for (uint32_t i = 0; i < p->queue.n && n < 2048; i++)
                all[n++] = p->queue.heap[i];
        for (uint32_t i = 0; i < p->held.n && n < 2048; i++)
                all[n++] = p->held.heap[i];
        qsort(all, n, sizeof(all[0]), cmp_pending);
        for (size_t i = 0; i < n; i++) {
                const Signal *s = all[i]->signal;
                fprintf(f, " [%llu %u p%u m%u from%llu len%u:", (unsigned long long) all[i]->order, s->signo,
                        all[i]->priority, all[i]->merged, (unsigned long long) s->sender_client_id, s->payload_len);
                fwrite(s->payload, 1, s->payload_len, f);
                fputc(']', f);
        }
}

/* Everything a restart must keep, in a canonical text form. */
static char *summarize(Broker *b) {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        Peer *p;

        list_for_each_entry(p, &b->peers, link) {
                Membership *m;
                fprintf(f, "peer %llu monitor=%llu hello=%d window=%u sub=%llx drop=%llx blocked=%llx in_flight=%u seq=%llu",
                        (unsigned long long) p->id, (unsigned long long) p->monitor_serial, p->hello, p->window, (unsigned long long) p->subscribed,
                        (unsigned long long) p->drop_oldest, (unsigned long long) p->blocked, p->in_flight,
                        (unsigned long long) p->seq);
                for (uint32_t s = 0; p->lost && s <= SB_SIGNO_MAX; s++)
                        if (p->lost[s])
                                fprintf(f, " lost%u=%u", s, p->lost[s]);
                list_for_each_entry(m, &p->memberships, peer_link)
                        fprintf(f, " group=%s", m->group->name);
                summarize_queue(f, p);
                /* A restored monitor's stream gets a new start event: its
                 * output legitimately differs. */
                if (!p->monitor) {
                        fprintf(f, " output=%u:", p->out_len - p->out_head);
                        if (p->out_len > p->out_head)
                                fwrite(p->out + p->out_head, 1, p->out_len - p->out_head, f);
                }
                fputc('\n', f);
        }
        fprintf(f, "pending=%u bytes=%llu\n", b->total_pending, (unsigned long long) b->total_bytes);
        fclose(f);
        return text;
}

static void run_loop(Broker *b, const int *client, int n) {
        static uint8_t buf[SB_PACKET_MAX];

        for (int i = 0; i < 4; i++) {
                event_base_loop(b->base, EVLOOP_NONBLOCK);
                /* Clients read nothing: what the broker wrote stays in their
                 * sockets, as it would across a restart. But keep the
                 * sockets from filling up so the broker is not blocked. */
                for (int c = 0; c < n; c++)
                        while (recv(client[c], buf, sizeof(buf), MSG_DONTWAIT) > 0)
                                ;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Broker *a = new_broker(), *b = new_broker();
        int sv[2][2], which = 0, fd;
        uint64_t generation;
        char *before, *after;
        Peer *p;

        if (state_restore(a) < 0)       /* nothing to restore: writes an empty journal */
                abort();
        for (int c = 0; c < 2; c++) {
                Peer *peer;
                if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv[c]) < 0 ||
                    peer_new(a, sv[c][0], &peer) < 0)
                        abort();
        }
        while (size > 0) {
                size_t len = size;
                if (size >= 2) {
                        len = (size_t) data[0] | (size_t) data[1] << 8;
                        data += 2;
                        size -= 2;
                        len = len > size ? size : len;
                }
                if (len > 0)
                        (void) send(sv[which][1], data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
                which ^= 1;
                data += len;
                size -= len;
                run_loop(a, (int[]) { sv[0][1], sv[1][1] }, 2);
        }

        /* The second broker gets what systemd would hand a new instance. */
        fd = state_journal_fd(a, &generation);
        if (fd < 0)
                abort();
        {
                char name[32];
                snprintf(name, sizeof(name), STATE_FDNAME_PREFIX "%llu", (unsigned long long) generation);
                state_restore_add_fd(b, dup(fd), name);
        }
        list_for_each_entry(p, &a->peers, link) {
                char name[32];
                snprintf(name, sizeof(name), STATE_CLIENT_FDNAME_PREFIX "%llu", (unsigned long long) p->id);
                state_restore_add_fd(b, dup(p->fd), name);
        }
        if (state_restore(b) < 0)
                abort();

        before = summarize(a);
        after = summarize(b);
        if (strcmp(before, after) != 0) {
                fprintf(stderr, "journal replay differs\nbefore:\n%s\nafter:\n%s\n", before, after);
                __builtin_trap();
        }
        free(before);
        free(after);

        a->stopping = b->stopping = true;
        broker_free(a);
        broker_free(b);
        for (int c = 0; c < 2; c++)
                close(sv[c][1]);
        return 0;
}
