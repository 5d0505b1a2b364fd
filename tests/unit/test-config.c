/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sigbroker.conf(5) parsing and policy matching: every key, every kind of
 * error with the line it names, rules, and the first-match-wins check.
 */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "protocol.h"

#define NO_SUCH_NAME "sb-no-such-name-7f3a9c"

static Config *parse_ok(const char *text) {
        Config *c = NULL;
        char *error = NULL;
        int r;

        r = config_parse_string("test.conf", text, strlen(text), &c, &error);
        ck_assert_msg(r == 0, "parse failed (%d): %s\n---\n%s", r, error ? error : "(no message)", text);
        ck_assert_ptr_null(error);
        ck_assert_ptr_nonnull(c);
        return c;
}

static void parse_fails_len(const char *text, size_t len, const char *expected) {
        Config *c = NULL;
        char *error = NULL;
        int r;

        r = config_parse_string("test.conf", text, len, &c, &error);
        ck_assert_msg(r == -EINVAL, "expected -EINVAL, got %d for:\n%s", r, text);
        ck_assert_ptr_null(c);
        ck_assert_ptr_nonnull(error);
        ck_assert_str_eq(error, expected);
        free(error);
}

static void parse_fails(const char *text, const char *expected) {
        parse_fails_len(text, strlen(text), expected);
}

static void assert_limits_eq(const Limits *a, const Limits *b) {
        ck_assert_uint_eq(a->max_queue, b->max_queue);
        ck_assert_uint_eq(a->max_queue_bytes, b->max_queue_bytes);
        ck_assert_uint_eq(a->max_payload, b->max_payload);
        ck_assert_uint_eq(a->default_window, b->default_window);
        ck_assert_uint_eq(a->max_window, b->max_window);
        ck_assert_uint_eq(a->max_connections_per_uid, b->max_connections_per_uid);
        ck_assert_uint_eq(a->max_pending_per_uid, b->max_pending_per_uid);
        ck_assert_uint_eq(a->max_bytes_per_uid, b->max_bytes_per_uid);
        ck_assert_uint_eq(a->max_connections, b->max_connections);
        ck_assert_uint_eq(a->max_pending, b->max_pending);
        ck_assert_uint_eq(a->max_bytes, b->max_bytes);
        ck_assert_uint_eq(a->max_groups_per_client, b->max_groups_per_client);
        ck_assert_int_eq(a->limit_root, b->limit_root);
}

static void assert_is_default(const Config *c) {
        const Limits defaults = LIMITS_DEFAULT;

        assert_limits_eq(&c->limits, &defaults);
        ck_assert(!c->have_admin_gid);
        ck_assert_uint_eq(c->n_rules, 0);
}

START_TEST(test_defaults) {
        Config *c = NULL;

        ck_assert_int_eq(config_new_default(&c), 0);
        ck_assert_ptr_null(c->path);
        assert_is_default(c);
        ck_assert_uint_eq(c->limits.max_queue, 1024);
        ck_assert_uint_eq(c->limits.max_queue_bytes, 4 << 20);
        ck_assert_uint_eq(c->limits.max_payload, SB_PAYLOAD_MAX_DEFAULT);
        /* The defaults let one user hold at least 1,000 connections */
        ck_assert_uint_ge(c->limits.max_connections_per_uid, 1000);
        ck_assert(!c->limits.limit_root);
        ck_assert_ptr_null(config_free(c));
        ck_assert_ptr_null(config_free(NULL));
}
END_TEST

START_TEST(test_empty) {
        static const char *const texts[] = {
                "",
                "\n\n\n",
                "# nothing but comments\n   \n\t# indented\n",
                "[limits]\n[admin]\n[policy]\n",
                "\xef\xbb\xbf# a byte order mark\n",
        };

        for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
                Config *c = parse_ok(texts[i]);

                ck_assert_str_eq(c->path, "test.conf");
                assert_is_default(c);
                config_free(c);
        }
}
END_TEST

START_TEST(test_every_key) {
        Config *c = parse_ok("[limits]\n"
                             "max-queue = 32\n"
                             "max-queue-bytes = 1M\n"
                             "max-payload = 65536\n"
                             "default-window = 16\n"
                             "max-window = 256\n"
                             "max-connections-per-uid = 100\n"
                             "max-pending-per-uid = 5000\n"
                             "max-bytes-per-uid = 8M\n"
                             "max-connections = 2000\n"
                             "max-pending = 100000\n"
                             "max-bytes = 1G\n"
                             "max-groups-per-client = 0\n"
                             "limit-root = yes\n"
                             "[admin]\n"
                             "group = 0\n");

        ck_assert_uint_eq(c->limits.max_queue, 32);
        ck_assert_uint_eq(c->limits.max_queue_bytes, 1 << 20);
        ck_assert_uint_eq(c->limits.max_payload, 65536);
        ck_assert_uint_eq(c->limits.default_window, 16);
        ck_assert_uint_eq(c->limits.max_window, 256);
        ck_assert_uint_eq(c->limits.max_connections_per_uid, 100);
        ck_assert_uint_eq(c->limits.max_pending_per_uid, 5000);
        ck_assert_uint_eq(c->limits.max_bytes_per_uid, 8 << 20);
        ck_assert_uint_eq(c->limits.max_connections, 2000);
        ck_assert_uint_eq(c->limits.max_pending, 100000);
        ck_assert_uint_eq(c->limits.max_bytes, 1 << 30);
        ck_assert_uint_eq(c->limits.max_groups_per_client, 0);
        ck_assert(c->limits.limit_root);
        ck_assert(c->have_admin_gid);
        ck_assert_uint_eq(c->admin_gid, 0);
        ck_assert_uint_eq(c->n_rules, 0);
        config_free(c);
}
END_TEST

