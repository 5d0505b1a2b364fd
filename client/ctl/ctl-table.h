/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * sigbrokerctl's tables, laid out by libsmartcols (as lsblk and findmnt
 * do): columns chosen with -o/--output, headings dropped with
 * --no-legend, and with --json the rows as JSON objects. Widths are
 * counted in terminal cells, so multibyte names line up.
 */

#include <libsmartcols.h>

#include "ctl.h"

typedef struct CtlColumn {
        const char *name;       /* heading, and the name -o takes */
        double width;           /* libsmartcols' width hint */
        int flags;              /* SCOLS_FL_* */
        int json_type;          /* SCOLS_JSON_* */
        bool by_default;        /* shown without -o */
        const char *help;
} CtlColumn;

#define CTL_COLUMNS_MAX 32

typedef struct CtlTable {
        struct libscols_table *tb;
        const CtlColumn *columns;
        size_t n_columns;
        int position[CTL_COLUMNS_MAX];  /* column index -> position in the table, -1: not shown */
} CtlTable;

/* Check COLUMNS of -o against the columns: 0, or the usage error printed
 * and CTL_EXIT_USAGE. */
int ctl_table_check_output(const Ctl *ctl, const char *output, const CtlColumn *columns, size_t n);
/* A new table named name (the key of the JSON array), with the columns of
 * ctl->output, headings unless ctl->no_legend, JSON if ctl->json.
 * 0 or -ENOMEM. */
int ctl_table_new(CtlTable *t, const Ctl *ctl, const char *name, const CtlColumn *columns, size_t n);
struct libscols_line *ctl_table_row(CtlTable *t);
/* The cell of column `column` (index in the columns array); a column not
 * shown takes nothing. NULL: empty. */
void ctl_table_set(CtlTable *t, struct libscols_line *row, size_t column, const char *value);
void ctl_table_setf(CtlTable *t, struct libscols_line *row, size_t column, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
int ctl_table_print(CtlTable *t);
void ctl_table_done(CtlTable *t);
/* The columns as --help lists them. */
void ctl_table_help(const CtlColumn *columns, size_t n);
