/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Monitors: administrators' connections that asked for SB_QUERY_MONITOR and
 * get one JSON object per routed send, as a DATA frame (SB_DATA_MORE set,
 * the stream never ends) answering that query. The first event says the
 * monitor is registered ("type":"start"), so a client knows from when on
 * it sees everything.
 *
 * A monitor that does not read is not allowed to grow the daemon's memory:
 * while its backlog is over PEER_OUT_SOFT_MAX it misses events, which are
 * counted, and the next event it gets says how many ("missed").
 *
 * Routing records what happened to each receiver in a MonitorTrace, but
 * only while there is a monitor at all: without one a send costs nothing
 * here.
 */

#include <stdbool.h>
#include <stdint.h>

#include "protocol.h"

typedef struct Broker Broker;
typedef struct Peer Peer;

/* Receivers listed in one event; more are counted in "receivers_omitted". */
#define MONITOR_RECEIVERS_MAX 256

typedef enum MonitorOutcome {
        MONITOR_QUEUED,
        MONITOR_QUEUED_DROPPING,        /* queued after a drop-oldest made room */
        MONITOR_MERGED,
        MONITOR_REFUSED,
        MONITOR_DENIED,
        MONITOR_ALLOWED,                /* the probe, signal 0: may be signalled */
        _MONITOR_OUTCOME_MAX,
} MonitorOutcome;

typedef struct MonitorReceiver {
        const Peer *peer;
        MonitorOutcome outcome;
} MonitorReceiver;

typedef struct MonitorTrace {
        MonitorReceiver *receivers;
        uint32_t n, cap;
        uint32_t omitted;
} MonitorTrace;

/* Make p a monitor, answering QUERY serial, and send it the start event;
 * 0 or -ENOMEM. */
int monitor_start(Broker *b, Peer *p, uint64_t serial);
/* p is going away. */
void monitor_forget(Broker *b, Peer *p);
bool monitor_any(const Broker *b);

void monitor_trace(MonitorTrace *t, const Peer *to, MonitorOutcome outcome);
/* One event to every monitor: send went through routing with this result
 * (error: 0 or a positive errno) and these receivers. Frees the trace. */
void monitor_routed(Broker *b, const Peer *sender, const SbSend *send, const SbResult *result, int error,
                    MonitorTrace *t);
