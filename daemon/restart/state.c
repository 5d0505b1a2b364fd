/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The restart journal: see state.h for what it promises and why.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "broker.h"
#include "monitor.h"
#include "sb-build.h"
#include "state.h"
#include "user.h"
#include "util.h"

#define JOURNAL_MAGIC "SBJRNL01"
#define JOURNAL_INITIAL_SIZE (1u << 20)
#define JOURNAL_COMPACT_MIN (16u << 20)   /* compact once past this and 4x the last snapshot */
#define RESTORE_FDS_MAX 65536

typedef struct JournalHeader {
        char magic[8];
        uint64_t used;                  /* bytes of complete records, header included */
        uint64_t generation;
} JournalHeader;

typedef enum RecordType {
        R_PEER = 1,
        R_PEER_FREE,
        R_HELLO,
        R_SUBSCRIBE,
        R_UNSUBSCRIBE,
        R_BLOCK,
        R_WINDOW,
        R_JOIN,
        R_LEAVE,
        R_SIGNAL,
        R_ENQUEUE,
        R_MERGE,
        R_DROP,
        R_DELIVER,
        R_GAP,
        R_ACK,
        R_PEER_STATE,
        R_MONITOR,
        R_OUTPUT,                       /* control frames owed to a client */
        R_OUTPUT_WRITTEN,               /* ... and how many bytes of them were written */
        R_COUNTERS,                     /* the id counters (id: clients', mask: signals'), first in a snapshot */
        _R_MAX,
} RecordType;

typedef struct RecordHeader {
        uint32_t type;
        uint32_t len;                   /* body bytes; records are padded to 8 */
} RecordHeader;

/* Bodies: this machine's layout; a journal is only ever read back by the
 * same host, and the magic changes with the layout. */
typedef struct RecPeer { uint64_t id; uint64_t mask; uint32_t value; uint32_t flags; } RecPeer;
typedef struct RecName { uint64_t id; uint32_t len; char name[SB_GROUP_NAME_MAX]; } RecName;
typedef struct RecSignal {
        uint64_t signal_id;
        uint32_t signo, priority, sender_pid, sender_uid, sender_gid, payload_len;
        uint64_t sender_client_id, realtime_ns, monotonic_ns;
} RecSignal;
typedef struct RecPending { uint64_t id; uint64_t signal_id; uint64_t order; uint32_t merged; uint32_t priority; } RecPending;
typedef struct RecPeerState { uint64_t id; uint64_t seq; uint32_t in_flight; uint32_t lost[SB_SIGNO_MAX + 1]; } RecPeerState;

struct StateJournal {
        int fd;
        uint8_t *map;
        size_t size;
        uint64_t generation;
        uint64_t snapshot_size;         /* used right after the last compaction */
};

typedef struct RestoreFd {
        int fd;
        char *name;
        uint64_t client_id;             /* a client's connection (c<ID>), else 0 */
} RestoreFd;

/* Fds systemd handed back, until state_restore() has taken what it needs. */
struct StateRestore {
        RestoreFd *fds;
        size_t n_fds;
        RestoreFd **clients;            /* the client fds, by client id */
        size_t n_clients;
};

/* ---- the journal file ---- */

static JournalHeader *header(StateJournal *j) {
        return (JournalHeader *) j->map;
}

static int journal_new(uint64_t generation, StateJournal **ret) {
        StateJournal *j = calloc(1, sizeof(*j));

        if (!j)
                return -ENOMEM;
        j->generation = generation;
        j->fd = memfd_create("sigbroker-state", MFD_CLOEXEC);
        if (j->fd < 0 || ftruncate(j->fd, JOURNAL_INITIAL_SIZE) < 0) {
                int r = -errno;
                state_journal_free(j);
                return r;
        }
        j->size = JOURNAL_INITIAL_SIZE;
        j->map = mmap(NULL, j->size, PROT_READ | PROT_WRITE, MAP_SHARED, j->fd, 0);
        if (j->map == MAP_FAILED) {
                int r = -errno;
                j->map = NULL;
                state_journal_free(j);
                return r;
        }
        memcpy(header(j)->magic, JOURNAL_MAGIC, 8);
        header(j)->generation = generation;
        header(j)->used = sizeof(JournalHeader);
        *ret = j;
        return 0;
}

void state_free(Broker *b) {
        b->journal = state_journal_free(b->journal);
        if (b->restore) {
                for (size_t i = 0; i < b->restore->n_fds; i++) {
                        if (b->restore->fds[i].fd >= 0)
                                close(b->restore->fds[i].fd);
                        free(b->restore->fds[i].name);
                }
                free(b->restore->fds);
                free(b->restore->clients);
                free(b->restore);
                b->restore = NULL;
        }
}

StateJournal *state_journal_free(StateJournal *j) {
        if (!j)
                return NULL;
        if (j->map)
                munmap(j->map, j->size);
        if (j->fd >= 0)
                close(j->fd);
        free(j);
        return NULL;
}

