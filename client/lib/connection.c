/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The connection: packets in and out, and the frames they carry turned into
 * handle state. Every socket call here is non-blocking (MSG_DONTWAIT) but
 * one: waiting for input with nothing left to write, which is a blocking
 * receive (sb_wait_input()). The other places that wait do so in
 * sb_poll(), and while they wait for room to write they keep reading,
 * because a daemon that cannot write to us may stop reading from us.
 */

#include <endian.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "internal.h"

uint64_t sb_now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

uint64_t sb_deadline(int64_t timeout_usec) {
        uint64_t now = sb_now_usec();

        if (timeout_usec < 0 || (uint64_t) timeout_usec >= USEC_INFINITY - now)
                return USEC_INFINITY;
        return now + (uint64_t) timeout_usec;
}

/* The connection is over: remember why (the first reason wins), drop what
 * was still to be written. What was already read stays consumable. */
void sb_fail(sigbroker *sb, int error) {
        assert(error < 0);

        if (sb->dead == 0) {
                sb->dead = error;
                /* On our side's errors, tell the daemon at once. */
                if (error != -ECONNRESET)
                        (void) shutdown(sb->fd, SHUT_RDWR);
        }
        sb->wlen = 0;
        sb->ack_offset = SIZE_MAX;
        sb->ack_written = 0;
        sb->ack_pending = 0;
}

static int protocol_error(sigbroker *sb) {
        sb_fail(sb, -EBADMSG);
        return -EBADMSG;
}

bool sb_output_pending(const sigbroker *sb) {
        return sb->dead == 0 && (sb->wlen > 0 || sb->ack_pending > 0);
}

/* Is the request with this serial (0: none) still waiting for its answer? */
static bool unanswered(const sigbroker *sb, uint64_t serial) {
        return serial != 0 && serial >= sb->reply_next;
}

/* Async sends not answered yet: all unanswered requests but the
 * synchronous one, the monitor stream and the SYNC, if they are among them. */
uint64_t sb_async_outstanding(const sigbroker *sb) {
        return sb->serial_next - sb->reply_next - unanswered(sb, sb->sync_serial) -
               unanswered(sb, sb->monitor_serial) - unanswered(sb, sb->flush_serial);
}

/* Ask for the held-back RESULTs: the REPLY to a SYNC comes after them. One
 * at a time is enough. */
int sb_request_results(sigbroker *sb) {
        SbFrame f = { .type = SB_MSG_SYNC };
        int r;

        if (sb->flush_serial != 0)
                return 0;
        f.serial = sb->serial_next;
        r = sb_append(sb, &f);
        if (r < 0)
                return r;
        sb->flush_serial = sb->serial_next++;
        return 0;
}

void sb_sync_reset(sigbroker *sb) {
        free(sb->sync.text);
        sb->sync = (SyncReply) {};
}

/* ---- output ---- */

/* Put the pending acknowledgements into the packet: into its ACK frame if
 * it has one, else as a new frame at the end (sb_append() kept room). */
static void put_ack(sigbroker *sb) {
        SbFrame f = { .type = SB_MSG_ACK };
        size_t offset = sb->ack_offset == SIZE_MAX ? sb->wlen : sb->ack_offset;
        ssize_t n;

        if (sb->ack_pending == 0)
                return;
        f.ack.count = sb->ack_written + sb->ack_pending;
        n = sb_frame_encode(&f, sb->wbuf + offset, SB_PACKET_MAX - offset);
        assert(n == SB_ACK_FRAME_SIZE);
        if (sb->ack_offset == SIZE_MAX) {
                sb->ack_offset = offset;
                sb->wlen += (size_t) n;
        }
        sb->ack_written = f.ack.count;
        sb->ack_pending = 0;
}

