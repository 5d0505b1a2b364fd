/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Policy evaluation (daemon/core/config.c's first-match rules) beyond what
 * the parser's tests cover, and per-uid accounting objects
 * (daemon/core/user.c): receivers matched by group, catch-all rules after
 * specific ones, the real-time range's ends, the last of the largest rule
 * set, identities with many groups; Users shared per uid and gone with
 * their last reference.
 */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "protocol.h"
#include "unit.h"
#include "user.h"

static Config *parse(const char *text) {
        Config *c = NULL;
        char *error = NULL;
        int r = config_parse_string("policy.conf", text, strlen(text), &c, &error);

        ck_assert_msg(r == 0, "%s", error ? error : "parse failed");
        return c;
}

static PolicyVerdict verdict(const Config *c, const PolicyPeer *from, const PolicyPeer *to, uint32_t signo,
                             uint32_t kind, unsigned *ret_line) {
        const Rule *rule = NULL;
        PolicyVerdict v = config_policy_check(c, from, to, signo, kind, &rule);

        ck_assert((v == POLICY_NO_RULE) == (rule == NULL));
        *ret_line = rule ? rule->line : 0;
        return v;
}

#define assert_verdict(c, from, to, signo, kind, expected, expected_line)                              \
        do {                                                                                           \
                unsigned line_;                                                                        \
                ck_assert_int_eq(verdict((c), (from), (to), (signo), (kind), &line_), (expected));    \
                ck_assert_uint_eq(line_, (expected_line));                                             \
        } while (0)

static const gid_t ops_groups[] = { 20, 4000 };
static const PolicyPeer web = { .uid = 1500, .gid = 1500 };
static const PolicyPeer ops = { .uid = 1600, .gid = 1600, .groups = ops_groups, .n_groups = 2 };
static const PolicyPeer db = { .uid = 1700, .gid = 4000 };
static const PolicyPeer root = { .uid = 0, .gid = 0 };

START_TEST(test_receiver_by_group) {
        Config *c = parse("[policy]\n"
                          "allow from uid:1500 to gid:4000 signals HUP\n"
                          "deny from uid:1500 signals HUP\n");

        /* gid 4000 as the receiver's primary group, or a supplementary one. */
        assert_verdict(c, &web, &db, 1, SB_TARGET_PID, POLICY_ALLOW, 2);
        assert_verdict(c, &web, &ops, 1, SB_TARGET_PID, POLICY_ALLOW, 2);
        /* Not in it: the next rule. */
        assert_verdict(c, &web, &root, 1, SB_TARGET_PID, POLICY_DENY, 3);
        /* The sender's groups do not count for "to". */
        assert_verdict(c, &ops, &web, 1, SB_TARGET_PID, POLICY_NO_RULE, 0);
        config_free(c);
}
END_TEST

START_TEST(test_catch_all_after_specific) {
        Config *c = parse("[policy]\n"
                          "allow from gid:20 to uid:1700 signals USR1,USR2\n"
                          "allow from uid:0 signals any targets any\n"
                          "deny\n");

        assert_verdict(c, &ops, &db, 10, SB_TARGET_GROUP, POLICY_ALLOW, 2);
        assert_verdict(c, &ops, &db, 12, SB_TARGET_BROADCAST, POLICY_ALLOW, 2);
        /* Everything else falls to the bare deny, probes too. */
        assert_verdict(c, &ops, &db, 15, SB_TARGET_PID, POLICY_DENY, 4);
        assert_verdict(c, &ops, &db, 0, SB_TARGET_PID, POLICY_DENY, 4);
        assert_verdict(c, &db, &ops, 10, SB_TARGET_PID, POLICY_DENY, 4);
        /* "signals any" covers the probe as well. */
        assert_verdict(c, &root, &db, 0, SB_TARGET_SID, POLICY_ALLOW, 3);
        assert_verdict(c, &root, &db, 64, SB_TARGET_CLIENT, POLICY_ALLOW, 3);
        config_free(c);

        /* The same rules the other way round: the deny shadows all. */
        c = parse("[policy]\ndeny\nallow from uid:0 signals any targets any\n");
        assert_verdict(c, &root, &db, 9, SB_TARGET_PID, POLICY_DENY, 2);
        config_free(c);
}
END_TEST

START_TEST(test_realtime_range_ends) {
        Config *c = parse("[policy]\n"
                          "deny signals RTMIN..RTMAX\n"
                          "allow signals 31..33\n");

        assert_verdict(c, &web, &db, 33, SB_TARGET_PID, POLICY_ALLOW, 3);
        assert_verdict(c, &web, &db, 31, SB_TARGET_PID, POLICY_ALLOW, 3);
        assert_verdict(c, &web, &db, 34, SB_TARGET_PID, POLICY_DENY, 2);
        assert_verdict(c, &web, &db, 64, SB_TARGET_PID, POLICY_DENY, 2);
        assert_verdict(c, &web, &db, 30, SB_TARGET_PID, POLICY_NO_RULE, 0);
        /* Neither lists 0: a probe matches neither. */
        assert_verdict(c, &web, &db, 0, SB_TARGET_PID, POLICY_NO_RULE, 0);
        config_free(c);
}
END_TEST

START_TEST(test_last_of_the_largest_rule_set) {
        size_t size = 16 + CONFIG_RULES_MAX * 40;
        char *text = malloc(size), *at = text;
        Config *c;

        ck_assert_ptr_nonnull(text);
        at += sprintf(at, "[policy]\n");
        for (unsigned i = 0; i < CONFIG_RULES_MAX - 1; i++)
                at += sprintf(at, "deny from uid:%u\n", 100000 + i);
        sprintf(at, "allow from uid:1500 to uid:1700\n");
        c = parse(text);
        ck_assert_uint_eq(c->n_rules, CONFIG_RULES_MAX);
        assert_verdict(c, &web, &db, 10, SB_TARGET_PID, POLICY_ALLOW, CONFIG_RULES_MAX + 1);
        assert_verdict(c, &ops, &db, 10, SB_TARGET_PID, POLICY_NO_RULE, 0);
        {
                const PolicyPeer late = { .uid = 100000 + CONFIG_RULES_MAX - 2, .gid = 1 };
                assert_verdict(c, &late, &db, 10, SB_TARGET_PID, POLICY_DENY, CONFIG_RULES_MAX);
        }
        config_free(c);
        free(text);
}
END_TEST

START_TEST(test_many_groups) {
        gid_t groups[256];
        PolicyPeer many = { .uid = 2000, .gid = 2000, .groups = groups, .n_groups = 256 };
        Config *c = parse("[policy]\nallow from gid:7777 signals TERM\n");

        for (size_t i = 0; i < 256; i++)
                groups[i] = (gid_t) (5000 + i);
        assert_verdict(c, &many, &db, 15, SB_TARGET_PID, POLICY_NO_RULE, 0);
        groups[255] = 7777;     /* the last one */
        assert_verdict(c, &many, &db, 15, SB_TARGET_PID, POLICY_ALLOW, 2);
        many.n_groups = 255;    /* not counted past n_groups */
        assert_verdict(c, &many, &db, 15, SB_TARGET_PID, POLICY_NO_RULE, 0);
        config_free(c);
}
END_TEST

/* ---- users ---- */

START_TEST(test_user_per_uid) {
        HashTable t = HASHTABLE_INIT;
        User *a = user_ref_by_uid(&t, 1000), *b = user_ref_by_uid(&t, 1000), *c = user_ref_by_uid(&t, 0);

        ck_assert_ptr_nonnull(a);
        ck_assert_ptr_eq(a, b);
        ck_assert_ptr_ne(a, c);
        ck_assert_uint_eq(a->n_ref, 2);
        ck_assert_uint_eq(a->uid, 1000);
        ck_assert_uint_eq(c->uid, 0);
        ck_assert_uint_eq(a->pending + a->connections + a->bytes, 0);
        ck_assert_uint_eq(t.n_nodes, 2);

        ck_assert_ptr_eq(user_ref(a), a);
        ck_assert_uint_eq(a->n_ref, 3);
        ck_assert_ptr_null(user_unref(a));
        ck_assert_ptr_null(user_unref(b));
        ck_assert_ptr_nonnull(hashtable_first(&t, 1000));
        ck_assert_ptr_null(user_unref(a));
        /* Last reference: out of the table (and freed, LeakSanitizer sees). */
        ck_assert_ptr_null(hashtable_first(&t, 1000));
        ck_assert_ptr_nonnull(hashtable_first(&t, 0));
        ck_assert_uint_eq(t.n_nodes, 1);
        /* NULL is accepted both ways. */
        ck_assert_ptr_null(user_ref(NULL));
        ck_assert_ptr_null(user_unref(NULL));
        user_unref(c);
        ck_assert_uint_eq(t.n_nodes, 0);
        /* A uid seen again starts afresh. */
        a = user_ref_by_uid(&t, 1000);
        ck_assert_uint_eq(a->n_ref, 1);
        user_unref(a);
        hashtable_destroy(&t);
}
END_TEST

START_TEST(test_many_users) {
        enum { N = 2000 };
        HashTable t = HASHTABLE_INIT;
        User **users = calloc(N, sizeof(*users));

        ck_assert_ptr_nonnull(users);
        for (uid_t i = 0; i < N; i++) {
                users[i] = user_ref_by_uid(&t, i * 7);
                ck_assert_ptr_nonnull(users[i]);
        }
        ck_assert_uint_eq(t.n_nodes, N);
        for (uid_t i = 0; i < N; i++)
                ck_assert_ptr_eq(user_ref_by_uid(&t, i * 7), users[i]);
        for (uid_t i = 0; i < N; i++) {
                user_unref(users[i]);
                ck_assert_uint_eq(users[i]->n_ref, 1);
        }
        for (uid_t i = 0; i < N; i += 2)
                user_unref(users[i]);
        ck_assert_uint_eq(t.n_nodes, N / 2);
        for (uid_t i = 1; i < N; i += 2)
                ck_assert_ptr_eq(hashtable_first(&t, i * 7), &users[i]->node);
        for (uid_t i = 1; i < N; i += 2)
                user_unref(users[i]);
        ck_assert_uint_eq(t.n_nodes, 0);
        hashtable_destroy(&t);
        free(users);
}
END_TEST

int main(void) {
        Suite *s = suite_create("policy");
        TCase *tc = tcase_create("evaluation");

        tcase_add_test(tc, test_receiver_by_group);
        tcase_add_test(tc, test_catch_all_after_specific);
        tcase_add_test(tc, test_realtime_range_ends);
        tcase_add_test(tc, test_last_of_the_largest_rule_set);
        tcase_add_test(tc, test_many_groups);
        suite_add_tcase(s, tc);
        tc = tcase_create("users");
        tcase_add_test(tc, test_user_per_uid);
        tcase_add_test(tc, test_many_users);
        suite_add_tcase(s, tc);
        return unit_run(s);
}
