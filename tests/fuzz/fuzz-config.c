/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the sigbroker.conf(5) parser. The file is root's to
 * write, but a parser that misbehaves on some input (reads past a line,
 * leaks on an error path, loops) is a bug whatever the input's origin.
 * Whatever parses is also run through the policy check, so that the rules
 * the parser built are used the way the daemon uses them.
 */

#include <stdlib.h>

#include "config.h"
#include "fuzz.h"
#include "protocol.h"

static void exercise(const Config *c) {
        static const gid_t groups[] = { 0, 100, 4242 };
        const PolicyPeer sender = { .uid = 1000, .gid = 1000, .groups = groups, .n_groups = 3 };
        const PolicyPeer receiver = { .uid = 0, .gid = 0 };

        for (uint32_t signo = 0; signo <= SB_SIGNO_MAX + 1; signo += 11)
                for (uint32_t kind = 0; kind <= _SB_TARGET_MAX; kind++) {
                        const Rule *rule = NULL;

                        if (config_policy_check(c, &sender, &receiver, signo, kind, &rule) != POLICY_NO_RULE &&
                            (!rule || rule->line == 0))
                                abort();
                }
        (void) config_is_admin(c, &sender);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Config *c = NULL;
        char *error = NULL;
        int r;

        r = config_parse_string("fuzz.conf", (const char *) data, size, &c, &error);
        /* exactly one of the two comes back */
        if ((r == 0) != (c != NULL) || (r == 0) == (error != NULL))
                abort();
        if (c)
                exercise(c);
        free(error);
        config_free(c);
        return 0;
}
