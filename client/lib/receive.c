/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Receiving: sigbroker_wait(), handlers and sigbroker_dispatch(), the
 * blocked set, and returning window credit.
 *
 * Credit: the daemon has at most `window` deliveries (and gap records) in
 * flight to us until we acknowledge them. An entry's credit is returned when
 * it is consumed (returned by sigbroker_wait() or passed to a handler), or
 * as soon as it is held back because its signal is blocked, so that held
 * signals never use up the window. Credits are sent in one ACK when half
 * the window is owed, before waiting for input, at the end of each
 * dispatch, and otherwise with the next packet we write: an ACK of its own
 * for each signal consumed would cost a packet, and a daemon wakeup, per
 * signal (a request/answer exchange would pay twice the packets). Until
 * then at most half the window is owed: the daemon can write the rest.
 *
 * sigbroker_wait() takes deliveries straight from the packet just read,
 * without a copy. Deliveries read while something else was being read for
 * (a request's answer, a dispatch) or held back because blocked are copied
 * into the queue; the queue always holds older ones than the packet.
 */

#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>

#include "internal.h"

void sb_entry_credit(sigbroker *sb, Entry *e) {
        if (e->acked)
                return;
        e->acked = true;
        sb->queue.n_unacked--;
        sb->ack_pending++;
}

void sb_ack_maybe(sigbroker *sb) {
        uint32_t threshold = sb->window / 2 > 0 ? sb->window / 2 : 1;

        if (sb->ack_pending >= threshold)
                (void) sb_write(sb);
}

static bool is_blocked(const sigbroker *sb, int signo) {
        return sb->blocked & SB_SIGMASK(signo);
}

static Entry *first_unblocked(sigbroker *sb) {
        for (Entry *e = sb->queue.head; e; e = e->next)
                if (!is_blocked(sb, e->info.signo))
                        return e;
        return NULL;
}

static void release_current(sigbroker *sb) {
        sb_queue_release(&sb->queue, TAKE_PTR(sb->current));
}

/* The fast path of sigbroker_wait(): the next delivery of the packet just
 * read, consumed in place (the payload stays in the packet buffer until the
 * next call), no copy. Other frames are processed on the way; blocked
 * deliveries go to the queue. Returns the signo, or 0 when the packet is
 * used up. */
static int take_from_packet(sigbroker *sb, sigbroker_info *ret_info) {
        SbFrame f;

        while (sb_next_frame(sb, &f) > 0) {
                if (f.type == SB_MSG_DELIVER && sb_deliver_is_valid(&f.deliver) &&
                    !is_blocked(sb, (int) f.deliver.signo)) {
                        if (sb_seen_before(sb, f.deliver.seq))
                                continue;
                        sb_info_from_deliver(&f.deliver, ret_info);
                } else if (f.type == SB_MSG_GAP && f.gap.signo >= 1 && f.gap.signo <= SB_SIGNO_MAX &&
                           !is_blocked(sb, (int) f.gap.signo)) {
                        if (sb_seen_before(sb, f.gap.seq))
                                continue;
                        sb_info_from_gap(&f.gap, ret_info);
                } else {
                        (void) sb_process_frame(sb, &f);
                        continue;
                }
                sb->ack_pending++;
                return ret_info->signo;
        }
        return 0;
}

/* The current sigbroker_wait(); programs linked against LIBSIGBROKER_1 get
 * sigbroker_wait_v1() below. */
_public_ __attribute__((symver("sigbroker_wait@@LIBSIGBROKER_3")))
int sigbroker_wait_v3(sigbroker *sb, int64_t timeout_usec, sigbroker_info *ret_info) {
        uint64_t deadline = 0;  /* read the clock only if we wait: not once per signal */
        Entry *e;
        int r;

        assert_return(sb, -EINVAL);
        assert_return(ret_info, -EINVAL);
        if (sb->monitor_serial)
                return -EBUSY;

        release_current(sb);
        for (;;) {
                /* What the queue holds came before anything in the packet. */
                e = first_unblocked(sb);
                if (e) {
                        sb_entry_credit(sb, e);
                        sb_queue_unlink(&sb->queue, e);
                        sb->current = e;
                        sb_ack_maybe(sb);
                        *ret_info = e->info;
                        return e->info.signo;
                }
                r = take_from_packet(sb, ret_info);
                if (r > 0) {
                        sb_ack_maybe(sb);
                        return r;
                }

                if (deadline == 0)
                        deadline = sb_deadline(timeout_usec);
                r = sb_wait_input(sb, deadline);
                if (r > 0)
                        continue;
                if (r < 0)
                        return r;
                if (timeout_usec == 0 || sb_now_usec() >= deadline)
                        return -EAGAIN;
        }
}

/* A program built before LIBSIGBROKER_3 passes a sigbroker_info that ends
 * where `record` begins: fill only that much. Records it cannot tell apart
 * read as what it knows (an expiry as a gap, both have gap and lost set). */
#define SIGBROKER_INFO_V1_SIZE offsetof(sigbroker_info, record)

_public_ __attribute__((symver("sigbroker_wait@LIBSIGBROKER_1")))
int sigbroker_wait_v1(sigbroker *sb, int64_t timeout_usec, sigbroker_info *ret_info) {
        sigbroker_info info;
        int r;

        assert_return(ret_info, -EINVAL);
        r = sigbroker_wait_v3(sb, timeout_usec, &info);
        if (r >= 0)
                memcpy(ret_info, &info, SIGBROKER_INFO_V1_SIZE);
        return r;
}

_public_ int sigbroker_set_handler(sigbroker *sb, int signo, sigbroker_handler_t fn, void *userdata, unsigned flags) {
        assert_return(sb, -EINVAL);
        assert_return(signo >= 1 && signo <= SB_SIGNO_MAX, -EINVAL);
        assert_return((flags & ~SIGBROKER_HANDLER_ONESHOT) == 0, -EINVAL);

        sb->handlers[signo] = fn ? (Handler) { fn, userdata, flags } : (Handler) {};
        return 0;
}

_public_ int sigbroker_set_result_handler(sigbroker *sb, sigbroker_result_handler_t fn, void *userdata) {
        assert_return(sb, -EINVAL);

        sb->result_fn = fn;
        sb->result_userdata = userdata;
        if (!fn)
                sb->results_head = sb->n_results = 0;
        return 0;
}

/* Run the result handler for the async results kept so far. */
int sb_reap_results(sigbroker *sb) {
        int n = 0;

        while (sb->n_results > 0 && sb->result_fn) {
                ResultRecord rec = sb->results[sb->results_head];

                sb->results_head = (sb->results_head + 1) % sb->results_size;
                sb->n_results--;
                sb->result_fn(sb, rec.serial, rec.error, &rec.result, sb->result_userdata);
                n++;
        }
        return n;
}

static bool is_dispatchable(const sigbroker *sb, const Entry *e) {
        return !is_blocked(sb, e->info.signo) && sb->handlers[e->info.signo].fn;
}

/* Pass every entry that has a handler to it, in queue order. A handler may
 * call anything on the handle, sigbroker_wait() included, which can take
 * entries out of the queue: when the queue's generation moved, the walk
 * starts again from the head rather than trust a saved pointer. */
static int run_handlers(sigbroker *sb, int *n) {
        Entry *e, *next;

restart:
        for (e = sb->queue.head; e; e = next) {
                Handler h;
                uint64_t generation;
                int r;

                next = e->next;
                if (!is_dispatchable(sb, e))
                        continue;

                h = sb->handlers[e->info.signo];
                if (h.flags & SIGBROKER_HANDLER_ONESHOT)
                        sb->handlers[e->info.signo] = (Handler) {};
                sb_entry_credit(sb, e);
                sb_queue_unlink(&sb->queue, e);
                generation = sb->queue.generation;

                r = h.fn(sb, &e->info, h.userdata);
                sb_queue_release(&sb->queue, e);
                (*n)++;
                if (r < 0)
                        return r;
                if (sb->queue.generation != generation)
                        goto restart;
        }
        return 0;
}

_public_ int sigbroker_dispatch(sigbroker *sb) {
        int n = 0, r;

        assert_return(sb, -EINVAL);
        if (sb->monitor_serial)
                return -EBUSY;

        release_current(sb);
        for (int i = 0; i < SB_DISPATCH_READ_MAX; i++)
                if (sb_read(sb) <= 0)
                        break;

        n += sb_reap_results(sb);
        r = run_handlers(sb, &n);
        if (sb_output_pending(sb))
                (void) sb_write(sb);
        if (r < 0)
                return r;
        if (n == 0 && sb->dead)
                return sb->dead;
        return n;
}

_public_ int sigbroker_get_fd(sigbroker *sb) {
        assert_return(sb, -EINVAL);
        return sb->fd;
}

_public_ int sigbroker_get_events(sigbroker *sb) {
        assert_return(sb, -EINVAL);

        if (sb_output_pending(sb) || (sb->result_fn && sb->n_results > 0) || sb->rpos < sb->rlen)
                return POLLIN | POLLOUT;
        /* Work already read (while a request waited for its answer, say)
         * will not make the socket readable: ask for POLLOUT, which a
         * socket with room to write reports at once, so that the loop
         * calls sigbroker_dispatch() again without waiting. */
        for (Entry *e = sb->queue.head; e; e = e->next)
                if (is_dispatchable(sb, e))
                        return POLLIN | POLLOUT;
        return POLLIN;
}

_public_ int sigbroker_block(sigbroker *sb, int how, uint64_t mask, uint64_t *ret_old) {
        uint64_t old, new;
        SbFrame f = { .type = SB_MSG_BLOCK };
        int r;

        assert_return(sb, -EINVAL);

        old = sb->blocked;
        switch (how) {
        case SIG_BLOCK:
                new = old | mask;
                break;
        case SIG_UNBLOCK:
                new = old & ~mask;
                break;
        case SIG_SETMASK:
                new = mask;
                break;
        default:
                return -EINVAL;
        }

        /* Blocked here first, so that whatever arrives while the daemon
         * takes the request is held back too. */
        sb->blocked = new;
        f.block.mask = new;
        r = sb_call(sb, &f);
        if (r >= 0)
                r = sb->sync.error;
        if (r < 0) {
                sb->blocked = old;
                return r;
        }

        for (Entry *e = sb->queue.head; e; e = e->next)
                if (is_blocked(sb, e->info.signo))
                        sb_entry_credit(sb, e);
        sb_ack_maybe(sb);
        if (ret_old)
                *ret_old = old;
        return 0;
}
