/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* sigbrokerctl's human output of the daemon's answers (ctl-layout.c): the
 * JSON read with json-c, laid out in libsmartcols tables. */

#include <json-c/json.h>

#include "ctl-table.h"

extern const CtlColumn ctl_clients_columns[];
extern const size_t ctl_clients_n_columns;
extern const CtlColumn ctl_groups_columns[];
extern const size_t ctl_groups_n_columns;
extern const CtlColumn ctl_stats_columns[];
extern const size_t ctl_stats_n_columns;

int show_stats(const Ctl *ctl, struct json_object *stats);
int show_clients(const Ctl *ctl, struct json_object *clients);
int show_groups(const Ctl *ctl, struct json_object *groups);
int show_status(const Ctl *ctl, struct json_object *status);
void show_monitor_event(struct json_object *event);