START_TEST(test_layout) {
        /* spacing, comments after values, CRLF, repeated sections */
        Config *c = parse_ok("  [ limits ]  # the limits\r\n"
                             "max-queue=7#no spaces\r\n"
                             "\tmax-payload   =   100   \r\n"
                             "[policy]\n"
                             "deny\n"
                             "[limits]\n"
                             "max-window = 9\n"
                             "default-window = 9\n"
                             "[policy]\n"
                             "  allow   from   any  # trailing\n");

        ck_assert_uint_eq(c->limits.max_queue, 7);
        ck_assert_uint_eq(c->limits.max_payload, 100);
        ck_assert_uint_eq(c->limits.max_window, 9);
        ck_assert_uint_eq(c->n_rules, 2);
        ck_assert_int_eq(c->rules[0].action, RULE_DENY);
        ck_assert_uint_eq(c->rules[0].line, 5);
        ck_assert_int_eq(c->rules[1].action, RULE_ALLOW);
        ck_assert_uint_eq(c->rules[1].line, 10);
        config_free(c);
}
END_TEST

START_TEST(test_sizes) {
        static const struct {
                const char *text;
                uint64_t value;
        } good[] = {
                { "4096", 4096 },
                { "4K", 4096 },
                { "1024K", 1 << 20 },
                { "4M", 4 << 20 },
                { "1G", UINT64_C(1) << 30 },
                { "1024G", UINT64_C(1) << 40 },
                { "0001K", 1024 },
        };
        static const char *const bad[] = { "4k", "4KB", "4 M", "K", "-1", "+4", "4T", "0x10", "4.5M", "M4" };
        char text[128], expected[256];

        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                Config *c;

                snprintf(text, sizeof(text), "[limits]\nmax-payload = 0\nmax-bytes = %s\n", good[i].text);
                c = parse_ok(text);
                ck_assert_uint_eq(c->limits.max_bytes, good[i].value);
                config_free(c);
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                snprintf(text, sizeof(text), "[limits]\nmax-bytes = %s\n", bad[i]);
                snprintf(expected, sizeof(expected),
                         "test.conf:2: max-bytes takes a size such as 4096 or 4M, not '%s'", bad[i]);
                parse_fails(text, expected);
        }

        /* too large, by value or by overflowing the multiplication */
        parse_fails("[limits]\nmax-bytes = 1025G\n",
                    "test.conf:2: max-bytes must be between 1K and 1024G, not '1025G'");
        parse_fails("[limits]\nmax-bytes = 17179869184G\n",
                    "test.conf:2: max-bytes must be between 1K and 1024G, not '17179869184G'");
        parse_fails("[limits]\nmax-bytes = 99999999999999999999999\n",
                    "test.conf:2: max-bytes must be between 1K and 1024G, not '99999999999999999999999'");

        /* max-payload takes a size too */
        Config *c = parse_ok("[limits]\nmax-payload = 64K\n");
        ck_assert_uint_eq(c->limits.max_payload, 65536);
        config_free(c);
}
END_TEST

START_TEST(test_counts_take_no_suffix) {
        parse_fails("[limits]\nmax-queue = 1K\n", "test.conf:2: max-queue takes a number, not '1K'");
        parse_fails("[limits]\nmax-pending = -1\n", "test.conf:2: max-pending takes a number, not '-1'");
        parse_fails("[limits]\nmax-window = twelve\n", "test.conf:2: max-window takes a number, not 'twelve'");
}
END_TEST

/* Each key at both ends of its range and one step past each. context
 * holds other keys the boundary values need to stay consistent. */
static const struct {
        const char *key;
        const char *min, *max, *below, *above;
        const char *range;
        const char *context;
} ranges[] = {
        { "max-queue", "1", "1048576", "0", "1048577", "1 and 1048576", "" },
        { "max-queue-bytes", "1024", "1099511627776", "1023", "1099511627777", "1K and 1024G", "max-payload = 0\n" },
        { "max-payload", "0", "65536", NULL, "65537", "0 and 64K", "" },
        { "default-window", "1", "1048576", "0", "1048577", "1 and 1048576", "max-window = 1048576\n" },
        { "max-window", "1", "1048576", "0", "1048577", "1 and 1048576", "default-window = 1\n" },
        { "max-connections-per-uid", "1", "1048576", "0", "1048577", "1 and 1048576", "" },
        { "max-pending-per-uid", "1", "1073741824", "0", "1073741825", "1 and 1073741824", "" },
        { "max-bytes-per-uid", "1K", "1024G", "1023", "1025G", "1K and 1024G", "max-payload = 0\n" },
        { "max-connections", "1", "1048576", "0", "1048577", "1 and 1048576", "" },
        { "max-pending", "1", "1073741824", "0", "4294967296", "1 and 1073741824", "" },
        { "max-bytes", "1K", "1024G", "0", "1099511627777", "1K and 1024G", "max-payload = 0\n" },
        { "max-groups-per-client", "0", "65536", NULL, "65537", "0 and 65536", "" },
};

