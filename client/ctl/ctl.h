#pragma once

/* sigbrokerctl: the commands and the helpers they share. */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "sigbroker.h"

#define _cleanup_(f) __attribute__((cleanup(f)))
static inline void freep(void *p) { free(*(void **) p); }

/* Exit statuses. */
#define CTL_EXIT_OK 0
#define CTL_EXIT_FAILURE 1     /* the operation failed, or timed out */
#define CTL_EXIT_USAGE 2       /* bad command line */

typedef struct Ctl {
        const char *socket;     /* --socket, NULL: the library's default */
        bool json;              /* --json */
} Ctl;

typedef int (*ctl_command_t)(const Ctl *ctl, int argc, char **argv);

int ctl_send(const Ctl *ctl, int argc, char **argv);
int ctl_listen(const Ctl *ctl, int argc, char **argv);
int ctl_stats(const Ctl *ctl, int argc, char **argv);
int ctl_clients(const Ctl *ctl, int argc, char **argv);
int ctl_groups(const Ctl *ctl, int argc, char **argv);
int ctl_status(const Ctl *ctl, int argc, char **argv);
int ctl_reload(const Ctl *ctl, int argc, char **argv);
int ctl_disconnect(const Ctl *ctl, int argc, char **argv);
int ctl_monitor(const Ctl *ctl, int argc, char **argv);
int ctl_exec(const Ctl *ctl, int argc, char **argv);

/* ctl-util.c */
const char *errno_name(int error);
void ctl_error(int error, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ctl_usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ctl_connect(const Ctl *ctl, unsigned window, sigbroker **ret);
int ctl_connection_lost(sigbroker *sb, int error);
int parse_u64(const char *s, uint64_t *ret);
int parse_seconds(const char *s, int64_t *ret_usec);
int read_file(const char *path, size_t max, char **ret_data, size_t *ret_len);
void print_json_string(const char *s, size_t len);
void print_base64(const void *data, size_t len);
void print_escaped(const void *data, size_t len);
void print_json_pretty(const char *json);

/* ctl-listen.c: a signal as `listen --json` prints it, on stdout */
void print_signal_json(const sigbroker_info *info, const char *name);
