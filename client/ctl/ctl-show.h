#pragma once

/* sigbrokerctl's human-readable layouts of the daemon's JSON answers
 * (ctl-show.c); --json prints the answers as they are instead. */

#include "ctl-json.h"

void show_stats(const Json *stats);
void show_clients(const Json *clients);
void show_groups(const Json *groups);
void show_status(const Json *status);
void show_monitor_event(const Json *event);