START_TEST(test_ranges) {
        char text[256], expected[256];
        const char *values[] = { ranges[_i].min, ranges[_i].max };

        for (size_t v = 0; v < 2; v++) {
                Config *c;

                snprintf(text, sizeof(text), "[limits]\n%s%s = %s\n", ranges[_i].context, ranges[_i].key, values[v]);
                c = parse_ok(text);
                config_free(c);
        }
        if (ranges[_i].below) {
                snprintf(text, sizeof(text), "[limits]\n%s = %s\n", ranges[_i].key, ranges[_i].below);
                snprintf(expected, sizeof(expected), "test.conf:2: %s must be between %s, not '%s'",
                         ranges[_i].key, ranges[_i].range, ranges[_i].below);
                parse_fails(text, expected);
        }
        snprintf(text, sizeof(text), "[limits]\n%s = %s\n", ranges[_i].key, ranges[_i].above);
        snprintf(expected, sizeof(expected), "test.conf:2: %s must be between %s, not '%s'",
                 ranges[_i].key, ranges[_i].range, ranges[_i].above);
        parse_fails(text, expected);
}
END_TEST

START_TEST(test_bool) {
        static const struct {
                const char *text;
                bool value;
        } values[] = {
                { "yes", true }, { "no", false }, { "true", true }, { "false", false },
                { "on", true }, { "off", false }, { "1", true }, { "0", false }, { "YES", true },
        };
        char text[64];

        for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
                Config *c;

                snprintf(text, sizeof(text), "[limits]\nlimit-root = %s\n", values[i].text);
                c = parse_ok(text);
                ck_assert_int_eq(c->limits.limit_root, values[i].value);
                config_free(c);
        }
        parse_fails("[limits]\nlimit-root = maybe\n", "test.conf:2: limit-root takes yes or no, not 'maybe'");
        parse_fails("[limits]\nlimit-root = 2\n", "test.conf:2: limit-root takes yes or no, not '2'");
}
END_TEST

START_TEST(test_structure_errors) {
        parse_fails("[limits]\nmax-queue = 1\n[limitz]\n",
                    "test.conf:3: unknown section [limitz]: expected [limits], [admin] or [policy]");
        parse_fails("[]\n", "test.conf:1: unknown section []: expected [limits], [admin] or [policy]");
        parse_fails("[limits extra]\n",
                    "test.conf:1: unknown section [limits extra]: expected [limits], [admin] or [policy]");
        parse_fails("# header\n[limits\n", "test.conf:2: section header '[limits' lacks its closing ']'");
        parse_fails("# header\n\nmax-queue = 5\n",
                    "test.conf:3: 'max-queue = 5' comes before any section header such as [limits]");
        parse_fails("[limits]\n\n# comment\nmax-qeue = 5\n", "test.conf:4: unknown key 'max-qeue' in [limits]");
        parse_fails("[admin]\nmax-queue = 5\n", "test.conf:2: unknown key 'max-queue' in [admin]");
        parse_fails("[limits]\ngroup = 0\n", "test.conf:2: unknown key 'group' in [limits]");
        parse_fails("[limits]\nmax-queue 5\n", "test.conf:2: expected 'key = value', not 'max-queue 5'");
        parse_fails("[limits]\nmax-queue =   # nothing\n", "test.conf:2: max-queue has no value");
        parse_fails("[limits]\n = 5\n", "test.conf:2: missing key before '='");
        parse_fails("[limits]\nmax-queue = 5\n[admin]\n[limits]\nmax-queue = 6\n",
                    "test.conf:5: max-queue is already set on line 2");
        parse_fails("[admin]\ngroup = 0\ngroup = 0\n", "test.conf:3: group is already set on line 2");
}
END_TEST

START_TEST(test_bad_bytes) {
        parse_fails("[limits]\nmax-queue = 5\x01\n", "test.conf:2: control character 0x01 in the line");
        parse_fails("[limits]\n# \x7f in a comment\n", "test.conf:2: control character 0x7f in the line");
        parse_fails("[limits]\nmax-queue = 5\r\r\n", "test.conf:2: control character 0x0d in the line");
        parse_fails_len("[limits]\nmax-queue = 5\0\n", 24, "test.conf:2: control character 0x00 in the line");
        parse_fails_len("[limits]\n\0", 10, "test.conf:2: control character 0x00 in the line");
}
END_TEST

static char *repeat(const char *head, char c, size_t n, const char *tail) {
        size_t h = strlen(head), t = strlen(tail);
        char *s = malloc(h + n + t + 1);

        ck_assert_ptr_nonnull(s);
        memcpy(s, head, h);
        memset(s + h, c, n);
        memcpy(s + h + n, tail, t + 1);
        return s;
}

START_TEST(test_line_length) {
        char *text;

        /* "#" plus 4095 characters is 4096: allowed, also with CRLF */
        text = repeat("[limits]\n#", 'x', CONFIG_LINE_MAX - 1, "\r\nmax-queue = 3\n");
        config_free(parse_ok(text));
        free(text);

        text = repeat("[limits]\n\n#", 'x', CONFIG_LINE_MAX, "\nmax-queue = 3\n");
        parse_fails(text, "test.conf:3: line is longer than 4096 bytes");
        free(text);

        /* the last line, without a newline */
        text = repeat("[limits]\n", ' ', CONFIG_LINE_MAX + 1, "");
        parse_fails(text, "test.conf:2: line is longer than 4096 bytes");
        free(text);
}
END_TEST

