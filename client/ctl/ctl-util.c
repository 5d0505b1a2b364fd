/*
 * sigbrokerctl helpers: errno names and error lines, connecting, number and
 * file parsing, and the output encodings (JSON strings, base64, escaped
 * text, indented JSON).
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

int ctl_usage_error(const char *command, const char *fmt, ...) {
        va_list ap;

        fputs("sigbrokerctl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nTry 'sigbrokerctl %s%s--help'.\n", command ? command : "", command ? " " : "");
        return CTL_EXIT_USAGE;
}

int ctl_connect(const Ctl *ctl, unsigned window, sigbroker **ret) {
        char *path = NULL;
        const char *why;
        int r;

        r = sigbroker_connect_with(ctl->socket, window, ret);
        if (r >= 0)
                return 0;

        switch (-r) {
        case ENOENT:
                why = "no such socket; is sigbrokerd running?";
                break;
        case ECONNREFUSED:
                why = "nothing listens on it; is sigbrokerd running?";
                break;
        case EACCES:
                why = "permission denied";
                break;
        case ECONNRESET:
                why = "the daemon closed the connection during the handshake";
                break;
        default:
                why = strerror(-r);
        }
        (void) sigbroker_socket_path(ctl->socket, &path);
        ctl_error(r, "cannot connect to %s: %s", path ? path : "the daemon", why);
        free(path);
        return -1;
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

void print_json_string(const char *s, size_t len) {
        putchar('"');
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) s[i];

                if (c == '"' || c == '\\')
                        printf("\\%c", c);
                else if (c == '\n')
                        fputs("\\n", stdout);
                else if (c < 0x20 || c == 0x7f)
                        printf("\\u%04x", c);
                else
                        putchar(c);
        }
        putchar('"');
}

void print_base64(const void *data, size_t len) {
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const uint8_t *p = data;

        for (size_t i = 0; i < len; i += 3) {
                uint32_t v = (uint32_t) p[i] << 16;

                if (i + 1 < len)
                        v |= (uint32_t) p[i + 1] << 8;
                if (i + 2 < len)
                        v |= p[i + 2];
                putchar(alphabet[(v >> 18) & 63]);
                putchar(alphabet[(v >> 12) & 63]);
                putchar(i + 1 < len ? alphabet[(v >> 6) & 63] : '=');
                putchar(i + 2 < len ? alphabet[v & 63] : '=');
        }
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

static void newline_indent(int depth) {
        putchar('\n');
        for (int i = 0; i < depth; i++)
                fputs("  ", stdout);
}

static const char *skip_space(const char *p) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
                p++;
        return p;
}

/* Re-indent JSON text, two spaces a level. It is not validated: text that
 * is not JSON comes out re-spaced but whole. */
void print_json_pretty(const char *json) {
        bool in_string = false, escaped = false;
        int depth = 0;

        for (const char *p = skip_space(json); *p; p++) {
                char c = *p;

                if (in_string) {
                        putchar(c);
                        if (escaped)
                                escaped = false;
                        else if (c == '\\')
                                escaped = true;
                        else if (c == '"')
                                in_string = false;
                        continue;
                }
                switch (c) {
                case '"':
                        in_string = true;
                        putchar(c);
                        break;
                case '{':
                case '[': {
                        const char *next = skip_space(p + 1);

                        putchar(c);
                        if (*next == (c == '{' ? '}' : ']')) {
                                putchar(*next);
                                p = next;
                        } else
                                newline_indent(++depth);
                        break;
                }
                case '}':
                case ']':
                        newline_indent(depth > 0 ? --depth : 0);
                        putchar(c);
                        break;
                case ',':
                        putchar(c);
                        newline_indent(depth);
                        break;
                case ':':
                        fputs(": ", stdout);
                        break;
                case ' ':
                case '\t':
                case '\n':
                case '\r':
                        break;
                default:
                        putchar(c);
                }
        }
        putchar('\n');
}
