/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* sigbrokerctl: the commands and the helpers they share. */

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "sigbroker.h"

#define _cleanup_(f) __attribute__((cleanup(f)))
static inline void freep(void *p) { free(*(void **) p); }

/* Exit statuses; sigbrokerctl(1) EXIT STATUS says when each is used. */
#define CTL_EXIT_OK 0
#define CTL_EXIT_FAILURE 1     /* the operation failed, or timed out */
#define CTL_EXIT_USAGE 2       /* bad command line */

#define CTL_SYSTEM_SOCKET "/run/sigbroker/sigbroker.sock"

typedef enum CtlBroker {
        CTL_BROKER_DEFAULT,     /* --socket, $SIGBROKER_SOCKET or the library's choice */
        CTL_BROKER_USER,        /* --user: $XDG_RUNTIME_DIR/sigbroker.sock */
        CTL_BROKER_SYSTEM,      /* --system: CTL_SYSTEM_SOCKET */
} CtlBroker;

typedef struct Ctl {
        const char *command;    /* for messages: "send", or NULL before the command */
        const char *socket;     /* --socket, NULL: see broker */
        CtlBroker broker;
        bool json;              /* --json */
        const char *output;     /* -o/--output COLUMNS of a table, NULL: the default ones */
        bool no_legend;         /* --no-legend: tables without headings, titles or notes */
} Ctl;

/* The global options, which every command takes too, anywhere on its line:
 * put CTL_GLOBAL_SHORTOPTS in front of a command's short options,
 * CTL_GLOBAL_LONGOPTS in its struct option array, and hand what the
 * command does not know to ctl_global_option(). Long-only options of a
 * command use values from CTL_OPT_COMMAND on. A command that runs another
 * program puts "+" in front of CTL_GLOBAL_SHORTOPTS, so that getopt stops
 * at the program's name and leaves its options alone. A command that
 * prints no table calls ctl_no_table() once its options are parsed. */
#define CTL_GLOBAL_SHORTOPTS ":s:jo:"
enum {
        CTL_OPT_USER = 0x100,
        CTL_OPT_SYSTEM,
        CTL_OPT_VERSION,
        CTL_OPT_NO_LEGEND,
        CTL_OPT_COMMAND = 0x200,
};
#define CTL_GLOBAL_LONGOPTS                                      \
        { "socket", required_argument, NULL, 's' },              \
        { "json", no_argument, NULL, 'j' },                      \
        { "user", no_argument, NULL, CTL_OPT_USER },             \
        { "system", no_argument, NULL, CTL_OPT_SYSTEM },          \
        { "output", required_argument, NULL, 'o' },              \
        { "no-legend", no_argument, NULL, CTL_OPT_NO_LEGEND }

/* 0 if c was a global option and has been applied; CTL_EXIT_USAGE (the
 * error printed) for an unknown option, a missing value or a bad one. */
int ctl_global_option(Ctl *ctl, int c, char **argv);
/* For a command that prints no table: CTL_EXIT_USAGE (printed) if -o or
 * --no-legend was given, else 0. */
int ctl_no_table(const Ctl *ctl);
/* The socket path to use, malloc()ed: --system's, --user's, or what the
 * library picks from --socket, $SIGBROKER_SOCKET and the runtime dir.
 * 0, or the exit status, the error printed. */
int ctl_pick_socket(const Ctl *ctl, char **ret_path);

typedef int (*ctl_command_t)(Ctl *ctl, int argc, char **argv);

int ctl_send(Ctl *ctl, int argc, char **argv);
int ctl_listen(Ctl *ctl, int argc, char **argv);
int ctl_stats(Ctl *ctl, int argc, char **argv);
int ctl_clients(Ctl *ctl, int argc, char **argv);
int ctl_groups(Ctl *ctl, int argc, char **argv);
int ctl_status(Ctl *ctl, int argc, char **argv);
int ctl_reload(Ctl *ctl, int argc, char **argv);
int ctl_disconnect(Ctl *ctl, int argc, char **argv);
int ctl_monitor(Ctl *ctl, int argc, char **argv);
int ctl_exec(Ctl *ctl, int argc, char **argv);

/* ctl-util.c */
const char *errno_name(int error);
void ctl_error(int error, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ctl_usage_error(const Ctl *ctl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ctl_connect(const Ctl *ctl, unsigned window, sigbroker **ret);
int ctl_connection_lost(sigbroker *sb, int error);
int parse_u64(const char *s, uint64_t *ret);

/* Options that several commands take; each returns 0, or the exit status
 * with the usage error printed. */
#define CTL_GROUPS_MAX 64       /* --group options of listen and exec */
int ctl_check_group(const Ctl *ctl, const char *name);
int ctl_add_group(const Ctl *ctl, const char *name, const char **groups, size_t *n_groups);
int ctl_parse_window(const Ctl *ctl, const char *s, unsigned *ret);
int parse_seconds(const char *s, int64_t *ret_usec);
int read_file(const char *path, size_t max, char **ret_data, size_t *ret_len);
char *base64_encode(const void *data, size_t len);
void print_escaped(const void *data, size_t len);
void print_line(const char *text);

/* ctl-listen.c: a signal as `listen --json` prints it, on stdout */
void print_signal_json(const sigbroker_info *info, const char *name);
