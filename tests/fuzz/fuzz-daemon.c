/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's per-connection input path, for real: one Broker for the
 * whole run, and for each input a fresh client connection (a socketpair,
 * so the peer's identity comes from the kernel as usual) that sends the
 * input as packets, with the event loop run after each so that replies,
 * deliveries to itself, flow control and disconnects all happen. At the end
 * every peer is gone and the broker must hold nothing: leaks show at exit.
 *
 * Input: a sequence of packets, each a 2-byte little-endian length and
 * that many bytes; what is left at the end is the last packet.
 */

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <event2/event.h>

#include "broker.h"
#include "fuzz.h"

static Broker *broker;

static void cleanup(void) {
        broker = broker_free(broker);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        BrokerOptions o = {
                .config_path = "/dev/null",
                .max_queue = 16,
                .max_payload = -1,
        };

        if (broker_new(&o, &broker, NULL) < 0)
                abort();
        atexit(cleanup);
        return 0;
}

static void drain(int fd) {
        static uint8_t buf[SB_PACKET_MAX];
        while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
                ;
}

static void run_loop(int fd) {
        /* A few rounds: reading input queues output, which the next round
         * flushes and the client side drains. */
        for (int i = 0; i < 4; i++) {
                event_base_loop(broker->base, EVLOOP_NONBLOCK);
                drain(fd);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        int sv[2];
        Peer *p;

        if (!broker)
                LLVMFuzzerInitialize(NULL, NULL);
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
                abort();
        if (peer_new(broker, sv[0], &p) < 0)
                abort();

        while (size > 0) {
                size_t len = size;
                if (size >= 2) {
                        len = (size_t) data[0] | (size_t) data[1] << 8;
                        data += 2;
                        size -= 2;
                        if (len > size)
                                len = size;
                }
                if (len > 0)
                        (void) send(sv[1], data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
                data += len;
                size -= len;
                run_loop(sv[1]);
        }
        close(sv[1]);
        run_loop(-1);
        while (!list_is_empty(&broker->peers))
                peer_free(list_entry(broker->peers.next, Peer, link));
        if (broker->total_pending != 0 || broker->total_bytes != 0 || broker->n_groups != 0)
                __builtin_trap();       /* something stayed charged after every peer left */
        return 0;
}
