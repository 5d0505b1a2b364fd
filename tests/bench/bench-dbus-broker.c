/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A private dbus-broker for the "dbus-broker" backend, started without
 * systemd and without dbus-broker-launch: the bench plays the launcher.
 *
 * dbus-broker reads no configuration and opens no socket itself. Its
 * launcher hands it one end of a socketpair (--controller) and speaks
 * peer-to-peer D-Bus on the other: it calls org.bus1.DBus.Broker.AddListener
 * on /org/bus1/DBus/Broker with a listening SOCK_STREAM socket and the bus
 * policy as a variant. Here the listener is <tmpdir>/dbus-broker.sock and
 * the policy allows everyone everything (connect, send, receive), which is
 * what the dbus-daemon backend's config allows too. The per-user quotas are
 * raised on the command line, as dbus-daemon's limits are in its config, so
 * 10,000 idle clients and a deep queue fit (all clients are one uid here).
 *
 * The controller connection stays open for the broker's lifetime (it exits
 * when its controller hangs up); nothing is read from it after
 * AddListener: the broker only writes to it for activation, which the
 * bench does not use.
 */

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-id128.h>

#include "bench.h"

#define BROKER_CALL_TIMEOUT_USEC (10 * 1000 * 1000)
/* Per-user quotas (every client is one uid here), of the order of the
 * dbus-daemon backend's limits. dbus-broker 33 refuses its controller
 * (a quota error) with --max-bytes at 2^32 or more. */
#define BROKER_MAX_BYTES "1000000000"
#define BROKER_MAX_FDS "1000000"                /* each client's own socket counts */
#define BROKER_MAX_MATCHES "1000000"
#define BROKER_MAX_OBJECTS "100000000"

/* One batch of the policy (see dbus-broker's src/bus/policy.c): the
 * connect verdict, own rules, send rules, receive rules. */
#define BROKER_POLICY_BATCH "bta(btbs)a(btssssuutt)a(btssssuutt)"
#define BROKER_POLICY_FIELDS "a(u(" BROKER_POLICY_BATCH "))a(buu(" BROKER_POLICY_BATCH "))a(ss)bs"

static int broker_listen(const struct bench_dbus_daemon *d, int *ret_fd) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -1;

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        memcpy(sa.sun_path, d->paths.sock, sizeof(d->paths.sock));
        unlink(d->paths.sock);
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, SOMAXCONN) < 0)
                return -errno;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* A wildcard transmission rule: any name, path, interface, member, type. */
static int broker_append_xmit_all(sd_bus_message *m) {
        int r = sd_bus_message_open_container(m, 'a', "(btssssuutt)");

        if (r >= 0)
                r = sd_bus_message_append(m, "(btssssuutt)", 1, UINT64_C(1), "", "", "", "", 0u, 0u,
                                          UINT64_C(0), UINT64_MAX);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

/* Everyone may connect, send and receive anything. */
static int broker_append_policy(sd_bus_message *m) {
        int r;

        r = sd_bus_message_open_container(m, 'v', "(" BROKER_POLICY_FIELDS ")");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'r', BROKER_POLICY_FIELDS);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(u(" BROKER_POLICY_BATCH "))");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'r', "u(" BROKER_POLICY_BATCH ")");
        if (r >= 0)
                r = sd_bus_message_append(m, "u", (uint32_t) -1); /* the default batch */
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'r', BROKER_POLICY_BATCH);
        if (r >= 0)
                r = sd_bus_message_append(m, "bt", 1, UINT64_C(1));
        if (r >= 0)
                r = sd_bus_message_append(m, "a(btbs)", 0); /* no names owned here */
        if (r >= 0)
                r = broker_append_xmit_all(m);
        if (r >= 0)
                r = broker_append_xmit_all(m);
        for (unsigned i = 0; i < 3 && r >= 0; i++) /* batch, (u batch), array */
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_append(m, "a(buu(" BROKER_POLICY_BATCH "))", 0);
        if (r >= 0)
                r = sd_bus_message_append(m, "a(ss)", 0);
        if (r >= 0)
                r = sd_bus_message_append(m, "bs", 0, "session");
        for (unsigned i = 0; i < 2 && r >= 0; i++) /* struct, variant */
                r = sd_bus_message_close_container(m);
        return r;
}