static int journal_grow(StateJournal *j, size_t need) {
        size_t size = j->size;
        void *map;

        while (size < need)
                size *= 2;
        if (ftruncate(j->fd, (off_t) size) < 0)
                return -errno;
        map = mremap(j->map, j->size, size, MREMAP_MAYMOVE);
        if (map == MAP_FAILED)
                return -errno;
        j->map = map;
        j->size = size;
        return 0;
}

/* Hand fd to the store under a name. FDPOLL=0: systemd must keep it even
 * when the other end hangs up; we say when to let go (FDSTOREREMOVE). */
static void store_fd(int fd, const char *prefix, uint64_t n) {
        char msg[128];

        snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s%llu\nFDPOLL=0", prefix, (unsigned long long) n);
        (void) sd_pid_notify_with_fds(0, 0, msg, &fd, 1);
}

static void journal_store(StateJournal *j) {
        store_fd(j->fd, STATE_FDNAME_PREFIX, j->generation);
}

static void journal_unstore(uint64_t generation) {
        sd_notifyf(0, "FDSTOREREMOVE=1\nFDNAME=" STATE_FDNAME_PREFIX "%llu", (unsigned long long) generation);
}

/* Journaling cannot go on (out of memory): stop, and say that a restart now
 * would lose state, rather than keep a journal that is wrong. */
static void journal_fail(Broker *b, int r) {
        log_error("Restart journal disabled: %s; a restart will disconnect clients", strerror(-r));
        journal_unstore(b->journal->generation);
        b->journal = state_journal_free(b->journal);
}

static void append_to(Broker *b, StateJournal *j, RecordType type, const void *body, size_t len,
                      const void *extra, size_t extra_len) {
        size_t total = sizeof(RecordHeader) + ((len + extra_len + 7) & ~(size_t) 7);
        RecordHeader h = { .type = type, .len = (uint32_t) (len + extra_len) };
        uint64_t at = header(j)->used;
        int r;

        if (at + total > j->size) {
                r = journal_grow(j, at + total);
                if (r < 0) {
                        if (j == b->journal)
                                journal_fail(b, r);
                        return;
                }
        }
        memcpy(j->map + at, &h, sizeof(h));
        memcpy(j->map + at + sizeof(h), body, len);
        if (extra_len > 0)
                memcpy(j->map + at + sizeof(h) + len, extra, extra_len);
        /* The record counts from here on: a crash before this line loses it
         * whole, never half. */
        __atomic_store_n(&header(j)->used, at + total, __ATOMIC_RELEASE);
}

static void append(Broker *b, RecordType type, const void *body, size_t len) {
        if (b->journal)
                append_to(b, b->journal, type, body, len, NULL, 0);
}

/* ---- records ---- */

void state_log_peer(Broker *b, const Peer *p) {
        RecPeer r = { .id = p->id, .flags = p->cap_kill | p->root << 1 };
        append(b, R_PEER, &r, sizeof(r));
}

void state_log_peer_free(Broker *b, const Peer *p) {
        RecPeer r = { .id = p->id };
        append(b, R_PEER_FREE, &r, sizeof(r));
}

void state_log_hello(Broker *b, const Peer *p) {
        RecPeer r = { .id = p->id, .value = p->window, .flags = p->hello_features };
        append(b, R_HELLO, &r, sizeof(r));
}

void state_log_subscribe(Broker *b, const Peer *p, uint64_t mask, uint32_t flags) {
        RecPeer r = { .id = p->id, .mask = mask, .flags = flags };
        append(b, R_SUBSCRIBE, &r, sizeof(r));
}

void state_log_unsubscribe(Broker *b, const Peer *p, uint64_t mask) {
        RecPeer r = { .id = p->id, .mask = mask };
        append(b, R_UNSUBSCRIBE, &r, sizeof(r));
}

void state_log_block(Broker *b, const Peer *p) {
        RecPeer r = { .id = p->id, .mask = p->blocked };
        append(b, R_BLOCK, &r, sizeof(r));
}

void state_log_window(Broker *b, const Peer *p) {
        RecPeer r = { .id = p->id, .value = p->window };
        append(b, R_WINDOW, &r, sizeof(r));
}

void state_log_join(Broker *b, const Peer *p, const char *name, size_t len, bool join) {
        RecName r = { .id = p->id, .len = (uint32_t) MIN(len, sizeof(r.name)) };
        memcpy(r.name, name, r.len);
        append(b, join ? R_JOIN : R_LEAVE, &r, sizeof(r));
}

/* A signal's record goes into a journal once, before the first pending
 * entry that refers to it. */