int sb_append(sigbroker *sb, SbFrame *frame) {
        size_t n = sb_frame_size(frame);
        size_t reserve = sb->ack_offset == SIZE_MAX ? SB_ACK_FRAME_SIZE : 0;
        ssize_t k;
        int r;

        if (sb->dead)
                return sb->dead;
        if (n > SB_PACKET_MAX - SB_ACK_FRAME_SIZE)
                return -EMSGSIZE;
        if (sb->wlen + n + reserve > SB_PACKET_MAX) {
                r = sb_flush(sb);
                if (r < 0)
                        return r;
        }
        k = sb_frame_encode(frame, sb->wbuf + sb->wlen, SB_PACKET_MAX - sb->wlen);
        if (k < 0)
                return (int) k;
        sb->wlen += (size_t) k;
        return 0;
}

/* Try once to write the packet. Returns 1 if nothing is left to write, 0 if
 * the socket is full, or a negative errno. */
int sb_write(sigbroker *sb) {
        ssize_t k;

        if (sb->dead)
                return sb->dead;
        put_ack(sb);
        if (sb->wlen == 0)
                return 1;

        k = send(sb->fd, sb->wbuf, sb->wlen, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                if (errno == EPIPE || errno == ECONNRESET) {
                        /* The daemon is gone; what it sent before going
                         * (deliveries, the ERROR saying why) is still to be
                         * read, up to the end of file. */
                        while (sb_read(sb) > 0)
                                ;
                        sb_fail(sb, -ECONNRESET);
                        return -ECONNRESET;
                }
                sb_fail(sb, -errno);
                return sb->dead;
        }
        /* A seqpacket send is all or nothing. */
        assert((size_t) k == sb->wlen);
        sb->wlen = 0;
        sb->ack_offset = SIZE_MAX;
        sb->ack_written = 0;
        return 1;
}

/* Write everything pending, waiting for room as long as the daemon makes
 * progress. */
int sb_flush(sigbroker *sb) {
        uint64_t deadline = sb_now_usec() + SB_REQUEST_TIMEOUT_USEC;
        int r;

        for (;;) {
                r = sb_write(sb);
                if (r != 0)
                        return r < 0 ? r : 0;
                while ((r = sb_read(sb)) > 0)
                        deadline = sb_now_usec() + SB_REQUEST_TIMEOUT_USEC;
                if (r < 0)
                        return r;
                r = sb_poll(sb, deadline);
                if (r == 0) {
                        sb_fail(sb, -ETIMEDOUT);
                        return -ETIMEDOUT;
                }
                if (r < 0 && r != -EINTR)
                        return r;
        }
}

/* Wait until the socket is readable, or writable if output is pending (and
 * then write it), or until deadline. Returns 1, 0 on timeout, or a
 * negative errno (-EINTR included). */
int sb_poll(sigbroker *sb, uint64_t deadline) {
        struct pollfd p = { .fd = sb->fd, .events = POLLIN };
        struct timespec ts, *tsp = NULL;
        int r;

        if (sb_output_pending(sb))
                p.events |= POLLOUT;
        if (deadline != USEC_INFINITY) {
                uint64_t now = sb_now_usec(), left = deadline > now ? deadline - now : 0;

                ts = (struct timespec) { .tv_sec = (time_t) (left / 1000000), .tv_nsec = (long) (left % 1000000) * 1000 };
                tsp = &ts;
        }
        r = ppoll(&p, 1, tsp, NULL);
        if (r < 0)
                return -errno;
        if (r == 0)
                return 0;
        if (p.revents & POLLNVAL)
                return -EBADF;
        if (p.revents & POLLOUT) {
                r = sb_write(sb);
                if (r < 0)
                        return r;
        }
        return 1;
}

/* ---- input ---- */

/* Answers come in request order: each must name the oldest request still
 * waiting. last: this answer completes it (DATA may come in chunks). */
/* Returns 0 for the answer expected next, 1 for one already had (a daemon
 * restarted from its journal may write again what it wrote just before it
 * died: skip it), or a protocol error. */
static int take_answer(sigbroker *sb, uint64_t serial, bool last) {
        if (serial < sb->reply_next)
                return 1;
        if (serial != sb->reply_next || serial >= sb->serial_next)
                return protocol_error(sb);
        if (last)
                sb->reply_next++;
        return 0;
}

