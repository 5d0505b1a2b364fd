/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "json.h"
#include "monitor.h"
#include "util.h"

typedef struct Monitor {
        List link;                      /* Broker.monitors */
        Peer *peer;
        uint64_t missed;                /* events not sent since the last one that was */
} Monitor;

/* Room after an event's body for its last field, ,"missed":N} */
#define MISSED_SUFFIX_MAX 40

static const char *const outcome_names[_MONITOR_OUTCOME_MAX] = {
        [MONITOR_QUEUED] = "queued",
        [MONITOR_QUEUED_DROPPING] = "queued_dropping_oldest",
        [MONITOR_MERGED] = "merged",
        [MONITOR_REFUSED] = "refused",
        [MONITOR_DENIED] = "denied",
        [MONITOR_ALLOWED] = "allowed",
};


bool monitor_any(const Broker *b) {
        return !list_is_empty(&b->monitors);
}

static Monitor *monitor_find(Broker *b, const Peer *p) {
        Monitor *m;

        list_for_each_entry(m, &b->monitors, link)
                if (m->peer == p)
                        return m;
        return NULL;
}

/* Queue text (len bytes, with MISSED_SUFFIX_MAX bytes of room after it) to
 * monitor m, unless its backlog is too long already. */
static int monitor_send(Broker *b, Monitor *m, char *text, size_t len) {
        Peer *p = m->peer;
        SbFrame f = {
                .type = SB_MSG_DATA,
                .data = { .reply_serial = p->monitor_serial, .flags = SB_DATA_MORE, .data = text },
        };
        int n;

        if (peer_backlog(p) > PEER_OUT_SOFT_MAX) {
                m->missed++;
                b->metrics.monitor_missed++;
                return 0;
        }
        n = snprintf(text + len, MISSED_SUFFIX_MAX, ",\"missed\":%llu}", (unsigned long long) m->missed);
        f.data.data_len = (uint32_t) (len + (size_t) n);
        if (f.data.data_len > SB_DATA_MAX || peer_queue_frame(p, &f) < 0) {
                m->missed++;
                b->metrics.monitor_missed++;
                return -ENOMEM;
        }
        m->missed = 0;
        b->metrics.monitor_events++;
        return 0;
}

/* Close the memstream and make room for the missed suffix. */
static char *finish_text(FILE *f, char **text, size_t *len) {
        char *t;

        if (fclose(f) != 0)
                return NULL;
        t = realloc(*text, *len + MISSED_SUFFIX_MAX);
        if (!t)
                return NULL;
        return *text = t;
}

int monitor_start(Broker *b, Peer *p, uint64_t serial) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        Monitor *m;
        FILE *f;

        if (p->monitor)
                return 0;       /* one stream per connection: the first one goes on */
        m = calloc(1, sizeof(*m));
        f = m ? open_memstream(&text, &len) : NULL;
        if (!f) {
                free(m);
                return -ENOMEM;
        }
        fprintf(f, "{\"type\":\"start\",\"realtime_ns\":%llu", (unsigned long long) now_ns(CLOCK_REALTIME));
        if (!finish_text(f, &text, &len)) {
                free(m);
                return -ENOMEM;
        }
        m->peer = p;
        list_link_tail(&b->monitors, &m->link);
        p->monitor = true;
        p->monitor_serial = serial;
        if (monitor_send(b, m, text, len) < 0) {
                monitor_forget(b, p);
                return -ENOMEM;
        }
        return 0;
}

void monitor_forget(Broker *b, Peer *p) {
        Monitor *m;

        if (!p->monitor)
                return;
        m = monitor_find(b, p);
        if (m) {
                list_unlink(&m->link);
                free(m);
        }
        p->monitor = false;
}

void monitor_trace(MonitorTrace *t, const Peer *to, MonitorOutcome outcome) {
        if (t->n == t->cap) {
                uint32_t cap = t->cap ? t->cap * 2 : 16;
                MonitorReceiver *r;
                if (t->n >= MONITOR_RECEIVERS_MAX ||
                    !(r = realloc(t->receivers, MIN(cap, (uint32_t) MONITOR_RECEIVERS_MAX) * sizeof(*r)))) {
                        t->omitted++;
                        return;
                }
                t->receivers = r;
                t->cap = MIN(cap, (uint32_t) MONITOR_RECEIVERS_MAX);
        }
        t->receivers[t->n++] = (MonitorReceiver) { .peer = to, .outcome = outcome };
}

static void write_peer(FILE *f, const Peer *p) {
        fprintf(f, "{\"id\":%llu,\"pid\":%d,\"uid\":%u,\"gid\":%u,\"comm\":", (unsigned long long) p->id, (int) p->pid,
                (unsigned) p->uid, (unsigned) p->gid);
        json_string(f, p->comm);
}

static void write_target(FILE *f, const SbSend *s) {
        fputs("\"target\":{\"kind\":", f);
        if (s->target_kind < _SB_TARGET_MAX)
                json_string(f, sb_target_kind_to_string((int) s->target_kind));
        else
                fprintf(f, "%u", s->target_kind);
        if (s->target_kind == SB_TARGET_GROUP) {
                fputs(",\"name\":", f);
                json_string_n(f, s->group, s->group_len);
        } else if (s->target_kind != SB_TARGET_BROADCAST)
                fprintf(f, ",\"id\":%llu", (unsigned long long) s->target);
        fputc('}', f);
}

static void write_event(FILE *f, const Peer *sender, const SbSend *s, const SbResult *r, int error,
                        const MonitorTrace *t) {
        char name[16];
        const char *e = error ? strerrorname_np(error) : NULL;

        fprintf(f, "{\"type\":\"signal\",\"realtime_ns\":%llu,\"signo\":%u,\"name\":",
                (unsigned long long) now_ns(CLOCK_REALTIME), s->signo);
        if (sb_signal_is_valid(s->signo))
                json_string(f, sb_signal_to_string((int) s->signo, name));
        else
                fputs("null", f);
        fprintf(f, ",\"priority\":%u,\"payload_len\":%u,\"sender\":", s->priority, s->payload_len);
        write_peer(f, sender);
        fputs("},", f);
        write_target(f, s);
        fprintf(f, ",\"result\":{\"queued\":%u,\"merged\":%u,\"refused\":%u,\"denied\":%u,\"error\":", r->queued,
                r->merged, r->refused, r->denied);
        if (e)
                json_string(f, e);
        else if (error)
                fprintf(f, "\"%d\"", error);
        else
                fputs("null", f);
        fputs("},\"receivers\":[", f);
        for (uint32_t i = 0; i < t->n; i++) {
                fputs(i ? "," : "", f);
                write_peer(f, t->receivers[i].peer);
                fputs(",\"outcome\":", f);
                json_string(f, outcome_names[t->receivers[i].outcome]);
                fputc('}', f);
        }
        fprintf(f, "],\"receivers_omitted\":%u", t->omitted);
}

void monitor_routed(Broker *b, const Peer *sender, const SbSend *send, const SbResult *result, int error,
                    MonitorTrace *t) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        Monitor *m;
        FILE *f;

        f = open_memstream(&text, &len);
        if (f) {
                write_event(f, sender, send, result, error, t);
                if (!finish_text(f, &text, &len))
                        len = 0;
        }
        /* Out of memory, an event is missed like one a monitor did not
         * read, and its next event says so. */
        list_for_each_entry(m, &b->monitors, link)
                if (len > 0)
                        (void) monitor_send(b, m, text, len);
                else {
                        m->missed++;
                        b->metrics.monitor_missed++;
                }
        free(t->receivers);
        *t = (MonitorTrace) {};
}