static void log_signal(Broker *b, StateJournal *j, Signal *s) {
        RecSignal r = {
                .signal_id = s->id,
                .signo = s->signo,
                .priority = s->priority,
                .sender_pid = s->sender_pid,
                .sender_uid = s->sender_uid,
                .sender_gid = s->sender_gid,
                .payload_len = s->payload_len,
                .sender_client_id = s->sender_client_id,
                .realtime_ns = s->realtime_ns,
                .monotonic_ns = s->monotonic_ns,
        };
        if (s->journal_generation == j->generation)
                return;
        append_to(b, j, R_SIGNAL, &r, sizeof(r), s->payload, s->payload_len);
        s->journal_generation = j->generation;
}

static void log_pending(Broker *b, StateJournal *j, RecordType type, const Peer *p, const Pending *pe) {
        RecPending r = {
                .id = p->id,
                .signal_id = pe->signal->id,
                .order = pe->order,
                .merged = pe->merged,
                .priority = pe->priority,
        };
        if (type == R_ENQUEUE)
                log_signal(b, j, pe->signal);
        append_to(b, j, type, &r, sizeof(r), NULL, 0);
}

void state_log_enqueue(Broker *b, const Peer *p, const Pending *pe) {
        if (b->journal)
                log_pending(b, b->journal, R_ENQUEUE, p, pe);
}

void state_log_merge(Broker *b, const Peer *p, const Pending *pe) {
        if (b->journal)
                log_pending(b, b->journal, R_MERGE, p, pe);
}

void state_log_drop(Broker *b, const Peer *p, const Pending *pe) {
        if (b->journal)
                log_pending(b, b->journal, R_DROP, p, pe);
}

void state_log_deliver(Broker *b, const Peer *p, const Pending *pe) {
        if (b->journal)
                log_pending(b, b->journal, R_DELIVER, p, pe);
}

void state_log_gap(Broker *b, const Peer *p, uint32_t signo) {
        RecPeer r = { .id = p->id, .value = signo };
        append(b, R_GAP, &r, sizeof(r));
}

void state_log_monitor(Broker *b, const Peer *p) {
        RecPeer r = { .id = p->id, .mask = p->monitor_serial };
        append(b, R_MONITOR, &r, sizeof(r));
}

void state_log_output(Broker *b, const Peer *p, const void *data, size_t len) {
        uint64_t id = p->id;

        if (b->journal)
                append_to(b, b->journal, R_OUTPUT, &id, sizeof(id), data, len);
}

void state_log_output_written(Broker *b, const Peer *p, size_t len) {
        RecPeer r = { .id = p->id, .mask = len };
        append(b, R_OUTPUT_WRITTEN, &r, sizeof(r));
}

void state_log_ack(Broker *b, const Peer *p, uint32_t count) {
        RecPeer r = { .id = p->id, .value = count };
        append(b, R_ACK, &r, sizeof(r));
}

/* ---- snapshots ---- */

static void snapshot_queue(Broker *b, StateJournal *j, const Peer *p, const Queue *q) {
        for (uint32_t i = 0; i < q->n; i++)
                log_pending(b, j, R_ENQUEUE, p, q->heap[i]);
}

static void snapshot_peer(Broker *b, StateJournal *j, const Peer *p) {
        RecPeer r = { .id = p->id, .flags = p->cap_kill | p->root << 1 };
        RecPeerState st = { .id = p->id, .seq = p->seq, .in_flight = p->in_flight };
        Membership *m;

        append_to(b, j, R_PEER, &r, sizeof(r), NULL, 0);
        if (p->hello) {
                r.value = p->window;
                r.flags = p->hello_features;
                append_to(b, j, R_HELLO, &r, sizeof(r), NULL, 0);
        }
        r = (RecPeer) { .id = p->id, .mask = p->subscribed & ~p->drop_oldest };
        append_to(b, j, R_SUBSCRIBE, &r, sizeof(r), NULL, 0);
        r = (RecPeer) { .id = p->id, .mask = p->subscribed & p->drop_oldest, .flags = SB_SUBSCRIBE_DROP_OLDEST };
        append_to(b, j, R_SUBSCRIBE, &r, sizeof(r), NULL, 0);
        r = (RecPeer) { .id = p->id, .mask = p->blocked };
        append_to(b, j, R_BLOCK, &r, sizeof(r), NULL, 0);
        list_for_each_entry(m, (List *) &p->memberships, peer_link) {
                RecName n = { .id = p->id, .len = (uint32_t) strlen(m->group->name) };
                memcpy(n.name, m->group->name, n.len);
                append_to(b, j, R_JOIN, &n, sizeof(n), NULL, 0);
        }
        if (p->lost)
                memcpy(st.lost, p->lost, sizeof(st.lost));
        append_to(b, j, R_PEER_STATE, &st, sizeof(st), NULL, 0);
        if (p->monitor) {
                r = (RecPeer) { .id = p->id, .mask = p->monitor_serial };
                append_to(b, j, R_MONITOR, &r, sizeof(r), NULL, 0);
        }
        if (p->out_len > p->out_head)
                append_to(b, j, R_OUTPUT, &p->id, sizeof(p->id), p->out + p->out_head, p->out_len - p->out_head);
        snapshot_queue(b, j, p, &p->queue);
        snapshot_queue(b, j, p, &p->held);
}