static int results_push(sigbroker *sb, const ResultRecord *rec) {
        if (sb->n_results == sb->results_size) {
                size_t size = sb->results_size ? sb->results_size * 2 : 64;
                ResultRecord *n = malloc(size * sizeof(*n));

                if (!n)
                        return -ENOMEM;
                for (size_t i = 0; i < sb->n_results; i++)
                        n[i] = sb->results[(sb->results_head + i) % sb->results_size];
                free(sb->results);
                sb->results = n;
                sb->results_head = 0;
                sb->results_size = size;
        }
        sb->results[(sb->results_head + sb->n_results) % sb->results_size] = *rec;
        sb->n_results++;
        return 0;
}

static int on_async_result(sigbroker *sb, uint64_t serial, const SbResult *res) {
        ResultRecord rec = {
                .serial = serial,
                .error = sb_errno_from_wire(res->error),
                .result = { res->queued, res->merged, res->refused, res->denied },
        };
        sigbroker_batch_result *t = &sb->totals;

        t->sends++;
        if (rec.error == 0)
                t->delivered++;
        else {
                t->failed++;
                if (t->first_error == 0)
                        t->first_error = rec.error;
        }
        t->queued += res->queued;
        t->merged += res->merged;
        t->refused += res->refused;
        t->denied += res->denied;

        if (sb->result_fn && results_push(sb, &rec) < 0) {
                /* A result the caller asked for cannot be kept: better
                 * to say so loudly than to lose it. */
                sb_fail(sb, -ENOMEM);
                return -ENOMEM;
        }
        return 0;
}

static int on_result(sigbroker *sb, const SbResult *res) {
        int r = take_answer(sb, res->reply_serial, true);

        if (r != 0)
                return r < 0 ? r : 0;
        if (res->reply_serial != sb->sync_serial)
                return on_async_result(sb, res->reply_serial, res);
        if (sb->sync.type != SB_MSG_RESULT)
                return protocol_error(sb);
        sb->sync.error = sb_errno_from_wire(res->error);
        sb->sync.result = (sigbroker_send_result) { res->queued, res->merged, res->refused, res->denied };
        sb->sync.done = true;
        return 0;
}

static int on_reply(sigbroker *sb, const SbReply *reply) {
        int r = take_answer(sb, reply->reply_serial, true);

        if (r != 0)
                return r < 0 ? r : 0;
        if (reply->reply_serial == sb->flush_serial) {
                sb->flush_serial = 0;
                return 0;
        }
        if (reply->reply_serial != sb->sync_serial || sb->sync.type != SB_MSG_REPLY)
                return protocol_error(sb);
        sb->sync.error = sb_errno_from_wire(reply->error);
        sb->sync.done = true;
        return 0;
}

static int on_monitor_data(sigbroker *sb, const SbData *d, bool last) {
        int r;

        if (d->error != 0)
                sb->monitor_stop = sb_errno_from_wire(d->error);
        else if (d->data_len > 0 && sb->monitor_fn && sb->monitor_stop == 1) {
                r = sb->monitor_fn(sb, d->data, d->data_len, sb->monitor_userdata);
                if (r != 0)
                        sb->monitor_stop = r < 0 ? r : 0;
        }
        if (last) {
                /* The daemon ended the stream: the handle is free again. */
                sb->monitor_serial = 0;
                if (sb->monitor_stop == 1)
                        sb->monitor_stop = 0;
        }
        return 0;
}

