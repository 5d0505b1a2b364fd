/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A private dbus-daemon for the "dbus-daemon" backend: a minimal session
 * config in the run's temp dir with the stock session bus limits (so 10,000
 * clients and deep queues are allowed) and no service activation, started
 * with --nofork and --print-address, killed and cleaned up at the end.
 */

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "bench.h"

#define DBUS_START_TIMEOUT_NS (10 * NSEC_PER_SEC)

static const char dbus_config[] =
        "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
        " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
        "<busconfig>\n"
        "  <type>session</type>\n"
        "  <listen>unix:path=%s</listen>\n"
        "  <auth>EXTERNAL</auth>\n"
        "  <policy context=\"default\">\n"
        "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
        "    <allow eavesdrop=\"true\"/>\n"
        "    <allow own=\"*\"/>\n"
        "  </policy>\n"
        "  <limit name=\"max_incoming_bytes\">1000000000</limit>\n"
        "  <limit name=\"max_outgoing_bytes\">1000000000</limit>\n"
        "  <limit name=\"max_message_size\">1000000000</limit>\n"
        "  <limit name=\"max_completed_connections\">100000</limit>\n"
        "  <limit name=\"max_incomplete_connections\">10000</limit>\n"
        "  <limit name=\"max_connections_per_user\">100000</limit>\n"
        "  <limit name=\"max_match_rules_per_connection\">50000</limit>\n"
        "  <limit name=\"auth_timeout\">240000</limit>\n"
        "</busconfig>\n";

static int dbus_write_config(struct bench_dbus_daemon *d, const struct bench_config *cfg) {
        FILE *f;
        int r;

        r = bench_server_paths_init(&d->paths, cfg, "dbus");
        if (r < 0)
                return r;
        f = fopen(d->paths.conf, "we");
        if (!f)
                return -errno;
        fprintf(f, dbus_config, d->paths.sock);
        return fclose(f) == 0 ? 0 : -errno;
}

/* Reads the address dbus-daemon prints on fd 3 once it listens. */
static int dbus_read_address(struct bench_dbus_daemon *d, int fd) {
        uint64_t deadline = bench_now_ns() + DBUS_START_TIMEOUT_NS;
        size_t len = 0;

        while (len < sizeof(d->address) - 1) {
                int r = bench_wait_readable(fd, deadline);
                ssize_t k;

                if (r <= 0)
                        return r < 0 ? r : -ETIMEDOUT;
                k = read(fd, d->address + len, sizeof(d->address) - 1 - len);
                if (k <= 0)
                        return k < 0 ? -errno : -EPIPE;
                len += (size_t) k;
                d->address[len] = 0;
                if (strchr(d->address, '\n')) {
                        *strchr(d->address, '\n') = 0;
                        return 0;
                }
        }
        return -E2BIG;
}

void *bench_dbus_daemon_stop(struct bench_dbus_daemon *d) {
        if (!d)
                return NULL;
        bench_proc_reap(d->pid);
        sd_bus_close_unref(d->controller);
        bench_server_paths_remove(&d->paths);
        free(d);
        return NULL;
}

static int dbus_spawn(struct bench_dbus_daemon *d) {
        _cleanup_close_ int log_fd = -1, rfd = -1, wfd = -1;
        char conf_arg[128];
        int fds[2], r;

        /* Its stderr goes to a file: dbus-daemon complains that it cannot
         * raise RLIMIT_NOFILE to 65536, which is harmless here. */
        log_fd = open(d->paths.log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (log_fd < 0)
                return -errno;
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        rfd = fds[0];
        wfd = fds[1];
        snprintf(conf_arg, sizeof(conf_arg), "--config-file=%s", d->paths.conf);
        r = bench_spawn_exec("dbus-daemon",
                             (char *[]) { (char *) "dbus-daemon", conf_arg, (char *) "--nofork",
                                          (char *) "--print-address=3", NULL },
                             wfd, log_fd, &d->pid);
        if (r < 0)
                return r;
        close(TAKE_FD(wfd));
        return dbus_read_address(d, rfd);
}

int bench_dbus_daemon_start(const struct bench_config *cfg, struct bench_dbus_daemon **ret) {
        struct bench_dbus_daemon *d;
        int r;

        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        r = dbus_write_config(d, cfg);
        if (r >= 0)
                r = dbus_spawn(d);
        if (r < 0) {
                bench_server_show_log(&d->paths, "dbus-daemon");
                bench_dbus_daemon_stop(d);
                return r;
        }
        *ret = d;
        return 0;
}
