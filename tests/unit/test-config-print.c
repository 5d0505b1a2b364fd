/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * config_print(), what sigbrokerd --check-config shows: the exact text for
 * a known file, and for random rule sets that what it prints parses back
 * to the same limits, admin group and rules, in the same order.
 */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "protocol.h"

static Config *parse_ok(const char *text) {
        Config *c = NULL;
        char *error = NULL;

        ck_assert_msg(config_parse_string("test.conf", text, strlen(text), &c, &error) == 0, "%s\n---\n%s",
                      error ? error : "(no message)", text);
        return c;
}

static char *print(const Config *c, const Limits *l) {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);

        ck_assert_ptr_nonnull(f);
        config_print(c, l, f);
        ck_assert_int_eq(fclose(f), 0);
        return text;
}

static void assert_same_rules(const Config *a, const Config *b) {
        ck_assert_uint_eq(a->n_rules, b->n_rules);
        for (size_t i = 0; i < a->n_rules; i++) {
                const Rule *x = &a->rules[i], *y = &b->rules[i];

                ck_assert_msg(x->action == y->action && x->from.kind == y->from.kind && x->from.id == y->from.id &&
                                      x->to.kind == y->to.kind && x->to.id == y->to.id && x->signals == y->signals &&
                                      x->probe == y->probe && x->targets == y->targets,
                              "rule %zu (line %u) reads back differently", i, x->line);
        }
}

START_TEST(test_print_known) {
        Config *c = parse_ok("[limits]\n"
                             "max-queue = 512\n"
                             "max-payload = 16K\n"
                             "limit-root = yes\n"
                             "[admin]\n"
                             "group = 4242\n"
                             "[policy]\n"
                             "# comment\n"
                             "deny from uid:4243 signals KILL,TERM\n"
                             "allow from gid:4242 to uid:0 signals USR1,RTMIN+1..RTMIN+4,0 targets broadcast,pid\n"
                             "allow signals 1..64\n"
                             "allow signals 32,33 targets any\n");
        Limits l = c->limits;
        char *text;

        l.max_queue = 100;      /* as a command-line override would */
        text = print(c, &l);
        ck_assert_str_eq(text,
                         "[limits]\n"
                         "max-queue = 100\n"
                         "max-queue-bytes = 4M\n"
                         "max-payload = 16K\n"
                         "default-window = 64\n"
                         "max-window = 4096\n"
                         "max-connections-per-uid = 4096\n"
                         "max-pending-per-uid = 65536\n"
                         "max-bytes-per-uid = 64M\n"
                         "max-connections = 65536\n"
                         "max-pending = 1048576\n"
                         "max-bytes = 512M\n"
                         "max-groups-per-client = 64\n"
                         "limit-root = yes\n"
                         "max-received-per-uid = 0\n"
                         "max-received-bytes-per-uid = 0\n"
                         "max-answer-bytes-per-uid = 32M\n"
                         "max-answer-bytes = 128M\n"
                         "hello-timeout = 10\n"
                         "reserved-connections = 64\n"
                         "\n[admin]\n"
                         "group = 4242\n"
                         "\n[policy]\n"
                         "# 4 rules, the first that matches decides; no match: the kill(2) rule\n"
                         "deny from uid:4243 to any signals KILL,TERM targets any  # line 9\n"
                         "allow from gid:4242 to uid:0 signals 0,USR1,RTMIN+1..RTMIN+4 targets pid,broadcast  # line 10, "
                         "uid 0 is root\n"
                         "allow from any to any signals HUP..RTMAX targets any  # line 11\n"
                         "allow from any to any signals 32..33 targets any  # line 12\n");
        free(text);
        config_free(c);
}
END_TEST

START_TEST(test_print_defaults) {
        Config *c = NULL;
        char *text;

        ck_assert_int_eq(config_new_default(&c), 0);
        text = print(c, &c->limits);
        ck_assert_ptr_nonnull(strstr(text, "\n[admin]\n# group: not set, only root may administer\n"));
        ck_assert_ptr_nonnull(strstr(text, "\n[policy]\n# no rules: every delivery follows the kill(2) rule\n"));
        ck_assert_ptr_nonnull(strstr(text, "limit-root = no\n"));
        free(text);
        config_free(c);
}
END_TEST

static uint64_t random64(void) {
        return (uint64_t) random() << 42 ^ (uint64_t) random() << 21 ^ (uint64_t) random();
}

static RuleMatch random_match(void) {
        switch (random() % 3) {
        case 0:
                return (RuleMatch) { .kind = RULE_MATCH_ANY };
        case 1:
                return (RuleMatch) { .kind = RULE_MATCH_UID, .id = (uint32_t) (random() % 70000) };
        default:
                return (RuleMatch) { .kind = RULE_MATCH_GID, .id = (uint32_t) (random() % 70000) };
        }
}

/* Rules as the parser could make them: a signal set with at least one
 * signal (or any), a non-empty target set (or any). */
static Rule random_rule(void) {
        Rule r = {
                .action = random() % 2 ? RULE_ALLOW : RULE_DENY,
                .from = random_match(),
                .to = random_match(),
        };

        switch (random() % 4) {
        case 0:
                r.signals = UINT64_MAX;
                r.probe = true;
                break;
        case 1:         /* sparse */
                r.signals = random64() & random64() & random64();
                break;
        default:        /* runs */
                r.signals = random64() | random64();
                break;
        }
        if (r.signals != UINT64_MAX && random() % 3 == 0)
                r.probe = true;
        if (r.signals == 0 && !r.probe)
                r.signals = SB_SIGMASK(1 + random() % SB_SIGNO_MAX);
        r.targets = random() % 3 == 0 ? UINT32_MAX : (uint32_t) (random() % ((1u << _SB_TARGET_MAX) - 1)) + 1;
        return r;
}

START_TEST(test_print_round_trip) {
        srandom(15);
        for (int round = 0; round < 200; round++) {
                Rule rules[16];
                Config c = {
                        .limits = LIMITS_DEFAULT,
                        .have_admin_gid = round % 2,
                        .admin_gid = (gid_t) round,
                        .rules = rules,
                        .n_rules = (size_t) (random() % 17),
                };
                Config *back;
                char *text, *again;

                for (size_t i = 0; i < c.n_rules; i++)
                        rules[i] = random_rule();
                c.limits.max_queue = 1 + (uint32_t) (random() % 1000);
                c.limits.max_bytes = (uint64_t) (1 + random() % 4096) << 20;
                c.limits.limit_root = round % 3 == 0;
                text = print(&c, &c.limits);
                back = parse_ok(text);
                assert_same_rules(&c, back);
                ck_assert(back->have_admin_gid == c.have_admin_gid);
                ck_assert(!c.have_admin_gid || back->admin_gid == c.admin_gid);
                /* The limits: printing what was read gives the same text. */
                again = print(back, &back->limits);
                ck_assert_ptr_nonnull(strstr(text, "\n[admin]\n"));
                ck_assert_int_eq(strncmp(again, text, (size_t) (strstr(text, "\n[admin]\n") - text)), 0);
                free(again);
                free(text);
                config_free(back);
        }
}
END_TEST

int main(void) {
        const TTest *tests[] = { test_print_known, test_print_defaults, test_print_round_trip };
        Suite *s = suite_create("config-print");
        TCase *tc = tcase_create("print");
        SRunner *sr = srunner_create(s);
        int failed;

        for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
                tcase_add_test(tc, tests[i]);
        /* 200 round trips look up user and group names; on a loaded
         * machine that takes longer than check's default 4 s. */
        tcase_set_timeout(tc, 60);
        suite_add_tcase(s, tc);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
