/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sigbrokerctl's tables through libsmartcols: column selection as lsblk
 * does it (-o NAME,NAME or -o +NAME to add to the default ones), headings
 * and JSON switched on the library's table.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ctl-table.h"

static int column_index(const char *name, size_t len, const CtlColumn *columns, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (strlen(columns[i].name) == len && strncasecmp(columns[i].name, name, len) == 0)
                        return (int) i;
        return -1;
}

/* Calls fn for each column of output, in order: the default ones first
 * when output is NULL or starts with '+'. Returns fn's first non-zero. */
static int for_each_selected(const char *output, const CtlColumn *columns, size_t n,
                             int (*fn)(const char *name, size_t len, int index, void *userdata), void *userdata) {
        int r;

        if (!output || output[0] == '+') {
                for (size_t i = 0; i < n; i++)
                        if (columns[i].by_default && (r = fn(columns[i].name, strlen(columns[i].name), (int) i, userdata)))
                                return r;
                if (!output)
                        return 0;
                output++;
        }
        for (const char *p = output;;) {
                size_t len = strcspn(p, ",");

                r = fn(p, len, column_index(p, len, columns, n), userdata);
                if (r)
                        return r;
                if (p[len] == '\0')
                        return 0;
                p += len + 1;
        }
}

typedef struct Check {
        const Ctl *ctl;
        size_t count;
} Check;

static int check_one(const char *name, size_t len, int index, void *userdata) {
        Check *c = userdata;

        if (len == 0)
                return ctl_usage_error(c->ctl, "--output has an empty column name");
        if (index < 0)
                return ctl_usage_error(c->ctl, "unknown column '%.*s' for --output", (int) len, name);
        if (++c->count > CTL_COLUMNS_MAX)
                return ctl_usage_error(c->ctl, "more than %d columns for --output", CTL_COLUMNS_MAX);
        return 0;
}

int ctl_table_check_output(const Ctl *ctl, const char *output, const CtlColumn *columns, size_t n) {
        Check c = { .ctl = ctl };

        if (!output)
                return 0;
        return for_each_selected(output, columns, n, check_one, &c);
}

static int add_column(const char *name, size_t len, int index, void *userdata) {
        CtlTable *t = userdata;
        const CtlColumn *c = &t->columns[index];
        struct libscols_column *cl;

        (void) name;
        (void) len;
        if (t->position[index] >= 0)
                return 0;       /* named twice: shown once */
        cl = scols_table_new_column(t->tb, c->name, c->width, c->flags);
        if (!cl)
                return -ENOMEM;
        scols_column_set_json_type(cl, c->json_type);
        t->position[index] = (int) scols_table_get_ncols(t->tb) - 1;
        return 0;
}

int ctl_table_new(CtlTable *t, const Ctl *ctl, const char *name, const CtlColumn *columns, size_t n) {
        int r;

        *t = (CtlTable) { .columns = columns, .n_columns = n };
        for (size_t i = 0; i < CTL_COLUMNS_MAX; i++)
                t->position[i] = -1;
        t->tb = scols_new_table();
        if (!t->tb)
                return -ENOMEM;
        scols_table_set_name(t->tb, name);
        scols_table_enable_json(t->tb, ctl->json);
        scols_table_enable_noheadings(t->tb, ctl->no_legend);
        r = for_each_selected(ctl->output, columns, n, add_column, t);
        if (r < 0) {
                ctl_table_done(t);
                return r;
        }
        return 0;
}

struct libscols_line *ctl_table_row(CtlTable *t) {
        return scols_table_new_line(t->tb, NULL);
}

void ctl_table_set(CtlTable *t, struct libscols_line *row, size_t column, const char *value) {
        if (row && column < t->n_columns && t->position[column] >= 0 && value)
                scols_line_set_data(row, (size_t) t->position[column], value);
}

void ctl_table_setf(CtlTable *t, struct libscols_line *row, size_t column, const char *fmt, ...) {
        char *s = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        ctl_table_set(t, row, column, s);
        free(s);
}

int ctl_table_print(CtlTable *t) {
        return scols_print_table(t->tb);
}

void ctl_table_done(CtlTable *t) {
        scols_unref_table(t->tb);
        t->tb = NULL;
}

void ctl_table_help(const CtlColumn *columns, size_t n) {
        printf("\nColumns for -o/--output (* shown by default; -o +NAME adds to them):\n");
        for (size_t i = 0; i < n; i++)
                printf(" %c%-12s %s\n", columns[i].by_default ? '*' : ' ', columns[i].name, columns[i].help);
}
