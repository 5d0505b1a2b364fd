/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The broker's side of each request a client may send, one handler per
 * message type, dispatched through a table indexed by SbMsgType. Frames
 * only the daemon sends are violations when they come from a client.
 */

#include <errno.h>

#include "broker.h"
#include "peer.h"
#include "state.h"

typedef int (*FrameHandler)(Peer *p, const SbFrame *f);

static int reply(Peer *p, const SbFrame *request, int error) {
        SbFrame f = {
                .type = SB_MSG_REPLY,
                .reply = { .reply_serial = request->serial, .error = error },
        };
        return peer_queue_frame(p, &f) < 0 ? -PEER_E_DISCONNECT : 0;
}

static int handle_hello(Peer *p, const SbFrame *f) {
        const Limits *l = &p->broker->limits;
        SbFrame w = { .type = SB_MSG_WELCOME };

        if (p->hello)
                return peer_violation(p, EPROTO, "second hello");
        p->hello = true;
        p->hello_features = f->hello.flags & SB_HELLO_FEATURES;
        list_unlink(&p->hello_link);
        p->window = f->hello.window ? MIN(f->hello.window, l->max_window) : l->default_window;
        w.welcome = (SbWelcome) {
                .client_id = p->id,
                .pid = (uint32_t) p->pid,
                .uid = p->uid,
                .gid = p->gid,
                .max_payload = l->max_payload,
                .max_queue = l->max_queue,
                .window = p->window,
                .features = p->hello_features ? BROKER_FEATURES : 0,
        };
        state_log_hello(p->broker, p);
        return peer_queue_frame(p, &w) < 0 ? -PEER_E_DISCONNECT : 0;
}

static int handle_subscribe(Peer *p, const SbFrame *f) {
        int r = broker_subscribe(p->broker, p, f->subscribe.mask, f->subscribe.flags);
        if (r >= 0)
                state_log_subscribe(p->broker, p, f->subscribe.mask, f->subscribe.flags);
        return reply(p, f, r < 0 ? -r : 0);
}

static int handle_unsubscribe(Peer *p, const SbFrame *f) {
        if (f->subscribe.flags != 0)
                return reply(p, f, EINVAL);
        broker_unsubscribe(p->broker, p, f->subscribe.mask);
        state_log_unsubscribe(p->broker, p, f->subscribe.mask);
        return reply(p, f, 0);
}

static int handle_send(Peer *p, const SbFrame *f) {
        return broker_handle_send(p->broker, p, f->serial, &f->send);
}

static int handle_ack(Peer *p, const SbFrame *f) {
        /* Acknowledging more than was written is harmless, not a violation:
         * the credit simply cannot go below zero. */
        metrics_acked(&p->broker->metrics, p, f->ack.count);
        p->in_flight -= MIN(p->in_flight, f->ack.count);
        state_log_ack(p->broker, p, f->ack.count);
        if (queue_length(&p->queue) > 0)
                peer_mark_dirty(p);
        return 0;
}

static int handle_join(Peer *p, const SbFrame *f) {
        int r = broker_join(p->broker, p, f->name.name, f->name.len);
        if (r >= 0)
                state_log_join(p->broker, p, f->name.name, f->name.len, true);
        return reply(p, f, r < 0 ? -r : 0);
}

static int handle_leave(Peer *p, const SbFrame *f) {
        int r = broker_leave(p->broker, p, f->name.name, f->name.len);
        if (r >= 0)
                state_log_join(p->broker, p, f->name.name, f->name.len, false);
        return reply(p, f, r < 0 ? -r : 0);
}

static int handle_set_window(Peer *p, const SbFrame *f) {
        const Limits *l = &p->broker->limits;

        p->window = f->window.window ? MIN(f->window.window, l->max_window) : l->default_window;
        state_log_window(p->broker, p);
        peer_mark_dirty(p);
        return reply(p, f, 0);
}

static void release_unblocked(Peer *p) {
        Queue keep = QUEUE_INIT;
        Pending *pe;

        /* Move back what is no longer blocked; the order keys make the
         * main queue put them where they would have been all along. */
        while ((pe = queue_pop(&p->held))) {
                Queue *to = (p->blocked & SB_SIGMASK(pe->signal->signo)) ? &keep : &p->queue;
                if (queue_push_pending(to, pe) < 0 && queue_push_pending(&p->queue, pe) < 0) {
                        broker_uncharge(p->broker, p, pe);
                        pending_free(pe);
                }
        }
        queue_release_idle(&p->held);   /* the array it may have kept */
        p->held = keep;
}

static int handle_block(Peer *p, const SbFrame *f) {
        p->blocked = f->block.mask;
        release_unblocked(p);
        state_log_block(p->broker, p);
        peer_mark_dirty(p);
        return reply(p, f, 0);
}

static int handle_query(Peer *p, const SbFrame *f) {
        return broker_handle_query(p->broker, p, f->serial, &f->query);
}

/* Answers come in request order, so this REPLY follows every answer owed
 * before it, held-back RESULTs included. */
static int handle_sync(Peer *p, const SbFrame *f) {
        return reply(p, f, 0);
}

static const FrameHandler handlers[_SB_MSG_MAX] = {
        [SB_MSG_HELLO] = handle_hello,
        [SB_MSG_SUBSCRIBE] = handle_subscribe,
        [SB_MSG_UNSUBSCRIBE] = handle_unsubscribe,
        [SB_MSG_SEND] = handle_send,
        [SB_MSG_ACK] = handle_ack,
        [SB_MSG_JOIN] = handle_join,
        [SB_MSG_LEAVE] = handle_leave,
        [SB_MSG_SET_WINDOW] = handle_set_window,
        [SB_MSG_BLOCK] = handle_block,
        [SB_MSG_QUERY] = handle_query,
        [SB_MSG_SYNC] = handle_sync,
};

int peer_handle_frame(Peer *p, const SbFrame *f) {
        FrameHandler h = handlers[f->type];

        if (!h)
                return peer_violation(p, EPROTO, "%s frames are sent by the daemon, not to it",
                                      sb_msg_type_to_string(f->type));
        if (!p->hello && f->type != SB_MSG_HELLO)
                return peer_violation(p, EPROTO, "%s before hello", sb_msg_type_to_string(f->type));
        return h(p, f);
}
