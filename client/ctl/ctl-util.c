/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sigbrokerctl helpers: errno names and error lines, the global options,
 * picking the broker and connecting, number and file parsing, base64 and
 * escaped payload text.
 */

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "protocol.h"

static const char *const errno_names[] = {
        [EPERM] = "EPERM",
        [ENOENT] = "ENOENT",
        [ESRCH] = "ESRCH",
        [EINTR] = "EINTR",
        [EIO] = "EIO",
        [ENXIO] = "ENXIO",
        [E2BIG] = "E2BIG",
        [EBADF] = "EBADF",
        [EAGAIN] = "EAGAIN",
        [ENOMEM] = "ENOMEM",
        [EACCES] = "EACCES",
        [EFAULT] = "EFAULT",
        [EBUSY] = "EBUSY",
        [EEXIST] = "EEXIST",
        [ENODEV] = "ENODEV",
        [ENOTDIR] = "ENOTDIR",
        [EISDIR] = "EISDIR",
        [EINVAL] = "EINVAL",
        [ENFILE] = "ENFILE",
        [EMFILE] = "EMFILE",
        [EFBIG] = "EFBIG",
        [ENOSPC] = "ENOSPC",
        [EROFS] = "EROFS",
        [EPIPE] = "EPIPE",
        [ERANGE] = "ERANGE",
        [EDEADLK] = "EDEADLK",
        [ENAMETOOLONG] = "ENAMETOOLONG",
        [ENOSYS] = "ENOSYS",
        [ELOOP] = "ELOOP",
        [ENODATA] = "ENODATA",
        [ETIME] = "ETIME",
        [EPROTO] = "EPROTO",
        [EBADMSG] = "EBADMSG",
        [EOVERFLOW] = "EOVERFLOW",
        [EUSERS] = "EUSERS",
        [ENOTSOCK] = "ENOTSOCK",
        [EMSGSIZE] = "EMSGSIZE",
        [EPROTOTYPE] = "EPROTOTYPE",
        [ENOPROTOOPT] = "ENOPROTOOPT",
        [EOPNOTSUPP] = "EOPNOTSUPP",
        [EAFNOSUPPORT] = "EAFNOSUPPORT",
        [EADDRINUSE] = "EADDRINUSE",
        [ECONNABORTED] = "ECONNABORTED",
        [ECONNRESET] = "ECONNRESET",
        [ENOBUFS] = "ENOBUFS",
        [EISCONN] = "EISCONN",
        [ENOTCONN] = "ENOTCONN",
        [ESHUTDOWN] = "ESHUTDOWN",
        [ETOOMANYREFS] = "ETOOMANYREFS",
        [ETIMEDOUT] = "ETIMEDOUT",
        [ECONNREFUSED] = "ECONNREFUSED",
        [EHOSTDOWN] = "EHOSTDOWN",
        [EALREADY] = "EALREADY",
        [EINPROGRESS] = "EINPROGRESS",
        [EDQUOT] = "EDQUOT",
        [ECANCELED] = "ECANCELED",
};

/* "EAGAIN" for EAGAIN or -EAGAIN; NULL if unknown. */
const char *errno_name(int error) {
        if (error < 0)
                error = -error;
        if ((size_t) error >= sizeof(errno_names) / sizeof(errno_names[0]))
                return NULL;
        return errno_names[error];
}