static char *many_rules(size_t n) {
        static const char rule[] = "deny from uid:7\n";
        char *s = malloc(strlen("[policy]\n") + n * strlen(rule) + 1), *p;

        ck_assert_ptr_nonnull(s);
        p = stpcpy(s, "[policy]\n");
        for (size_t i = 0; i < n; i++)
                p = stpcpy(p, rule);
        return s;
}

START_TEST(test_rule_count) {
        char *text = many_rules(CONFIG_RULES_MAX);
        Config *c = parse_ok(text);

        ck_assert_uint_eq(c->n_rules, CONFIG_RULES_MAX);
        ck_assert_uint_eq(c->rules[CONFIG_RULES_MAX - 1].line, CONFIG_RULES_MAX + 1);
        config_free(c);
        free(text);

        text = many_rules(CONFIG_RULES_MAX + 1);
        parse_fails(text, "test.conf:4098: more than 4096 rules");
        free(text);
}
END_TEST

START_TEST(test_limit_conflicts) {
        parse_fails("[limits]\ndefault-window = 128\nmax-window = 64\n",
                    "test.conf:3: default-window (128) is larger than max-window (64)");
        parse_fails("[limits]\nmax-window = 32\n", "test.conf:2: default-window (64) is larger than max-window (32)");
        parse_fails("[limits]\nmax-queue-bytes = 2K\n",
                    "test.conf:2: max-payload (4K) is larger than max-queue-bytes (2K)");
        parse_fails("[limits]\nmax-bytes-per-uid = 32K\n\nmax-payload = 64K\n",
                    "test.conf:4: max-payload (64K) is larger than max-bytes-per-uid (32K)");
        parse_fails("[limits]\nmax-payload = 5000\nmax-bytes = 4K\n",
                    "test.conf:3: max-payload (5000) is larger than max-bytes (4K)");
        /* equal is fine */
        config_free(parse_ok("[limits]\nmax-payload = 4K\nmax-queue-bytes = 4096\ndefault-window = 8\nmax-window = 8\n"));
}
END_TEST

START_TEST(test_rules) {
        Config *c = parse_ok("[policy]\n"
                             "allow from uid:root to uid:1000 signals USR1,RTMIN+1..RTMIN+4 targets pid,group\n"
                             "deny from gid:100 signals KILL,TERM\n"
                             "deny from any to uid:0\n"
                             "allow from gid:4242 signals 0      # probes only\n"
                             "allow signals SIGTERM, 9,  rtmax-2 targets broadcast, client\n"
                             "deny targets sid signals any to gid:root from uid:0\n"
                             "allow signals 0..3\n"
                             "allow signals RTMIN..RTMAX targets any\n");
        const Rule *r = c->rules;

        ck_assert_uint_eq(c->n_rules, 8);

        ck_assert_int_eq(r[0].action, RULE_ALLOW);
        ck_assert_int_eq(r[0].from.kind, RULE_MATCH_UID);
        ck_assert_uint_eq(r[0].from.id, 0);
        ck_assert_int_eq(r[0].to.kind, RULE_MATCH_UID);
        ck_assert_uint_eq(r[0].to.id, 1000);
        ck_assert_uint_eq(r[0].signals, SB_SIGMASK(10) | SB_SIGMASK(35) | SB_SIGMASK(36) | SB_SIGMASK(37) |
                                                SB_SIGMASK(38));
        ck_assert(!r[0].probe);
        ck_assert_uint_eq(r[0].targets, (1u << SB_TARGET_PID) | (1u << SB_TARGET_GROUP));
        ck_assert_uint_eq(r[0].line, 2);

        ck_assert_int_eq(r[1].action, RULE_DENY);
        ck_assert_int_eq(r[1].from.kind, RULE_MATCH_GID);
        ck_assert_uint_eq(r[1].from.id, 100);
        ck_assert_int_eq(r[1].to.kind, RULE_MATCH_ANY);
        ck_assert_uint_eq(r[1].signals, SB_SIGMASK(9) | SB_SIGMASK(15));
        ck_assert_uint_eq(r[1].targets, UINT32_MAX);

        ck_assert_int_eq(r[2].from.kind, RULE_MATCH_ANY);
        ck_assert_int_eq(r[2].to.kind, RULE_MATCH_UID);
        ck_assert_uint_eq(r[2].to.id, 0);
        ck_assert_uint_eq(r[2].signals, UINT64_MAX);
        ck_assert(r[2].probe);

        ck_assert_uint_eq(r[3].signals, 0);
        ck_assert(r[3].probe);
        ck_assert_uint_eq(r[3].line, 5);

        ck_assert_uint_eq(r[4].signals, SB_SIGMASK(15) | SB_SIGMASK(9) | SB_SIGMASK(62));
        ck_assert(!r[4].probe);
        ck_assert_uint_eq(r[4].targets, (1u << SB_TARGET_BROADCAST) | (1u << SB_TARGET_CLIENT));
        ck_assert_int_eq(r[4].from.kind, RULE_MATCH_ANY);

        ck_assert_int_eq(r[5].to.kind, RULE_MATCH_GID);
        ck_assert_uint_eq(r[5].to.id, 0);
        ck_assert_int_eq(r[5].from.kind, RULE_MATCH_UID);
        ck_assert_uint_eq(r[5].signals, UINT64_MAX);
        ck_assert(r[5].probe);
        ck_assert_uint_eq(r[5].targets, 1u << SB_TARGET_SID);

        ck_assert_uint_eq(r[6].signals, SB_SIGMASK(1) | SB_SIGMASK(2) | SB_SIGMASK(3));
        ck_assert(r[6].probe);

        ck_assert_uint_eq(r[7].signals, ~(SB_SIGMASK(34) - 1));
        ck_assert(!r[7].probe);
        ck_assert_uint_eq(r[7].targets, UINT32_MAX);
        config_free(c);
}
END_TEST