static int broker_add_listener(sd_bus *controller, int listen_fd) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(controller, &m, NULL, "/org/bus1/DBus/Broker", "org.bus1.DBus.Broker",
                                           "AddListener");
        if (r >= 0)
                r = sd_bus_message_append(m, "oh", "/org/bus1/DBus/Listener/0", listen_fd);
        if (r >= 0)
                r = broker_append_policy(m);
        if (r >= 0)
                r = sd_bus_call(controller, m, BROKER_CALL_TIMEOUT_USEC, &error, NULL);
        if (r < 0 && sd_bus_error_is_set(&error))
                fprintf(stderr, "sigbroker-bench: dbus-broker AddListener: %s: %s\n", error.name, error.message);
        sd_bus_error_free(&error);
        sd_bus_message_unref(m);
        return r;
}

static int broker_spawn(struct bench_dbus_daemon *d, int controller_fd) {
        _cleanup_close_ int log_fd = -1;
        char machine_id[SD_ID128_STRING_MAX] = "0123456789abcdef0123456789abcdef";
        sd_id128_t id;

        log_fd = open(d->paths.log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (log_fd < 0)
                return -errno;
        if (sd_id128_get_machine(&id) >= 0)
                sd_id128_to_string(id, machine_id);
        /* Its log goes to stderr (no --log), which is the log file. */
        return bench_spawn_exec("dbus-broker",
                                (char *[]) { (char *) "dbus-broker", (char *) "--controller", (char *) "3",
                                             (char *) "--machine-id", machine_id,
                                             (char *) "--max-bytes", (char *) BROKER_MAX_BYTES,
                                             (char *) "--max-fds", (char *) BROKER_MAX_FDS,
                                             (char *) "--max-matches", (char *) BROKER_MAX_MATCHES,
                                             (char *) "--max-objects", (char *) BROKER_MAX_OBJECTS, NULL },
                                controller_fd, log_fd, &d->pid);
}

/* The launcher's part: spawn, connect the controller, add the listener. */
static int broker_start(struct bench_dbus_daemon *d, const struct bench_config *cfg) {
        _cleanup_close_ int listen_fd = -1, ours = -1, theirs = -1;
        sd_bus *controller = NULL;
        int pair[2], r;

        r = bench_server_paths_init(&d->paths, cfg, "dbus-broker");
        if (r < 0)
                return r;
        snprintf(d->address, sizeof(d->address), "unix:path=%s", d->paths.sock);
        r = broker_listen(d, &listen_fd);
        if (r < 0)
                return r;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) < 0)
                return -errno;
        ours = pair[0];
        theirs = pair[1];
        r = broker_spawn(d, theirs);
        if (r < 0)
                return r;
        r = sd_bus_new(&controller);
        if (r < 0)
                return r;
        d->controller = controller;
        r = sd_bus_set_fd(controller, ours, ours);
        if (r < 0)
                return r;
        ours = -1; /* the bus has it now */
        r = sd_bus_start(controller);
        if (r < 0)
                return r;
        return broker_add_listener(controller, listen_fd);
}

int bench_dbus_broker_start(const struct bench_config *cfg, struct bench_dbus_daemon **ret) {
        struct bench_dbus_daemon *d;
        int r;

        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        r = broker_start(d, cfg);
        if (r < 0) {
                bench_server_show_log(&d->paths, "dbus-broker");
                bench_dbus_daemon_stop(d);
                return r;
        }
        *ret = d;
        return 0;
}