static int on_data(sigbroker *sb, const SbData *d) {
        bool last = !(d->flags & SB_DATA_MORE);
        SyncReply *s = &sb->sync;
        int r = take_answer(sb, d->reply_serial, last);

        if (r != 0)
                return r < 0 ? r : 0;
        if (d->reply_serial == sb->monitor_serial)
                return on_monitor_data(sb, d, last);
        if (d->reply_serial != sb->sync_serial || s->type != SB_MSG_DATA)
                return protocol_error(sb);

        if (d->error != 0 && s->error == 0)
                s->error = sb_errno_from_wire(d->error);
        if (s->text_len + d->data_len + 1 > s->text_size) {
                size_t need = s->text_len + d->data_len + 1;
                size_t size = need * 2 < SB_QUERY_TEXT_MAX ? need * 2 : SB_QUERY_TEXT_MAX;
                char *n;

                if (need > SB_QUERY_TEXT_MAX) {
                        sb_fail(sb, -EFBIG);
                        return -EFBIG;
                }
                n = realloc(s->text, size);
                if (!n) {
                        sb_fail(sb, -ENOMEM);
                        return -ENOMEM;
                }
                s->text = n;
                s->text_size = size;
        }
        if (d->data_len > 0)
                memcpy(s->text + s->text_len, d->data, d->data_len);
        s->text_len += d->data_len;
        s->text[s->text_len] = '\0';
        s->done = last;
        return 0;
}

bool sb_deliver_is_valid(const SbDeliver *d) {
        return d->signo >= 1 && d->signo <= SB_SIGNO_MAX && d->priority <= SB_PRIORITY_MAX;
}

void sb_info_from_deliver(const SbDeliver *d, sigbroker_info *ret) {
        *ret = (sigbroker_info) {
                .signo = (int) d->signo,
                .priority = d->priority,
                .sender_pid = (pid_t) d->sender_pid,
                .sender_uid = (uid_t) d->sender_uid,
                .sender_gid = (gid_t) d->sender_gid,
                .sender_client_id = d->sender_client_id,
                .realtime_ns = d->realtime_ns,
                .monotonic_ns = d->monotonic_ns,
                .seq = d->seq,
                .merged = d->merged,
                .payload = d->payload,
                .payload_len = d->payload_len,
        };
}

void sb_info_from_gap(const SbGap *g, sigbroker_info *ret) {
        *ret = (sigbroker_info) { .signo = (int) g->signo, .gap = true, .lost = g->lost, .seq = g->seq,
                                  .record = SIGBROKER_RECORD_GAP };
}

/* Deliveries and gaps that are not consumed straight from the packet (read
 * while something else was awaited, or blocked) are copied into the queue. */
static int queue_info(sigbroker *sb, const sigbroker_info *info) {
        Entry *e = sb_queue_push(&sb->queue, info->payload_len);

        if (!e) {
                sb_fail(sb, -ENOMEM);
                return -ENOMEM;
        }
        e->info = *info;
        e->info.payload = e->data;
        if (info->payload_len > 0)
                memcpy(e->data, info->payload, info->payload_len);
        if (sb->blocked & SB_SIGMASK(info->signo))
                sb_entry_credit(sb, e);
        return 0;
}

/* Sequence numbers count up by one per delivery or gap. One we have seen
 * is a repeat by a daemon restarted from its journal, which wrote it just
 * before it died: the signal was had once already, so only its window
 * credit is given back. */
bool sb_seen_before(sigbroker *sb, uint64_t seq) {
        if (seq > sb->last_seq) {
                sb->last_seq = seq;
                return false;
        }
        sb->ack_pending++;
        return true;
}

static int on_deliver(sigbroker *sb, const SbDeliver *d) {
        sigbroker_info info;

        if (!sb_deliver_is_valid(d))
                return protocol_error(sb);
        if (sb_seen_before(sb, d->seq))
                return 0;
        sb_info_from_deliver(d, &info);
        return queue_info(sb, &info);
}

static int on_gap(sigbroker *sb, const SbGap *g) {
        sigbroker_info info;

        if (g->signo < 1 || g->signo > SB_SIGNO_MAX)
                return protocol_error(sb);
        if (sb_seen_before(sb, g->seq))
                return 0;
        sb_info_from_gap(g, &info);
        return queue_info(sb, &info);
}

static int on_welcome(sigbroker *sb, const SbWelcome *w) {
        if (!sb->handshake && w->client_id == sb->client_id)
                return 0;       /* written again by a restarted daemon */
        if (!sb->handshake || sb->sync.type != SB_MSG_WELCOME)
                return protocol_error(sb);
        sb->handshake = false;
        sb->client_id = w->client_id;
        sb->pid = w->pid;
        sb->uid = w->uid;
        sb->gid = w->gid;
        sb->max_payload = w->max_payload;
        sb->max_queue = w->max_queue;
        sb->window = w->window;
        sb->features = w->features;
        sb->reply_next = sb->serial_next;       /* HELLO was all we sent */
        sb->sync.done = true;
        return 0;
}