START_TEST(test_rule_errors) {
        parse_fails("[policy]\npermit from any\n", "test.conf:2: a rule starts with allow or deny, not 'permit'");
        parse_fails("[policy]\nallow\nallow from any frm uid:0\n",
                    "test.conf:3: unknown word 'frm' in the rule: expected from, to, signals or targets");
        parse_fails("[policy]\nallow max-queue = 5\n",
                    "test.conf:2: unknown word 'max-queue' in the rule: expected from, to, signals or targets");
        parse_fails("[policy]\nallow from any from uid:0\n", "test.conf:2: 'from' appears twice in the rule");
        parse_fails("[policy]\nallow from\n", "test.conf:2: 'from' needs a value");
        parse_fails("[policy]\nallow signals # none\n", "test.conf:2: 'signals' needs a value");
        parse_fails("[policy]\nallow from user:root\n",
                    "test.conf:2: 'user:root' is not a peer: expected any, uid:USER or gid:GROUP");
        parse_fails("[policy]\nallow from uid:\n", "test.conf:2: missing user name or number");
        parse_fails("[policy]\nallow to gid:\n", "test.conf:2: missing group name or number");
        parse_fails("[policy]\nallow from uid:4294967295\n", "test.conf:2: user number 4294967295 is out of range");
        parse_fails("[policy]\nallow from gid:99999999999999999999\n",
                    "test.conf:2: group number 99999999999999999999 is out of range");
        parse_fails("[policy]\ndeny signals USR1,FOO\n", "test.conf:2: unknown signal 'FOO'");
        parse_fails("[policy]\ndeny signals 65\n", "test.conf:2: unknown signal '65'");
        parse_fails("[policy]\ndeny signals RTMIN+31\n", "test.conf:2: unknown signal 'RTMIN+31'");
        parse_fails("[policy]\ndeny signals RTMIN+4..RTMIN+1\n",
                    "test.conf:2: signal range 'RTMIN+4..RTMIN+1' runs backwards");
        parse_fails("[policy]\ndeny signals USR1..\n", "test.conf:2: signal range 'USR1..' lacks an end");
        parse_fails("[policy]\ndeny signals ..USR1\n", "test.conf:2: signal range '..USR1' lacks an end");
        parse_fails("[policy]\ndeny signals 1..2..3\n", "test.conf:2: unknown signal '2..3'");
        parse_fails("[policy]\ndeny signals USR1,,USR2\n", "test.conf:2: empty item in the signal list");
        parse_fails("[policy]\ndeny signals USR1,\n", "test.conf:2: empty item in the signal list");
        parse_fails("[policy]\ndeny signals USR1, , USR2\n", "test.conf:2: empty item in the signal list");
        parse_fails("[policy]\ndeny signals USR1 ,USR2\n",
                    "test.conf:2: unknown word ',USR2' in the rule: expected from, to, signals or targets");
        parse_fails("[policy]\ndeny targets pid,process\n",
                    "test.conf:2: unknown target kind 'process': expected pid, pgid, sid, group, client, "
                    "broadcast or any");
        parse_fails("[policy]\ndeny targets PID\n",
                    "test.conf:2: unknown target kind 'PID': expected pid, pgid, sid, group, client, "
                    "broadcast or any");
        parse_fails("[policy]\ndeny signals KILL targets pid signals TERM\n",
                    "test.conf:2: 'signals' appears twice in the rule");
}
END_TEST

START_TEST(test_names) {
        Config *c = parse_ok("[admin]\ngroup = root\n[policy]\nallow from uid:root to gid:root\n");

        ck_assert(c->have_admin_gid);
        ck_assert_uint_eq(c->admin_gid, 0);
        ck_assert_int_eq(c->rules[0].from.kind, RULE_MATCH_UID);
        ck_assert_uint_eq(c->rules[0].from.id, 0);
        ck_assert_int_eq(c->rules[0].to.kind, RULE_MATCH_GID);
        ck_assert_uint_eq(c->rules[0].to.id, 0);
        config_free(c);

        /* a number is never looked up, even when no such user exists */
        c = parse_ok("[admin]\ngroup = 424242\n[policy]\nallow from uid:424242\n");
        ck_assert_uint_eq(c->admin_gid, 424242);
        ck_assert_uint_eq(c->rules[0].from.id, 424242);
        config_free(c);

        parse_fails("[policy]\n\nallow from uid:" NO_SUCH_NAME "\n",
                    "test.conf:3: unknown user '" NO_SUCH_NAME "'");
        parse_fails("[policy]\nallow to gid:" NO_SUCH_NAME "\n", "test.conf:2: unknown group '" NO_SUCH_NAME "'");
        parse_fails("[admin]\ngroup = " NO_SUCH_NAME "\n", "test.conf:2: unknown group '" NO_SUCH_NAME "'");
}
END_TEST