/* Write the whole state into a journal of the next generation, hand it to
 * the store, and drop the old one. */
static int compact(Broker *b, uint64_t generation) {
        StateJournal *j = NULL;
        Peer *p;
        int r;

        RecPeer counters = { .id = b->next_client_id, .mask = b->next_signal_id };

        r = journal_new(generation, &j);
        if (r < 0)
                return r;
        /* Ids are never given twice: the counters outlive the clients and
         * signals that a snapshot no longer lists. */
        append_to(b, j, R_COUNTERS, &counters, sizeof(counters), NULL, 0);
        list_for_each_entry(p, &b->peers, link)
                snapshot_peer(b, j, p);
        j->snapshot_size = header(j)->used;
        journal_store(j);
        if (b->journal) {
                journal_unstore(b->journal->generation);
                state_journal_free(b->journal);
        }
        b->journal = j;
        return 0;
}

uint64_t state_journal_size(const Broker *b) {
        return b->journal ? header(b->journal)->used : 0;
}

int state_journal_fd(const Broker *b, uint64_t *ret_generation) {
        if (!b->journal)
                return -ENODATA;
        *ret_generation = b->journal->generation;
        return b->journal->fd;
}

void state_maybe_compact(Broker *b) {
        StateJournal *j = b->journal;

        if (j && header(j)->used > JOURNAL_COMPACT_MIN && header(j)->used > 4 * j->snapshot_size)
                (void) compact(b, j->generation + 1);
}

static uint32_t fd_store_max(void);
static void log_not_kept(unsigned n, const char *why, const char *what);

int state_journal_open(Broker *b) {
        /* Only systemd keeps an fd store for us. */
        b->journaling = getenv("NOTIFY_SOCKET") != NULL;
        b->fd_store_max = fd_store_max();
        state_check_capacity(b);
        return 0;
}

/* ---- capacity ---- */

/* systemd 254 and later say how large the store is; before, the unit may
 * say it the same way, else it is the size the shipped unit sets. */
static uint32_t fd_store_max(void) {
        const char *e = getenv("FDSTORE");
        unsigned long long v;
        char *end;

        if (e && *e) {
                errno = 0;
                v = strtoull(e, &end, 10);
                if (errno == 0 && *end == '\0' && v > 0)
                        return (uint32_t) MIN(v, (unsigned long long) UINT32_MAX);
        }
        return SB_FDSTORE_MAX;
}

void state_check_capacity(Broker *b) {
        uint32_t store = b->fd_store_max > STATE_JOURNAL_FDS ? b->fd_store_max - STATE_JOURNAL_FDS : 0;
        uint32_t fds = b->fd_budget / (b->pidfd_by_pid ? 2 : 1);
        /* systemd passes every stored fd's name in LISTEN_FDNAMES, one
         * environment string, which execve() takes up to MAX_ARG_STRLEN. */
        uint32_t names = (STATE_FDNAMES_MAX - 64) / STATE_FDNAME_BYTES;
        uint32_t capacity = MIN(MIN(store, fds), names);
        uint32_t old = b->restart_capacity;
        char f_max[48], f_cap[48], f_store[48], f_nofile[48];
        const char *fields[] = { f_max, f_cap, f_store, f_nofile, NULL };

        b->restart_capacity = b->journaling ? MAX(capacity, 1u) : 0;
        if (!b->journaling || b->limits.max_connections <= b->restart_capacity ||
            (old == b->restart_capacity && b->capacity_warned == b->limits.max_connections))
                return;
        b->capacity_warned = b->limits.max_connections;
        snprintf(f_max, sizeof(f_max), "SIGBROKER_MAX_CONNECTIONS=%u", b->limits.max_connections);
        snprintf(f_cap, sizeof(f_cap), "SIGBROKER_RESTART_CAPACITY=%u", b->restart_capacity);
        snprintf(f_store, sizeof(f_store), "SIGBROKER_FD_STORE_MAX=%u", b->fd_store_max);
        snprintf(f_nofile, sizeof(f_nofile), "SIGBROKER_NOFILE=%u", b->fd_budget + SB_FD_RESERVE);
        log_fields(LOG_WARNING, SB_MID_CAPACITY, fields,
                   "max-connections is %u, but a restart can keep only %u connections (fd store %u, "
                   "of which %u for the restart journal; RLIMIT_NOFILE %u, %u fds reserved, %u per client; "
                   "%u fd names in LISTEN_FDNAMES): connections beyond %u are refused",
                   b->limits.max_connections, b->restart_capacity, b->fd_store_max, STATE_JOURNAL_FDS,
                   b->fd_budget + SB_FD_RESERVE, SB_FD_RESERVE, b->pidfd_by_pid ? 2 : 1, names,
                   b->restart_capacity);
}