/* "sigbrokerctl: EPERM: <message>" on stderr. */
void ctl_error(int error, const char *fmt, ...) {
        const char *name = errno_name(error);
        va_list ap;

        if (name)
                fprintf(stderr, "sigbrokerctl: %s: ", name);
        else
                fprintf(stderr, "sigbrokerctl: errno %d: ", error < 0 ? -error : error);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

/* One line: "sigbrokerctl: <message>; try 'sigbrokerctl send --help'". */
int ctl_usage_error(const Ctl *ctl, const char *fmt, ...) {
        const char *command = ctl ? ctl->command : NULL;
        va_list ap;

        fputs("sigbrokerctl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "; try 'sigbrokerctl %s%s--help'\n", command ? command : "", command ? " " : "");
        return CTL_EXIT_USAGE;
}

int ctl_global_option(Ctl *ctl, int c, char **argv) {
        switch (c) {
        case 's':
                if (*optarg == '\0')
                        return ctl_usage_error(ctl, "--socket needs a path");
                ctl->socket = optarg;
                return 0;
        case 'j':
                ctl->json = true;
                return 0;
        case 'o':
                ctl->output = optarg;   /* checked by the command, which knows its columns */
                return 0;
        case CTL_OPT_NO_LEGEND:
                ctl->no_legend = true;
                return 0;
        case CTL_OPT_USER:
        case CTL_OPT_SYSTEM:
                ctl->broker = c == CTL_OPT_USER ? CTL_BROKER_USER : CTL_BROKER_SYSTEM;
                return 0;
        case ':':
                return ctl_usage_error(ctl, "option '%s' needs a value", argv[optind - 1]);
        default:
                /* getopt says nothing itself (opterr = 0): a short option
                 * is in optopt, a long one is the word it just passed. */
                if (optopt > 0 && optopt < 0x100)
                        return ctl_usage_error(ctl, "unknown option '-%c'", optopt);
                return ctl_usage_error(ctl, "unknown option '%s'", argv[optind - 1]);
        }
}

int ctl_no_table(const Ctl *ctl) {
        if (ctl->output || ctl->no_legend)
                return ctl_usage_error(ctl, "%s prints no table: no --output or --no-legend", ctl->command);
        return 0;
}

static const char *connect_error_text(int error) {
        switch (-error) {
        case ENOENT:
                return "no such socket; is sigbrokerd running?";
        case ECONNREFUSED:
                return "nothing listens on it; is sigbrokerd running?";
        case EACCES:
                return "permission denied";
        case ECONNRESET:
                return "the daemon closed the connection during the handshake";
        default:
                return strerror(-error);
        }
}

int ctl_pick_socket(const Ctl *ctl, char **ret_path) {
        const char *runtime;

        if (ctl->socket && ctl->broker != CTL_BROKER_DEFAULT)
                return ctl_usage_error(ctl, "--socket and --%s exclude each other",
                                       ctl->broker == CTL_BROKER_USER ? "user" : "system");
        switch (ctl->broker) {
        case CTL_BROKER_SYSTEM:
                *ret_path = strdup(CTL_SYSTEM_SOCKET);
                break;
        case CTL_BROKER_USER:
                runtime = getenv("XDG_RUNTIME_DIR");
                if (!runtime || runtime[0] != '/') {
                        ctl_error(ENXIO, "--user needs $XDG_RUNTIME_DIR, which is not set");
                        return CTL_EXIT_FAILURE;
                }
                if (asprintf(ret_path, "%s/sigbroker.sock", runtime) < 0)
                        *ret_path = NULL;
                break;
        default:
                if (sigbroker_socket_path(ctl->socket, ret_path) < 0)
                        *ret_path = NULL;
        }
        if (!*ret_path) {
                ctl_error(ENOMEM, "out of memory");
                return CTL_EXIT_FAILURE;
        }
        return 0;
}

/* 0, or the exit status, the error printed. */
int ctl_connect(const Ctl *ctl, unsigned window, sigbroker **ret) {
        _cleanup_(freep) char *path = NULL, *reason = NULL;
        const char *env = getenv("SIGBROKER_SOCKET");
        bool chosen_for_us;
        int r;

        if ((r = ctl_pick_socket(ctl, &path)) != 0)
                return r;
        r = sigbroker_connect_with_reason(path, window, ret, &reason);
        if (r >= 0)
                return 0;

        if (reason) {
                /* The daemon said why it refused (its connection limits). */
                ctl_error(r, "%s refused the connection: %s", path, reason);
                return CTL_EXIT_FAILURE;
        }
        /* A user broker that the library picked because its socket file
         * exists, but which does not answer: a stale file would otherwise
         * hide the system broker without a word. */
        chosen_for_us = !ctl->socket && ctl->broker == CTL_BROKER_DEFAULT && !(env && *env) &&
                        strcmp(path, CTL_SYSTEM_SOCKET) != 0;
        if (chosen_for_us && (r == -ECONNREFUSED || r == -ENOENT)) {
                ctl_error(r, "cannot connect to the user broker at %s (%s), and the system broker at %s was "
                          "not tried: pass --system for it, or remove the stale socket file",
                          path, r == -ECONNREFUSED ? "nothing listens on it" : "no such socket", CTL_SYSTEM_SOCKET);
                return CTL_EXIT_FAILURE;
        }
        ctl_error(r, "cannot connect to %s: %s", path, connect_error_text(r));
        return CTL_EXIT_FAILURE;
}

/* A call on an established connection failed. */
int ctl_connection_lost(sigbroker *sb, int error) {
        const char *text;
        int e;

        if (error == -ECONNRESET && sigbroker_get_disconnect_reason(sb, &e, &text) >= 0)
                ctl_error(error, "the daemon closed the connection: %s (%s)", *text ? text : strerror(e),
                          errno_name(e) ? errno_name(e) : "?");
        else if (error == -ECONNRESET)
                ctl_error(error, "the daemon closed the connection");
        else if (error == -ETIMEDOUT)
                ctl_error(error, "the daemon did not answer");
        else
                ctl_error(error, "%s", strerror(-error));
        return CTL_EXIT_FAILURE;
}

int parse_u64(const char *s, uint64_t *ret) {
        char *end;
        unsigned long long v;

        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || *end != '\0')
                return -EINVAL;
        *ret = v;
        return 0;
}

/* Seconds, fractions allowed: "2", "0.25". */
int parse_seconds(const char *s, int64_t *ret_usec) {
        char *end;
        double v;

        if (!s || *s == '\0')
                return -EINVAL;
        errno = 0;
        v = strtod(s, &end);
        if (errno != 0 || *end != '\0' || !isfinite(v) || v < 0 || v > 1e9)
                return -EINVAL;
        *ret_usec = (int64_t) (v * 1e6 + 0.5);
        return 0;
}

/* Read a file ("-": stdin), at most max bytes plus one, so that the caller
 * can tell a file that is too big. */
int read_file(const char *path, size_t max, char **ret_data, size_t *ret_len) {
        size_t len = 0;
        char *data;
        int fd, r = 0;

        data = malloc(max + 1);
        if (!data)
                return -ENOMEM;
        fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                free(data);
                return -errno;
        }
        while (len < max + 1) {
                ssize_t k = read(fd, data + len, max + 1 - len);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        r = -errno;
                        break;
                }
                if (k == 0)
                        break;
                len += (size_t) k;
        }
        if (fd != STDIN_FILENO)
                close(fd);
        if (r < 0) {
                free(data);
                return r;
        }
        *ret_data = data;
        *ret_len = len;
        return 0;
}

