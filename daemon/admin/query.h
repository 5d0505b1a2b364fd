#pragma once

/*
 * The writers behind the QUERY answers (query.c, stats.c): each writes one
 * answer's text into f. asker is the peer that asked: what concerns other
 * users' clients is shown to administrators only.
 */

#include <stdbool.h>
#include <stdio.h>

#include "broker.h"

bool query_may_see(const Peer *asker, const Peer *p);
void query_write_clients(Broker *b, const Peer *asker, FILE *f);

/* "counters":{...} of one client */
void stats_write_peer_counters(FILE *f, const Peer *p);
void stats_write_json(Broker *b, const Peer *asker, FILE *f);
void stats_write_openmetrics(Broker *b, const Peer *asker, FILE *f);