/* ---- stopping ---- */

bool state_stop(Broker *b) {
        const char *why;
        unsigned n = 0;
        Peer *p;

        if (b->journal)
                return true;    /* all kept: the next instance takes them over */
        why = b->journaling ? "the restart journal failed earlier (out of memory)"
                            : "without systemd's fd store no connection outlives the daemon";
        list_for_each_entry(p, &b->peers, link) {
                char text[SB_ERROR_TEXT_MAX];
                snprintf(text, sizeof(text), "sigbrokerd stopped and could not keep this connection: %s", why);
                peer_say_goodbye(p, b->journaling ? ECONNABORTED : ESHUTDOWN, text);
                n++;
        }
        if (b->journaling)
                log_not_kept(n, why, "each was told so before it was closed");
        return false;
}

/* ---- the fd store ---- */

void state_store_client(Broker *b, Peer *p) {
        if (!b->journaling)
                return;
        store_fd(p->fd, STATE_CLIENT_FDNAME_PREFIX, p->id);
}

void state_forget_client(Broker *b, Peer *p) {
        if (!b->journaling)
                return;
        sd_notifyf(0, "FDSTOREREMOVE=1\nFDNAME=" STATE_CLIENT_FDNAME_PREFIX "%llu", (unsigned long long) p->id);
}

/* ---- restore ---- */

int state_restore_add_fd(Broker *b, int fd, const char *name) {
        StateRestore *restore = b->restore;
        RestoreFd *fds;

        if (!restore) {
                restore = b->restore = calloc(1, sizeof(*restore));
                if (!restore) {
                        close(fd);
                        return -ENOMEM;
                }
        }
        if (restore->n_fds >= RESTORE_FDS_MAX) {
                close(fd);
                return -E2BIG;
        }
        fds = realloc(restore->fds, (restore->n_fds + 1) * sizeof(*fds));
        if (!fds) {
                close(fd);
                return -ENOMEM;
        }
        restore->fds = fds;
        restore->fds[restore->n_fds++] = (RestoreFd) { .fd = fd, .name = strdup(name ? name : "") };
        return 0;
}

static int compare_client_id(const void *a, const void *b) {
        uint64_t x = (*(RestoreFd *const *) a)->client_id, y = (*(RestoreFd *const *) b)->client_id;
        return x < y ? -1 : x > y;
}

/* The client fds sorted by id: one lookup per client in the journal is a
 * binary search, not a walk over tens of thousands of names. */
static int index_client_fds(StateRestore *restore) {
        if (!restore)
                return 0;
        restore->clients = calloc(MAX(restore->n_fds, 1u), sizeof(*restore->clients));
        if (!restore->clients)
                return -ENOMEM;
        for (size_t i = 0; i < restore->n_fds; i++) {
                RestoreFd *f = &restore->fds[i];
                unsigned long long id;
                char end;
                if (f->name && sscanf(f->name, STATE_CLIENT_FDNAME_PREFIX "%llu%c", &id, &end) == 1 && id > 0) {
                        f->client_id = id;
                        restore->clients[restore->n_clients++] = f;
                }
        }
        qsort(restore->clients, restore->n_clients, sizeof(*restore->clients), compare_client_id);
        return 0;
}

typedef struct SignalRef {
        HashNode node;
        Signal *signal;
} SignalRef;

/* Why a connection that came back from the store is not kept. */
typedef enum NotKept {
        NOT_KEPT_NO_JOURNAL,
        NOT_KEPT_UNREADABLE,
        NOT_KEPT_NO_STATE,
        NOT_KEPT_FAILED,
        _NOT_KEPT_MAX,
} NotKept;

static const char *const not_kept_reason[_NOT_KEPT_MAX] = {
        [NOT_KEPT_NO_JOURNAL] = "no restart journal came back from the fd store",
        [NOT_KEPT_UNREADABLE] = "the restart journal was unreadable",
        [NOT_KEPT_NO_STATE] = "the restart journal has no state for the connection",
        [NOT_KEPT_FAILED] = "its state could not be restored (out of memory or fds)",
};

typedef struct Replay {
        Broker *b;
        HashTable signals;              /* signal id -> SignalRef */
        uint64_t max_order, max_signal_id;
        NotKept why;                    /* for client fds left over */
        unsigned not_kept[_NOT_KEPT_MAX];
        HashTable missing;              /* MissingRef: in the journal, but no fd came back */
} Replay;

typedef struct MissingRef {
        HashNode node;
} MissingRef;

/* A connection the journal lists whose fd did not come back; it counts
 * unless the journal says later that it was closed anyway. */
static void missing_add(Replay *rp, uint64_t id) {
        MissingRef *m = calloc(1, sizeof(*m));

        if (m && hashtable_insert(&rp->missing, &m->node, id) < 0)
                free(m);
}

