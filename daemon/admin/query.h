/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The writers behind the QUERY answers (query.c, stats.c, answer.c): each
 * writes one answer's text, or a part of it, into f. asker is the peer that asked: what concerns other
 * users' clients is shown to administrators only.
 */

#include <stdbool.h>
#include <stdio.h>

#include "broker.h"

bool query_may_see(const Peer *asker, const Peer *p);
/* One client as CLIENTS lists it, and as a group member. */
void query_write_client(FILE *f, const Peer *p);
void query_write_member(FILE *f, const Peer *p);

/* "counters":{...} of one client */
void stats_write_peer_counters(FILE *f, const Peer *p);
/* STATS as JSON up to its "clients": list (answer.h writes that). */
void stats_write_json_head(Broker *b, FILE *f);
void stats_write_openmetrics(Broker *b, const Peer *asker, FILE *f);