static const gid_t alice_groups[] = { 500, 77 };
static const gid_t dave_groups[] = { 10, 600 };
static const PolicyPeer alice = { .uid = 1001, .gid = 1001, .groups = alice_groups, .n_groups = 2 };
static const PolicyPeer bob = { .uid = 2000, .gid = 2000 };
static const PolicyPeer carol = { .uid = 1002, .gid = 500 };
static const PolicyPeer dave = { .uid = 1003, .gid = 1003, .groups = dave_groups, .n_groups = 2 };

static const char policy_text[] = "[policy]\n"
                                  "deny from uid:1001 signals KILL\n"
                                  "allow from gid:500 to uid:2000 signals USR1,RTMIN..RTMIN+3 targets pid,broadcast\n"
                                  "allow from gid:600 signals 0\n"
                                  "deny from uid:1001\n"
                                  "allow from uid:1001 signals USR2\n";

static void check(const Config *c, const PolicyPeer *from, const PolicyPeer *to, uint32_t signo,
                  uint32_t kind, PolicyVerdict verdict, unsigned line) {
        const Rule *rule = (const Rule *) 1;

        ck_assert_int_eq(config_policy_check(c, from, to, signo, kind, &rule), verdict);
        if (line == 0)
                ck_assert_ptr_null(rule);
        else {
                ck_assert_ptr_nonnull(rule);
                ck_assert_uint_eq(rule->line, line);
        }
}

START_TEST(test_policy) {
        Config *c = parse_ok(policy_text);

        /* first match wins: line 2 before line 3 would allow */
        check(c, &alice, &bob, 9, SB_TARGET_PID, POLICY_DENY, 2);
        /* gid via a supplementary group */
        check(c, &alice, &bob, 10, SB_TARGET_PID, POLICY_ALLOW, 3);
        check(c, &alice, &bob, 10, SB_TARGET_BROADCAST, POLICY_ALLOW, 3);
        /* target kind not listed: on to line 5 */
        check(c, &alice, &bob, 10, SB_TARGET_GROUP, POLICY_DENY, 5);
        /* line 5 shadows line 6 */
        check(c, &alice, &bob, 12, SB_TARGET_PID, POLICY_DENY, 5);
        /* gid via the primary group; signal range ends */
        check(c, &carol, &bob, 10, SB_TARGET_PID, POLICY_ALLOW, 3);
        check(c, &carol, &bob, 34, SB_TARGET_PID, POLICY_ALLOW, 3);
        check(c, &carol, &bob, 37, SB_TARGET_BROADCAST, POLICY_ALLOW, 3);
        check(c, &carol, &bob, 38, SB_TARGET_PID, POLICY_NO_RULE, 0);
        check(c, &carol, &bob, 33, SB_TARGET_PID, POLICY_NO_RULE, 0);
        /* receiver does not match "to" */
        check(c, &carol, &alice, 10, SB_TARGET_PID, POLICY_NO_RULE, 0);
        /* a probe matches only rules listing 0 (or any) */
        check(c, &carol, &bob, 0, SB_TARGET_PID, POLICY_NO_RULE, 0);
        check(c, &dave, &bob, 0, SB_TARGET_PID, POLICY_ALLOW, 4);
        check(c, &dave, &alice, 0, SB_TARGET_CLIENT, POLICY_ALLOW, 4);
        check(c, &dave, &bob, 10, SB_TARGET_PID, POLICY_NO_RULE, 0);
        /* "deny from uid:1001" names no signals, so it covers probes too */
        check(c, &alice, &bob, 0, SB_TARGET_PID, POLICY_DENY, 5);
        /* numbers no rule could list match only rules that say any */
        check(c, &alice, &bob, 99, SB_TARGET_PID, POLICY_DENY, 5);
        check(c, &alice, &bob, 10, 40, POLICY_DENY, 5);
        check(c, &carol, &bob, 99, SB_TARGET_PID, POLICY_NO_RULE, 0);
        check(c, &carol, &bob, 10, 40, POLICY_NO_RULE, 0);
        /* ret_rule is optional */
        ck_assert_int_eq(config_policy_check(c, &alice, &bob, 9, SB_TARGET_PID, NULL), POLICY_DENY);
        config_free(c);

        c = parse_ok("");
        check(c, &alice, &bob, 9, SB_TARGET_PID, POLICY_NO_RULE, 0);
        config_free(c);
}
END_TEST

START_TEST(test_admin) {
        static const gid_t with_admin[] = { 3, 4242 }, without_admin[] = { 3, 4 };
        const PolicyPeer primary = { .uid = 5, .gid = 4242 };
        const PolicyPeer supplementary = { .uid = 5, .gid = 5, .groups = with_admin, .n_groups = 2 };
        const PolicyPeer neither = { .uid = 5, .gid = 5, .groups = without_admin, .n_groups = 2 };
        const PolicyPeer root = { .uid = 0, .gid = 0 };
        Config *c = parse_ok("[admin]\ngroup = 4242\n");

        ck_assert(config_is_admin(c, &primary));
        ck_assert(config_is_admin(c, &supplementary));
        ck_assert(!config_is_admin(c, &neither));
        /* uid 0 is the caller's business */
        ck_assert(!config_is_admin(c, &root));
        config_free(c);

        /* no admin group: nobody, not even gid 0 */
        c = parse_ok("");
        ck_assert(!config_is_admin(c, &root));
        ck_assert(!config_is_admin(c, &primary));
        config_free(c);
}
END_TEST