static void missing_remove(Replay *rp, uint64_t id) {
        HashNode *n = hashtable_first(&rp->missing, id);

        if (n) {
                hashtable_remove(&rp->missing, n);
                free(container_of(n, MissingRef, node));
        }
}

static unsigned missing_done(Replay *rp) {
        unsigned count = 0;

        for (size_t i = 0; i < rp->missing.n_buckets; i++)
                for (HashNode *n = rp->missing.buckets[i], *next; n; n = next) {
                        next = n->next;
                        free(container_of(n, MissingRef, node));
                        count++;
                }
        hashtable_destroy(&rp->missing);
        return count;
}

/* Let go of a connection that came back from the store, saying why first. */
static void not_kept(Replay *rp, int fd, const char *name, NotKept why) {
        char text[SB_ERROR_TEXT_MAX];

        snprintf(text, sizeof(text), "sigbrokerd restarted and could not keep this connection: %s; connect again",
                 not_kept_reason[why]);
        peer_say_goodbye_fd(rp->b, fd, ECONNABORTED, text);
        close(fd);
        sd_notifyf(0, "FDSTOREREMOVE=1\nFDNAME=%s", name);
        rp->not_kept[why]++;
}

static void log_not_kept(unsigned n, const char *why, const char *what) {
        char f_n[48], f_why[160];
        const char *fields[] = { f_n, f_why, NULL };

        if (n == 0)
                return;
        snprintf(f_n, sizeof(f_n), "SIGBROKER_CONNECTIONS=%u", n);
        snprintf(f_why, sizeof(f_why), "SIGBROKER_REASON=%s", why);
        log_fields(LOG_WARNING, SB_MID_NOT_KEPT, fields, "%u connection%s not kept across the restart: %s; %s", n, plural(n), why,
                   what);
}

static Peer *replay_peer(Replay *rp, uint64_t id) {
        HashNode *n = hashtable_first(&rp->b->peers_by_id, id);
        return n ? container_of(n, Peer, by_id) : NULL;
}

static int take_client_fd(StateRestore *restore, uint64_t id) {
        RestoreFd key = { .client_id = id }, *k = &key, **f;

        if (!restore || !restore->clients)
                return -1;
        f = bsearch(&k, restore->clients, restore->n_clients, sizeof(*restore->clients), compare_client_id);
        return f && (*f)->fd >= 0 ? TAKE_FD((*f)->fd) : -1;
}

static void replay_new_peer(Replay *rp, const RecPeer *r) {
        int fd = take_client_fd(rp->b->restore, r->id);
        char name[32];
        Peer *p;

        /* Its id is spent whether or not its connection came back. */
        rp->b->next_client_id = MAX(rp->b->next_client_id, r->id);
        if (fd < 0) {
                missing_add(rp, r->id);         /* its connection did not come back: nothing to restore */
                return;
        }
        if (peer_new_restored(rp->b, fd, r->id, &p) < 0) {
                snprintf(name, sizeof(name), STATE_CLIENT_FDNAME_PREFIX "%llu", (unsigned long long) r->id);
                not_kept(rp, fd, name, NOT_KEPT_FAILED);
                return;
        }
        /* Read again from the kernel just now (peer_new_restored()): what
         * the process became since it connected does not count, and neither
         * does what it was if it no longer is. */
        p->cap_kill = p->cap_kill && (r->flags & 1);
        p->root = p->root && (r->flags & 3);    /* older records: the CAP_KILL bit only */
}

static Pending *find_pending(Peer *p, uint64_t order, Queue **ret_queue) {
        Queue *queues[] = { &p->queue, &p->held };

        for (size_t k = 0; k < ELEMENTSOF(queues); k++)
                for (uint32_t i = 0; i < queues[k]->n; i++)
                        if (queues[k]->heap[i]->order == order) {
                                *ret_queue = queues[k];
                                return queues[k]->heap[i];
                        }
        return NULL;
}

static void replay_signal(Replay *rp, const RecSignal *r, const void *payload) {
        Signal *s = signal_new(r->signo, (uint8_t) r->priority, payload, r->payload_len);
        SignalRef *ref = calloc(1, sizeof(*ref));

        if (!s || !ref || hashtable_insert(&rp->signals, &ref->node, r->signal_id) < 0) {
                signal_unref(s);
                free(ref);
                return;
        }
        s->id = r->signal_id;
        s->sender_pid = r->sender_pid;
        s->sender_uid = r->sender_uid;
        s->sender_gid = r->sender_gid;
        s->sender_client_id = r->sender_client_id;
        s->realtime_ns = r->realtime_ns;
        s->monotonic_ns = r->monotonic_ns;
        ref->signal = s;
        rp->max_signal_id = MAX(rp->max_signal_id, r->signal_id);
}

