/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Small helpers shared by the daemon's modules (systemd's idioms). */

#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

#define TAKE_PTR(p) ({ __typeof__(p) _p = (p); (p) = NULL; _p; })
#define TAKE_FD(fd) ({ int _fd = (fd); (fd) = -1; _fd; })
#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define container_of(ptr, type, member) ((type *) ((char *) (ptr) - offsetof(type, member)))

/* "s" unless n is 1: "%u client%s", n, plural(n). */
static inline const char *plural(unsigned long long n) { return n == 1 ? "" : "s"; }

static inline void freep(void *p) { free(*(void **) p); }
static inline void closep(int *fd) { if (*fd >= 0) close(*fd); }
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)

/* Before closing a connection we refused or cut off: closing a socket
 * with unread input makes the kernel report ECONNRESET to the client ahead
 * of what we sent, so it would never read why. Stop further input (its
 * sends now fail with EPIPE) and discard what came before. Only for
 * connections that are going away for good: shutdown() acts on the socket,
 * which systemd's fd store shares. */
static inline void socket_discard_input(int fd, void *scratch) {
        (void) shutdown(fd, SHUT_RD);
        while (recv(fd, scratch, 1, MSG_DONTWAIT | MSG_TRUNC) > 0)
                ;
}

static inline uint64_t now_ns(clockid_t clock) {
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}