static char *make_tempdir(void) {
        char *dir = strdup("/tmp/test-config-XXXXXX");

        ck_assert_ptr_nonnull(dir);
        ck_assert_ptr_nonnull(mkdtemp(dir));
        return dir;
}

static char *write_file(const char *dir, const char *name, const char *text) {
        char *path;
        FILE *f;

        ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_ge(fputs(text, f), 0);
        ck_assert_int_eq(fclose(f), 0);
        ck_assert_int_eq(chmod(path, 0644), 0);        /* whatever the umask */
        return path;
}

START_TEST(test_files) {
        char *dir = make_tempdir(), *path, *expected, *error = (char *) 1;
        Config *c = NULL;

        /* missing: the defaults, with the path kept for later reloads */
        ck_assert_int_ge(asprintf(&path, "%s/absent.conf", dir), 0);
        ck_assert_int_eq(config_parse_file(path, true, &c, &error), 0);
        ck_assert_ptr_null(error);
        ck_assert_str_eq(c->path, path);
        assert_is_default(c);
        ck_assert(!c->from_file);
        config_free(c);
        c = NULL;
        /* ... unless the caller needs the file */
        ck_assert_int_eq(config_parse_file(path, false, &c, &error), -ENOENT);
        ck_assert_ptr_null(c);
        ck_assert_ptr_nonnull(strstr(error, ": cannot open: No such file or directory"));
        free(error);
        free(path);

        /* writable by others, or owned by another user: refused */
        path = write_file(dir, "loose.conf", "[policy]\ndeny signals KILL\n");
        ck_assert_int_eq(chmod(path, 0664), 0);
        ck_assert_int_eq(config_parse_file(path, true, &c, &error), -EPERM);
        ck_assert_ptr_nonnull(strstr(error, "loose.conf: is writable by its group or by others (mode 0664)"));
        free(error);
        ck_assert_int_eq(chmod(path, 0644), 0);
        if (geteuid() == 0) {
                ck_assert_int_eq(chown(path, 65534, 0), 0);
                ck_assert_int_eq(config_parse_file(path, true, &c, &error), -EPERM);
                ck_assert_ptr_nonnull(strstr(error, "loose.conf: is owned by uid 65534, not by root"));
                free(error);
        }
        unlink(path);
        free(path);

        path = write_file(dir, "good.conf", "[limits]\nmax-queue = 77\n[policy]\ndeny signals KILL\n");
        ck_assert_int_eq(config_parse_file(path, true, &c, &error), 0);
        ck_assert_str_eq(c->path, path);
        ck_assert(c->from_file);
        ck_assert_uint_eq(c->limits.max_queue, 77);
        ck_assert_uint_eq(c->n_rules, 1);
        config_free(c);
        free(path);

        /* the message names the file and the line */
        path = write_file(dir, "bad.conf", "[limits]\nmax-queue = 77\nmax-queue = 78\n");
        c = NULL;
        ck_assert_int_eq(config_parse_file(path, true, &c, &error), -EINVAL);
        ck_assert_ptr_null(c);
        ck_assert_int_ge(asprintf(&expected, "%s:3: max-queue is already set on line 2", path), 0);
        ck_assert_str_eq(error, expected);
        free(expected);
        free(error);
        /* without a place for the message */
        ck_assert_int_eq(config_parse_file(path, true, &c, NULL), -EINVAL);
        ck_assert_ptr_null(c);
        unlink(path);
        free(path);

        rmdir(dir);
        free(dir);
}
END_TEST

START_TEST(test_unreadable) {
        char *dir = make_tempdir(), *path, *expected, *error = NULL;
        Config *c = NULL;
        int fd;

        /* a directory */
        ck_assert_int_eq(config_parse_file(dir, true, &c, &error), -EISDIR);
        ck_assert_ptr_null(c);
        ck_assert_int_ge(asprintf(&expected, "%s: is a directory, not a file", dir), 0);
        ck_assert_str_eq(error, expected);
        free(expected);
        free(error);

        /* a FIFO: refused rather than waited on */
        ck_assert_int_ge(asprintf(&path, "%s/fifo", dir), 0);
        ck_assert_int_eq(mkfifo(path, 0600), 0);
        ck_assert_int_eq(config_parse_file(path, true, &c, &error), -EINVAL);
        ck_assert_int_ge(asprintf(&expected, "%s: is not a regular file", path), 0);
        ck_assert_str_eq(error, expected);
        free(expected);
        free(error);
        unlink(path);
        free(path);

        /* too large (sparse, so cheap) */
        ck_assert_int_ge(asprintf(&path, "%s/huge.conf", dir), 0);
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(ftruncate(fd, CONFIG_FILE_MAX + 1), 0);
        close(fd);
        ck_assert_int_eq(config_parse_file(path, true, &c, &error), -EFBIG);
        ck_assert_int_ge(asprintf(&expected, "%s: file is larger than 16777216 bytes", path), 0);
        ck_assert_str_eq(error, expected);
        free(expected);
        free(error);

        /* no permission: only meaningful when not root */
        if (geteuid() != 0) {
                ck_assert_int_eq(chmod(path, 0), 0);
                ck_assert_int_eq(config_parse_file(path, true, &c, &error), -EACCES);
                ck_assert_int_ge(asprintf(&expected, "%s: cannot open: Permission denied", path), 0);
                ck_assert_str_eq(error, expected);
                free(expected);
                free(error);
        }
        unlink(path);
        free(path);

        /* a path through a file is an error, not "missing" */
        path = write_file(dir, "plain", "");
        ck_assert_int_ge(asprintf(&expected, "%s/sub.conf", path), 0);
        ck_assert_int_eq(config_parse_file(expected, true, &c, &error), -ENOTDIR);
        ck_assert_ptr_nonnull(strstr(error, ": cannot open: Not a directory"));
        free(error);
        free(expected);
        unlink(path);
        free(path);

        rmdir(dir);
        free(dir);
}
END_TEST