static void replay_pending(Replay *rp, RecordType type, const RecPending *r) {
        Peer *p = replay_peer(rp, r->id);
        HashNode *n;
        Queue *q;
        Pending *pe;

        if (!p)
                return;
        if (type == R_ENQUEUE) {
                n = hashtable_first(&rp->signals, r->signal_id);
                if (n)
                        broker_restore_pending(rp->b, p, container_of(n, SignalRef, node)->signal, r->order, r->merged,
                                               (uint8_t) r->priority);
                rp->max_order = MAX(rp->max_order, r->order);
                return;
        }
        pe = find_pending(p, r->order, &q);
        if (!pe)
                return;
        if (type == R_MERGE) {
                queue_merge(q, pe, (uint8_t) r->priority);
                return;
        }
        queue_remove(q, pe);
        if (type == R_DROP) {
                if (p->lost || (p->lost = calloc(SB_SIGNO_MAX + 1, sizeof(*p->lost))))
                        p->lost[pe->signal->signo]++;
        } else {
                p->in_flight++;
                p->seq++;
        }
        broker_uncharge(rp->b, p, pe);
        pending_free(pe);
}

static void replay_peer_record(Replay *rp, RecordType type, const RecPeer *r) {
        Peer *p;

        if (type == R_COUNTERS) {
                rp->b->next_client_id = MAX(rp->b->next_client_id, r->id);
                rp->max_signal_id = MAX(rp->max_signal_id, r->mask);
                return;
        }
        p = replay_peer(rp, r->id);
        if (type == R_PEER) {
                if (!p)
                        replay_new_peer(rp, r);
                return;
        }
        if (type == R_PEER_FREE)
                missing_remove(rp, r->id);
        if (!p)
                return;
        switch (type) {
        case R_PEER_FREE:
                peer_free(p);
                break;
        case R_HELLO:
                p->hello = true;
                p->hello_features = r->flags & 1;
                p->window = r->value;
                break;
        case R_SUBSCRIBE:
                (void) broker_subscribe(rp->b, p, r->mask, r->flags);
                break;
        case R_UNSUBSCRIBE:
                broker_unsubscribe(rp->b, p, r->mask);
                break;
        case R_BLOCK:
                p->blocked = r->mask;
                break;
        case R_WINDOW:
                p->window = r->value;
                break;
        case R_GAP:
                if (p->lost && r->value <= SB_SIGNO_MAX)
                        p->lost[r->value] = 0;
                p->in_flight++;
                p->seq++;
                break;
        case R_ACK:
                p->in_flight -= MIN(p->in_flight, r->value);
                break;
        case R_OUTPUT_WRITTEN:
                peer_consume_output(p, r->mask);
                break;
        case R_MONITOR:
                /* Started once the replay is over (monitor_start() writes an
                 * event, which must not land among the replayed output). */
                p->monitor_serial = r->mask;
                break;
        default:
                break;
        }
}

static void replay_record(Replay *rp, const RecordHeader *h, const uint8_t *body) {
        switch (h->type) {
        case R_SIGNAL:
                if (h->len >= sizeof(RecSignal) &&
                    h->len - sizeof(RecSignal) == ((const RecSignal *) body)->payload_len)
                        replay_signal(rp, (const RecSignal *) body, body + sizeof(RecSignal));
                return;
        case R_ENQUEUE:
        case R_MERGE:
        case R_DROP:
        case R_DELIVER:
                if (h->len == sizeof(RecPending))
                        replay_pending(rp, h->type, (const RecPending *) body);
                return;
        case R_JOIN:
        case R_LEAVE:
                if (h->len == sizeof(RecName)) {
                        const RecName *n = (const RecName *) body;
                        Peer *p = replay_peer(rp, n->id);
                        if (p && n->len <= SB_GROUP_NAME_MAX) {
                                if (h->type == R_JOIN)
                                        (void) broker_join(rp->b, p, n->name, n->len);
                                else
                                        (void) broker_leave(rp->b, p, n->name, n->len);
                        }
                }
                return;
        case R_OUTPUT:
                if (h->len >= sizeof(uint64_t)) {
                        uint64_t id;
                        Peer *p;
                        memcpy(&id, body, sizeof(id));
                        p = replay_peer(rp, id);
                        if (p)
                                (void) peer_restore_output(p, body + sizeof(id), h->len - sizeof(id));
                }
                return;
        case R_PEER_STATE:
                if (h->len == sizeof(RecPeerState)) {
                        const RecPeerState *st = (const RecPeerState *) body;
                        Peer *p = replay_peer(rp, st->id);
                        if (p) {
                                p->seq = st->seq;
                                p->in_flight = st->in_flight;
                                if (!p->lost)
                                        p->lost = calloc(SB_SIGNO_MAX + 1, sizeof(*p->lost));
                                if (p->lost)
                                        memcpy(p->lost, st->lost, sizeof(st->lost));
                        }
                }
                return;
        default:
                if (h->type < _R_MAX && h->len == sizeof(RecPeer))
                        replay_peer_record(rp, h->type, (const RecPeer *) body);
        }
}