/* Standard base64 with padding, malloc()ed; NULL when out of memory. */
char *base64_encode(const void *data, size_t len) {
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const uint8_t *p = data;
        char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;

        if (!out)
                return NULL;
        for (size_t i = 0; i < len; i += 3) {
                uint32_t v = (uint32_t) p[i] << 16;

                if (i + 1 < len)
                        v |= (uint32_t) p[i + 1] << 8;
                if (i + 2 < len)
                        v |= p[i + 2];
                *o++ = alphabet[(v >> 18) & 63];
                *o++ = alphabet[(v >> 12) & 63];
                *o++ = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
                *o++ = i + 2 < len ? alphabet[v & 63] : '=';
        }
        *o = '\0';
        return out;
}

/* Payload text as a C string literal would show it. */
void print_escaped(const void *data, size_t len) {
        const uint8_t *p = data;

        for (size_t i = 0; i < len; i++) {
                switch (p[i]) {
                case '"':
                        fputs("\\\"", stdout);
                        break;
                case '\\':
                        fputs("\\\\", stdout);
                        break;
                case '\n':
                        fputs("\\n", stdout);
                        break;
                case '\t':
                        fputs("\\t", stdout);
                        break;
                case '\r':
                        fputs("\\r", stdout);
                        break;
                default:
                        if (p[i] >= 0x20 && p[i] < 0x7f)
                                putchar(p[i]);
                        else
                                printf("\\x%02x", p[i]);
                }
        }
}

/* Text as the daemon sent it (JSON, OpenMetrics), ending in a newline. */
void print_line(const char *text) {
        size_t len = strlen(text);

        if (len == 0)
                return;
        fputs(text, stdout);
        if (text[len - 1] != '\n')
                putchar('\n');
}

int ctl_check_group(const Ctl *ctl, const char *name) {
        if (!sb_group_name_is_valid(name, strlen(name)))
                return ctl_usage_error(ctl, "invalid group name '%s' (1..%d of A-Z a-z 0-9 _ . : @ -)", name,
                                       SB_GROUP_NAME_MAX);
        return 0;
}

int ctl_add_group(const Ctl *ctl, const char *name, const char **groups, size_t *n_groups) {
        int r = ctl_check_group(ctl, name);

        if (r != 0)
                return r;
        if (*n_groups == CTL_GROUPS_MAX)
                return ctl_usage_error(ctl, "more than %d groups", CTL_GROUPS_MAX);
        groups[(*n_groups)++] = name;
        return 0;
}

int ctl_parse_window(const Ctl *ctl, const char *s, unsigned *ret) {
        uint64_t v;

        if (parse_u64(s, &v) < 0 || v == 0 || v > UINT32_MAX)
                return ctl_usage_error(ctl, "--window needs a number 1..%u", UINT32_MAX);
        *ret = (unsigned) v;
        return 0;
}