static int on_error(sigbroker *sb, const SbError *e) {
        free(sb->disconnect_text);
        sb->disconnect_text = strndup(e->text ? e->text : "", e->text_len);
        sb->disconnect_error = e->error > 0 ? e->error : EPROTO;
        /* Nothing follows an ERROR but the end of the connection. */
        sb_fail(sb, -ECONNRESET);
        return -ECONNRESET;
}

int sb_process_frame(sigbroker *sb, const SbFrame *f) {
        if (sb->handshake && f->type != SB_MSG_WELCOME && f->type != SB_MSG_ERROR)
                return protocol_error(sb);

        switch (f->type) {
        case SB_MSG_WELCOME:
                return on_welcome(sb, &f->welcome);
        case SB_MSG_DELIVER:
                return on_deliver(sb, &f->deliver);
        case SB_MSG_GAP:
                return on_gap(sb, &f->gap);
        case SB_MSG_RESULT:
                return on_result(sb, &f->result);
        case SB_MSG_REPLY:
                return on_reply(sb, &f->reply);
        case SB_MSG_DATA:
                return on_data(sb, &f->data);
        case SB_MSG_ERROR:
                return on_error(sb, &f->error);
        default:
                /* A request type: the daemon never sends those. */
                return protocol_error(sb);
        }
}

/* The next frame of the packet in rbuf. Returns 1 with *ret filled (its
 * pointers into rbuf), 0 at the end of the packet, or a negative errno. */
int sb_next_frame(sigbroker *sb, SbFrame *ret) {
        size_t used;

        if (sb->dead || sb->rpos >= sb->rlen) {
                sb->rpos = sb->rlen;
                return 0;
        }
        if (sb_frame_parse_untrusted(sb->rbuf + sb->rpos, sb->rlen - sb->rpos, ret, &used) != SB_PARSE_OK) {
                sb->rpos = sb->rlen;
                return protocol_error(sb);
        }
        sb->rpos += used;
        return 1;
}

/* Process what is left of the packet in rbuf. */
static void process_rest(sigbroker *sb) {
        SbFrame f;

        while (sb_next_frame(sb, &f) > 0)
                (void) sb_process_frame(sb, &f);
}

/* Receive one packet into rbuf, whose frames must all have been taken.
 * flags: MSG_DONTWAIT, or 0 to wait as SO_RCVTIMEO allows. Returns 1, 0 if
 * none was there, -EINTR if a signal interrupted a wait, or a negative
 * errno once the connection is over. */
static int receive(sigbroker *sb, int flags) {
        struct iovec iov = { .iov_base = sb->rbuf, .iov_len = SB_PACKET_MAX };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t k;

        assert(sb->rpos == sb->rlen);
        if (sb->dead)
                return sb->dead;

        k = recvmsg(sb->fd, &mh, flags | MSG_CMSG_CLOEXEC);
        if (k < 0) {
                if (errno == EINTR && !(flags & MSG_DONTWAIT))
                        return -EINTR;
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                sb_fail(sb, errno == ECONNRESET ? -ECONNRESET : -errno);
                return sb->dead;
        }
        if (k == 0) {
                sb_fail(sb, -ECONNRESET);
                return sb->dead;
        }
        if (mh.msg_flags & MSG_TRUNC)
                return protocol_error(sb);
        sb->rpos = 0;
        sb->rlen = (size_t) k;
        return 1;
}

/* Receive one packet without waiting: 1, 0 if none was there, or a
 * negative errno once the connection is over. */
int sb_receive(sigbroker *sb) {
        return receive(sb, MSG_DONTWAIT);
}