/* The journal of the highest generation that came back. */
static int pick_journal(const StateRestore *restore, uint64_t *ret_generation) {
        int best = -1;

        for (size_t i = 0; restore && i < restore->n_fds; i++) {
                unsigned long long g;
                if (restore->fds[i].fd < 0 || !restore->fds[i].name ||
                    sscanf(restore->fds[i].name, STATE_FDNAME_PREFIX "%llu", &g) != 1)
                        continue;
                if (best < 0 || g > *ret_generation) {
                        best = (int) i;
                        *ret_generation = g;
                }
        }
        return best;
}

static int replay_journal(Replay *rp, int fd) {
        JournalHeader h;
        uint8_t *map;
        uint64_t at;

        if (pread(fd, &h, sizeof(h), 0) != (ssize_t) sizeof(h) || memcmp(h.magic, JOURNAL_MAGIC, 8) != 0)
                return -EBADMSG;
        map = mmap(NULL, h.used, PROT_READ, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED)
                return -errno;
        for (at = sizeof(h); at + sizeof(RecordHeader) <= h.used;) {
                RecordHeader rh;
                memcpy(&rh, map + at, sizeof(rh));
                if (rh.len > h.used - at - sizeof(rh))
                        break;
                replay_record(rp, &rh, map + at + sizeof(rh));
                at += sizeof(rh) + ((rh.len + 7) & ~(uint64_t) 7);
        }
        munmap(map, h.used);
        return 0;
}

static void restore_done(Replay *rp) {
        StateRestore *restore = rp->b->restore;

        for (size_t i = 0; i < rp->signals.n_buckets; i++) {
                HashNode *n = rp->signals.buckets[i];
                while (n) {
                        HashNode *next = n->next;
                        SignalRef *ref = container_of(n, SignalRef, node);
                        signal_unref(ref->signal);
                        free(ref);
                        n = next;
                }
        }
        hashtable_destroy(&rp->signals);
        for (size_t i = 0; restore && i < restore->n_fds; i++) {
                RestoreFd *f = &restore->fds[i];
                if (f->fd >= 0 && f->client_id > 0)
                        /* A client fd with no state: tell it, let go of it. */
                        not_kept(rp, TAKE_FD(f->fd), f->name, rp->why);
                else if (f->fd >= 0) {
                        /* An old journal: let go of it, in the store too. */
                        if (f->name)
                                sd_notifyf(0, "FDSTOREREMOVE=1\nFDNAME=%s", f->name);
                        close(f->fd);
                }
                free(f->name);
        }
        for (NotKept k = 0; k < _NOT_KEPT_MAX; k++)
                log_not_kept(rp->not_kept[k], not_kept_reason[k], "each was told so before it was closed");
        log_not_kept(missing_done(rp), "their fds did not come back from the fd store (is FileDescriptorStoreMax= too small?)",
                     "they were closed without a word");
        if (restore) {
                free(restore->fds);
                free(restore->clients);
        }
        free(restore);
        rp->b->restore = NULL;
}

int state_restore(Broker *b) {
        Replay rp = { .b = b };
        uint64_t generation = 0;
        int i, r = 0;
        Peer *p;

        i = pick_journal(b->restore, &generation);
        rp.why = i >= 0 ? NOT_KEPT_NO_STATE : NOT_KEPT_NO_JOURNAL;
        if (index_client_fds(b->restore) < 0) {
                i = -1;
                rp.why = NOT_KEPT_FAILED;
        }
        if (i >= 0) {
                r = replay_journal(&rp, b->restore->fds[i].fd);
                if (r < 0) {
                        log_error("Restart journal unreadable (%s); clients are disconnected", strerror(-r));
                        rp.why = NOT_KEPT_UNREADABLE;
                }
        }
        b->next_order = MAX(b->next_order, rp.max_order);
        b->next_signal_id = MAX(b->next_signal_id, rp.max_signal_id);
        list_for_each_entry(p, &b->peers, link) {
                /* Entries replayed into the main queue that are blocked move to
                 * the held queue when they reach its top, as they always do. */
                peer_mark_dirty(p);
                /* A monitor's stream goes on; its new start event tells the
                 * client that events from the restart on are all there. */
                if (p->monitor_serial && !p->monitor)
                        (void) monitor_start(b, p, p->monitor_serial);
        }
        if (b->n_peers > 0)
                log_info("Restored %u client%s and %u pending signal%s from the restart journal", b->n_peers,
                         plural(b->n_peers), b->total_pending, plural(b->total_pending));
        /* The new journal goes into the store before the old one leaves it,
         * under the next generation's name: there is no instant without a
         * journal, and removing the old name cannot touch the new one. */
        r = b->journaling ? compact(b, generation + 1) : 0;
        restore_done(&rp);
        return r;
}