START_TEST(test_arguments) {
        Config *c = NULL;
        char *error = (char *) 1;

        ck_assert_int_eq(config_parse_string("x", "", 0, NULL, &error), -EINVAL);
        ck_assert_ptr_null(error);
        ck_assert_int_eq(config_parse_string("x", NULL, 1, &c, NULL), -EINVAL);
        ck_assert_int_eq(config_parse_file(NULL, true, &c, NULL), -EINVAL);
        ck_assert_int_eq(config_new_default(NULL), -EINVAL);
        /* NULL text of length 0 is an empty file; no name, no path */
        ck_assert_int_eq(config_parse_string(NULL, NULL, 0, &c, &error), 0);
        ck_assert_ptr_null(c->path);
        config_free(c);
        /* without a name, messages still say where */
        ck_assert_int_eq(config_parse_string(NULL, "[x]", 3, &c, &error), -EINVAL);
        ck_assert_str_eq(error, "(string):1: unknown section [x]: expected [limits], [admin] or [policy]");
        free(error);
        /* the string need not be NUL-terminated */
        ck_assert_int_eq(config_parse_string("t", "[limits]\nmax-queue = 12345", 23, &c, NULL), 0);
        ck_assert_uint_eq(c->limits.max_queue, 12);
        config_free(c);
}
END_TEST

START_TEST(test_set_limit) {
        Limits l = LIMITS_DEFAULT;
        char *error = (char *) 1;

        ck_assert_int_eq(config_set_limit(&l, "max-queue", "512", &error), 0);
        ck_assert_ptr_null(error);
        ck_assert_uint_eq(l.max_queue, 512);
        ck_assert_int_eq(config_set_limit(&l, "max-payload", "16K", NULL), 0);
        ck_assert_uint_eq(l.max_payload, 16384);
        ck_assert_int_eq(config_set_limit(&l, "limit-root", "on", NULL), 0);
        ck_assert(l.limit_root);

        ck_assert_int_eq(config_set_limit(&l, "max-queue", "0", &error), -EINVAL);
        ck_assert_str_eq(error, "max-queue must be between 1 and 1048576, not '0'");
        free(error);
        ck_assert_uint_eq(l.max_queue, 512);
        ck_assert_int_eq(config_set_limit(&l, "max-payload", "65537", &error), -EINVAL);
        ck_assert_str_eq(error, "max-payload must be between 0 and 64K, not '65537'");
        free(error);
        ck_assert_int_eq(config_set_limit(&l, "no-such", "1", &error), -EINVAL);
        ck_assert_str_eq(error, "unknown limit 'no-such'");
        free(error);
        ck_assert_int_eq(config_set_limit(&l, "group", "0", &error), -EINVAL);
        ck_assert_str_eq(error, "unknown limit 'group'");
        free(error);

        ck_assert_int_eq(config_check_limits(&l, &error), 0);
        ck_assert_ptr_null(error);
        ck_assert_int_eq(config_set_limit(&l, "max-payload", "65536", NULL), 0);
        ck_assert_int_eq(config_set_limit(&l, "max-queue-bytes", "32K", NULL), 0);
        ck_assert_int_eq(config_check_limits(&l, &error), -EINVAL);
        ck_assert_str_eq(error, "max-payload (64K) is larger than max-queue-bytes (32K)");
        free(error);
}
END_TEST

static Suite *config_suite(void) {
        Suite *s = suite_create("config");
        TCase *tc;

        tc = tcase_create("limits");
        tcase_add_test(tc, test_defaults);
        tcase_add_test(tc, test_empty);
        tcase_add_test(tc, test_every_key);
        tcase_add_test(tc, test_layout);
        tcase_add_test(tc, test_sizes);
        tcase_add_test(tc, test_counts_take_no_suffix);
        tcase_add_loop_test(tc, test_ranges, 0, sizeof(ranges) / sizeof(ranges[0]));
        tcase_add_test(tc, test_bool);
        tcase_add_test(tc, test_limit_conflicts);
        tcase_add_test(tc, test_set_limit);
        suite_add_tcase(s, tc);

        tc = tcase_create("syntax");
        tcase_add_test(tc, test_structure_errors);
        tcase_add_test(tc, test_bad_bytes);
        tcase_add_test(tc, test_line_length);
        tcase_add_test(tc, test_arguments);
        suite_add_tcase(s, tc);

        tc = tcase_create("policy");
        tcase_add_test(tc, test_rules);
        tcase_add_test(tc, test_rule_errors);
        tcase_add_test(tc, test_rule_count);
        tcase_add_test(tc, test_names);
        tcase_add_test(tc, test_policy);
        tcase_add_test(tc, test_admin);
        suite_add_tcase(s, tc);

        tc = tcase_create("files");
        tcase_add_test(tc, test_files);
        tcase_add_test(tc, test_unreadable);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        SRunner *sr = srunner_create(config_suite());
        int failed;

        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