/* Receive one packet, waiting until deadline, with one blocking recvmsg():
 * one system call whether a packet is there or not, where trying, polling
 * and trying again take three, and the woken process goes straight on
 * with the packet instead of back into the kernel to fetch it. The socket
 * stays in blocking mode for this alone. SO_RCVTIMEO bounds the wait, and
 * also makes a signal handler interrupt it even with SA_RESTART, as ppoll()
 * does. It is set somewhat short of the time left, so that the next waits
 * (each with its own deadline) can keep it: waking up early only means
 * polling for the rest, as does a socket someone made non-blocking. */
static int receive_until(sigbroker *sb, uint64_t deadline) {
        uint64_t left = SB_RCVTIMEO_MAX_USEC;
        int r;

        if (deadline != USEC_INFINITY) {
                uint64_t now = sb_now_usec();

                if (now >= deadline)
                        return sb_receive(sb);
                if (deadline - now < left)
                        left = deadline - now;
        }
        if (sb->rcvtimeo_usec == 0 || sb->rcvtimeo_usec > left) {
                uint64_t t = left - left / 8;
                struct timeval tv = { .tv_sec = (time_t) (t / 1000000), .tv_usec = (suseconds_t) (t % 1000000) };

                if (t == 0 || setsockopt(sb->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
                        t = 0;
                sb->rcvtimeo_usec = t;
        }
        if (sb->rcvtimeo_usec > 0) {
                r = receive(sb, 0);
                if (r != 0)
                        return r;
        }
        r = sb_poll(sb, deadline);
        return r <= 0 ? r : sb_receive(sb);
}

/* Write what is pending, then wait until deadline for a packet and receive
 * it. Returns 1 if one was read, 0 if none was there (the deadline may have
 * passed), -EINTR, or a negative errno once the connection is over. */
int sb_wait_input(sigbroker *sb, uint64_t deadline) {
        int r;

        if (sb_output_pending(sb)) {
                r = sb_write(sb);
                if (r < 0)
                        return r;
                if (r == 0) {
                        /* The socket is full: wait for room or input. */
                        r = sb_poll(sb, deadline);
                        return r <= 0 ? r : sb_receive(sb);
                }
        }
        return receive_until(sb, deadline);
}

/* Process the rest of the current packet, then read and process one more,
 * without waiting. Returns 1 if one was read (even if it ended the
 * connection), 0 if none was there, or a negative errno once the
 * connection is over. */
int sb_read(sigbroker *sb) {
        int r;

        process_rest(sb);
        r = sb_receive(sb);
        if (r > 0)
                process_rest(sb);
        return r;
}

/* Send one request and wait for its answer (into sb->sync). */
int sb_call(sigbroker *sb, SbFrame *frame) {
        uint64_t deadline;
        uint8_t expect;
        int r;

        if (sb->dead)
                return sb->dead;
        if (sb->monitor_serial)
                return -EBUSY;

        switch (frame->type) {
        case SB_MSG_HELLO:
                expect = SB_MSG_WELCOME;
                break;
        case SB_MSG_SEND:
                expect = SB_MSG_RESULT;
                break;
        case SB_MSG_QUERY:
                expect = SB_MSG_DATA;
                break;
        default:
                expect = SB_MSG_REPLY;
        }

        frame->serial = sb->serial_next;
        r = sb_append(sb, frame);
        if (r < 0)
                return r;
        sb->serial_next++;
        sb_sync_reset(sb);
        sb->sync.type = expect;
        sb->sync_serial = frame->serial;

        r = sb_flush(sb);
        deadline = sb_now_usec() + SB_REQUEST_TIMEOUT_USEC;
        while (r >= 0 && !sb->sync.done) {
                /* What the packet still holds may be the answer. */
                process_rest(sb);
                if (sb->sync.done)
                        break;
                r = sb_wait_input(sb, deadline);
                if (r == -EINTR)
                        r = 0;
                if (r == 0 && sb_now_usec() >= deadline) {
                        sb_fail(sb, -ETIMEDOUT);
                        r = -ETIMEDOUT;
                }
        }
        sb->sync_serial = 0;
        return sb->sync.done ? 0 : (sb->dead ? sb->dead : r);
}
