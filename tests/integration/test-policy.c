/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The policy file with real users: allow and deny rules by uid and by gid
 * (supplementary groups included), filtered by signal and target kind;
 * reloads by SIGHUP and `sigbrokerctl reload` that change what is
 * allowed; a bad file that is refused with its line named while the old
 * policy stays in force; reload for admins only; and the per-uid
 * connection limit. Each policy is proven by a send whose outcome differs
 * between the old and the new one. */

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

#define SIG 35                          /* RTMIN+1: queued, never merged */

static void write_config(const TestDaemon *d, const char *text) {
        FILE *f = fopen(d->config, "we");

        ck_assert_msg(f, "cannot write %s", d->config);
        fputs(text, f);
        ck_assert_int_eq(fclose(f), 0);
        ck_assert_int_eq(chmod(d->config, 0644), 0);   /* whatever the umask */
}

static void check_send(Agent *tx, const Agent *rx, int signo, int kind, const char *payload, int want_r) {
        sigbroker_send_result res = {};
        uint64_t id = kind == SIGBROKER_TARGET_PID ? (uint64_t) rx->pid : 0;
        int r = agent_send(tx, kind, id, NULL, signo, payload, &res);

        ck_assert_msg(r == want_r, "send '%s' (signal %d) from %s: %d (queued %u, denied %u), expected %d", payload,
                      signo, tx->name, r, res.queued, res.denied, want_r);
        ck_assert_uint_eq(res.queued, want_r == 0);
        ck_assert_uint_eq(res.denied, want_r == -EPERM);
}

static void expect_received(const TestDaemon *d, Agent *rx, const char *want) {
        AgentSignal got[32];
        char text[32 * 66] = "";
        int n;

        agent_mark(d, rx);
        n = agent_collect(rx, got, 32);
        for (int i = 0; i < n; i++) {
                if (i > 0)
                        strcat(text, ",");
                strcat(text, got[i].payload);
        }
        ck_assert_msg(strcmp(text, want) == 0, "%s received '%s', expected '%s'", rx->name, text, want);
}

static int count(const char *haystack, const char *needle) {
        int n = 0;

        for (const char *p = haystack; (p = strstr(p, needle)); p++)
                n++;
        return n;
}

static int reload_as(const TestDaemon *d, const char *user, bool clear_groups, char **ret_err) {
        static const char *const args[] = { "reload", NULL };
        return ctl_run(d, user, clear_groups, NULL, ret_err, args);
}

/* The rules, each checked against the default rule it overrides:
 * line 4 lets sbtest2 send USR2 (only) to sbtest1; line 5 keeps sbtest1
 * from broadcasting to itself (a pid send still goes); line 6 lets the
 * admin group send RTMIN+2, which sbtest2 has as a supplementary group
 * only; line 7 denies root HUP. */
START_TEST(test_rules_allow_deny_gid_signals_targets) {
        static const char config[] = "[admin]\n"
                                     "group = " TEST_ADMIN_GROUP "\n"
                                     "[policy]\n"
                                     "allow from uid:" TEST_USER2 " to uid:" TEST_USER1 " signals USR2\n"
                                     "deny from uid:" TEST_USER1 " to uid:" TEST_USER1 " targets broadcast\n"
                                     "allow from gid:" TEST_ADMIN_GROUP " to uid:" TEST_USER1 " signals RTMIN+2\n"
                                     "deny from uid:0 to uid:" TEST_USER1 " signals HUP\n";
        TestDaemon d;
        Agent rx, root, s1, s2, s2_plain;

        daemon_start(&d, config, NULL);
        agent_start(&rx, &d, &(AgentOptions) { .user = TEST_USER1 });
        agent_start(&root, &d, NULL);
        agent_start(&s1, &d, &(AgentOptions) { .user = TEST_USER1 });
        agent_start(&s2, &d, &(AgentOptions) { .user = TEST_USER2 });
        agent_start(&s2_plain, &d, &(AgentOptions) { .user = TEST_USER2, .clear_groups = true });
        ck_assert_uint_ne(s2.gid, group_gid(TEST_ADMIN_GROUP));       /* a supplementary group, not the primary */
        ck_assert_int_eq(agent_subscribe(&rx, SIGBROKER_SIGMASK(SIGHUP) | SIGBROKER_SIGMASK(SIGUSR1) |
                                                  SIGBROKER_SIGMASK(SIGUSR2) | SIGBROKER_SIGMASK(SIG) |
                                                  SIGBROKER_SIGMASK(SIG + 1)), 0);

        check_send(&s2_plain, &rx, SIGUSR2, SIGBROKER_TARGET_PID, "usr2-allowed", 0);
        check_send(&s2_plain, &rx, SIGUSR1, SIGBROKER_TARGET_PID, "usr1-default", -EPERM);
        check_send(&s2_plain, &rx, SIGUSR2, SIGBROKER_TARGET_BROADCAST, "usr2-bc", 0);

        check_send(&s1, &rx, SIG, SIGBROKER_TARGET_BROADCAST, "bc-denied", -EPERM);
        check_send(&s1, &rx, SIG, SIGBROKER_TARGET_PID, "pid-default", 0);

        check_send(&s2, &rx, SIG + 1, SIGBROKER_TARGET_PID, "gid-allowed", 0);
        check_send(&s2_plain, &rx, SIG + 1, SIGBROKER_TARGET_PID, "gid-none", -EPERM);
        check_send(&s2, &rx, SIG, SIGBROKER_TARGET_PID, "gid-other-signal", -EPERM);

        check_send(&root, &rx, SIGHUP, SIGBROKER_TARGET_PID, "root-hup", -EPERM);
        check_send(&root, &rx, SIGHUP, SIGBROKER_TARGET_BROADCAST, "root-hup-bc", -EPERM);
        check_send(&root, &rx, SIGUSR1, SIGBROKER_TARGET_PID, "root-usr1", 0);

        expect_received(&d, &rx, "usr2-allowed,usr2-bc,pid-default,gid-allowed,root-usr1");
        agent_stop(&rx);
        agent_stop(&root);
        agent_stop(&s1);
        agent_stop(&s2);
        agent_stop(&s2_plain);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

/* Good reloads change the policy (SIGHUP, then `sigbrokerctl reload`); a
 * bad file is refused with its line named, by sigbrokerctl, which exits
 * non-zero, and in the log, and the previous policy goes on: the bad
 * file would let sbtest2 through and root too, the previous one denies
 * both. */
START_TEST(test_reload_good_and_bad) {
        static const char allow_s2[] = "[policy]\nallow from uid:" TEST_USER2 " to uid:" TEST_USER1 " signals USR1\n";
        static const char deny_root[] = "[policy]\n"
                                        "deny from uid:0 to uid:" TEST_USER1 " signals USR1\n";
        static const char bad[] = "[policy]\n"
                                  "allow from uid:" TEST_USER2 " to uid:" TEST_USER1 "\n"
                                  "allow from uid:no-such-user-sb\n";
        TestDaemon d;
        Agent rx, root, s2;
        char *err = NULL, *log, want[256];

        daemon_start(&d, NULL, NULL);
        agent_start(&rx, &d, &(AgentOptions) { .user = TEST_USER1 });
        agent_start(&root, &d, NULL);
        agent_start(&s2, &d, &(AgentOptions) { .user = TEST_USER2, .clear_groups = true });
        ck_assert_int_eq(agent_subscribe(&rx, SIGBROKER_SIGMASK(SIGUSR1) | SIGBROKER_SIGMASK(SIG)), 0);
        check_send(&s2, &rx, SIGUSR1, SIGBROKER_TARGET_PID, "s2-0", -EPERM);

        write_config(&d, allow_s2);
        daemon_reload(&d);
        check_send(&s2, &rx, SIGUSR1, SIGBROKER_TARGET_PID, "s2-1", 0);
        ck_assert_int_eq(agent_wait(&rx, 5000, NULL), SIGUSR1);
        check_send(&s2, &rx, SIG, SIGBROKER_TARGET_PID, "s2-1-sig", -EPERM);

        write_config(&d, deny_root);
        ck_assert_int_eq(reload_as(&d, NULL, false, &err), 0);
        free(err);
        check_send(&s2, &rx, SIGUSR1, SIGBROKER_TARGET_PID, "s2-2", -EPERM);
        check_send(&root, &rx, SIGUSR1, SIGBROKER_TARGET_PID, "root-2", -EPERM);
        check_send(&root, &rx, SIG, SIGBROKER_TARGET_PID, "root-2-sig", 0);
        ck_assert_int_eq(agent_wait(&rx, 5000, NULL), SIG);

        write_config(&d, bad);
        ck_assert_int_eq(reload_as(&d, NULL, false, &err), 1);
        snprintf(want, sizeof(want), "%s:3: unknown user 'no-such-user-sb'", d.config);
        ck_assert_msg(strstr(err, want), "sigbrokerctl reload does not say '%s': %s", want, err);
        free(err);
        ck_assert(daemon_alive(&d));
        check_send(&s2, &rx, SIGUSR1, SIGBROKER_TARGET_PID, "s2-3", -EPERM);
        check_send(&root, &rx, SIGUSR1, SIGBROKER_TARGET_PID, "root-3", -EPERM);

        daemon_reload(&d);      /* SIGHUP: the same refusal */
        check_send(&s2, &rx, SIGUSR1, SIGBROKER_TARGET_PID, "s2-4", -EPERM);
        check_send(&root, &rx, SIGUSR1, SIGBROKER_TARGET_PID, "root-4", -EPERM);
        log = daemon_log(&d);
        snprintf(want, sizeof(want), "Configuration not reloaded, keeping the old one: %s:3: unknown user", d.config);
        ck_assert_msg(count(log, want) == 2, "the log does not say twice '%s':\n%s", want, log);
        ck_assert_msg(count(log, "Configuration reloaded") == 2, "%s", log);
        free(log);

        /* Fixed, it is taken. */
        write_config(&d, "[policy]\nallow from uid:" TEST_USER2 " to uid:" TEST_USER1 "\n");
        ck_assert_int_eq(reload_as(&d, NULL, false, NULL), 0);
        check_send(&s2, &rx, SIGUSR1, SIGBROKER_TARGET_PID, "s2-5", 0);
        check_send(&root, &rx, SIG, SIGBROKER_TARGET_PID, "root-5", 0);

        expect_received(&d, &rx, "s2-5,root-5");
        agent_stop(&rx);
        agent_stop(&root);
        agent_stop(&s2);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

/* Reload is for root and the admin group: sbtest1 and sbtest2 without
 * its supplementary groups are refused (and the file is not read), sbtest2
 * as a member of sbadmin reloads. */
START_TEST(test_reload_needs_admin) {
        static const char before[] = "[admin]\ngroup = " TEST_ADMIN_GROUP "\n";
        static const char after[] = "[admin]\ngroup = " TEST_ADMIN_GROUP "\n"
                                    "[policy]\nallow from uid:" TEST_USER2 " to uid:" TEST_USER1 "\n";
        TestDaemon d;
        Agent rx, s2;
        char *err = NULL, *log;

        daemon_start(&d, before, NULL);
        agent_start(&rx, &d, &(AgentOptions) { .user = TEST_USER1 });
        agent_start(&s2, &d, &(AgentOptions) { .user = TEST_USER2, .clear_groups = true });
        ck_assert_int_eq(agent_subscribe(&rx, SIGBROKER_SIGMASK(SIGUSR1)), 0);
        write_config(&d, after);

        ck_assert_int_eq(reload_as(&d, TEST_USER1, false, &err), 1);
        ck_assert_msg(strstr(err, "EPERM"), "%s", err);
        free(err);
        check_send(&s2, &rx, SIGUSR1, SIGBROKER_TARGET_PID, "after-user1", -EPERM);
        ck_assert_int_eq(agent_query(&s2, SIGBROKER_QUERY_RELOAD, NULL), -EPERM);
        ck_assert_int_eq(reload_as(&d, TEST_USER2, true, &err), 1);
        ck_assert_msg(strstr(err, "EPERM"), "%s", err);
        free(err);
        check_send(&s2, &rx, SIGUSR1, SIGBROKER_TARGET_PID, "after-user2-plain", -EPERM);
        log = daemon_log(&d);
        ck_assert_msg(count(log, "Configuration reloaded") == 0, "%s", log);
        free(log);

        ck_assert_int_eq(reload_as(&d, TEST_USER2, false, &err), 0);
        ck_assert_str_eq(err, "");
        free(err);
        check_send(&s2, &rx, SIGUSR1, SIGBROKER_TARGET_PID, "after-admin", 0);
        log = daemon_log(&d);
        ck_assert_msg(count(log, "Configuration reloaded") == 1, "%s", log);
        free(log);

        expect_received(&d, &rx, "after-admin");
        agent_stop(&rx);
        agent_stop(&s2);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

/* max-connections-per-uid = 5: sbtest1's 6th connection is refused with
 * an ERROR frame that says why (EUSERS from the library, a failure from
 * sigbrokerctl), while sbtest2 and root still connect; once sbtest1
 * closes one, it may connect again. */
START_TEST(test_connection_limit_per_uid) {
        static const char config[] = "[limits]\nmax-connections-per-uid = 5\n";
        static const char *const status_args[] = { "status", NULL };
        TestDaemon d;
        Agent u1, u2;
        sigbroker *root[6] = {};
        char text[AGENT_TEXT_MAX], *err = NULL, *log;
        int error = 0, r = -1;

        daemon_start(&d, config, NULL);
        agent_start(&u1, &d, &(AgentOptions) { .user = TEST_USER1, .no_connect = true });
        for (int i = 0; i < 5; i++)
                ck_assert_int_eq(agent_connect_extra(&u1), 0);
        ck_assert_int_eq(agent_connect_extra(&u1), -EUSERS);
        /* Refused with its HELLO already waiting in the socket: the daemon,
         * stopped, accepts only once the client has connected and sent it.
         * The client must still be told why, not just see a reset. */
        kill(d.pid, SIGSTOP);
        agent_connect_extra_start(&u1);
        usleep(100000);
        kill(d.pid, SIGCONT);
        ck_assert_int_eq(agent_connect_extra_finish(&u1), -EUSERS);
        ck_assert_int_eq(agent_connect_raw(&u1, &error, text), SB_MSG_ERROR);
        ck_assert_int_eq(error, EUSERS);
        ck_assert_msg(strstr(text, "connection limit"), "ERROR text: %s", text);
        ck_assert_int_eq(ctl_run(&d, TEST_USER1, false, NULL, &err, status_args), 1);
        ck_assert_msg(strstr(err, "EUSERS"), "%s", err);
        free(err);

        /* Others are not affected; root is exempt by default. */
        agent_start(&u2, &d, &(AgentOptions) { .user = TEST_USER2 });
        for (int i = 0; i < 6; i++)
                ck_assert_int_eq(sigbroker_connect(d.socket, &root[i]), 0);
        ck_assert_int_eq(ctl_run(&d, TEST_USER2, false, NULL, NULL, status_args), 0);

        /* The daemon sees the close when it gets to it. */
        ck_assert_int_eq(agent_close_extra(&u1), 0);
        for (int i = 0; i < 100 && r != 0; i++) {
                r = agent_connect_extra(&u1);
                if (r != 0)
                        usleep(10000);
        }
        ck_assert_int_eq(r, 0);
        ck_assert_int_eq(agent_connect_extra(&u1), -EUSERS);

        log = daemon_log(&d);
        ck_assert_msg(strstr(log, "refused: uid ") && strstr(log, "holds 5 connections, the limit"), "%s", log);
        free(log);
        for (int i = 0; i < 6; i++)
                sigbroker_close(root[i]);
        agent_stop(&u1);
        agent_stop(&u2);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

/* A file that goes missing, or that someone but root may write, is not a
 * reason to drop the policy: the reload fails with the reason (sigbrokerctl
 * exits 1 and says it, so does the log) and the deny rule stays. */
START_TEST(test_reload_missing_or_insecure) {
        static const char deny[] = "[policy]\ndeny from uid:0 to uid:" TEST_USER1 " signals USR1\n";
        static const struct {
                const char *what, *says;
        } cases[] = {
                { "missing", ": cannot open: No such file or directory" },
                { "group-writable", ": is writable by its group or by others (mode 0664)" },
                { "world-writable", ": is writable by its group or by others (mode 0666)" },
                { "owned by " TEST_USER1, ": is owned by uid " },
        };
        TestDaemon d;
        Agent rx, root;
        char *err = NULL, *log, want[256];

        daemon_start(&d, deny, NULL);
        agent_start(&rx, &d, &(AgentOptions) { .user = TEST_USER1 });
        agent_start(&root, &d, NULL);
        ck_assert_int_eq(agent_subscribe(&rx, SIGBROKER_SIGMASK(SIGUSR1) | SIGBROKER_SIGMASK(SIG)), 0);
        check_send(&root, &rx, SIGUSR1, SIGBROKER_TARGET_PID, "root-0", -EPERM);

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                unlink(d.config);
                if (i > 0) {
                        write_config(&d, "");   /* would allow everything, if it were taken */
                        ck_assert_int_eq(chmod(d.config, i == 1 ? 0664 : i == 2 ? 0666 : 0644), 0);
                        if (i == 3)
                                ck_assert_int_eq(chown(d.config, user_uid(TEST_USER1), 0), 0);
                }
                ck_assert_int_eq(reload_as(&d, NULL, false, &err), 1);
                snprintf(want, sizeof(want), "%s%s", d.config, cases[i].says);
                ck_assert_msg(strstr(err, want), "%s: sigbrokerctl reload does not say '%s': %s", cases[i].what,
                              want, err);
                free(err);
                daemon_reload(&d);      /* SIGHUP: the same */
                check_send(&root, &rx, SIGUSR1, SIGBROKER_TARGET_PID, cases[i].what, -EPERM);
                log = daemon_log(&d);
                snprintf(want, sizeof(want), "Configuration not reloaded, keeping the old one: %s%s", d.config,
                         cases[i].says);
                ck_assert_msg(count(log, want) == 2, "%s: the log does not say twice '%s':\n%s", cases[i].what, want,
                              log);
                ck_assert_msg(!strstr(log, "Configuration reloaded"), "%s", log);
                free(log);
        }
        check_send(&root, &rx, SIG, SIGBROKER_TARGET_PID, "root-sig", 0);
        expect_received(&d, &rx, "root-sig");
        agent_stop(&rx);
        agent_stop(&root);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

/* At start: a --config that does not exist, or that others may write, is
 * an error naming the path; the built-in default path may be absent
 * (test-basics starts daemons that way). */
START_TEST(test_start_missing_or_insecure) {
        const char *exe = getenv("SIGBROKERD");
        char dir[] = "/tmp/sb-config-XXXXXX", cmd[512], path[128], *out;
        int status;
        FILE *f;

        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/absent.conf", dir);
        snprintf(cmd, sizeof(cmd), "timeout 10 %s --socket %s/sock --config %s 2>&1", exe, dir, path);
        out = run_capture(cmd, &status);
        ck_assert_int_eq(status, 1);
        ck_assert_msg(strstr(out, path) && strstr(out, "No such file or directory"), "%s", out);
        free(out);

        ck_assert_ptr_nonnull(f = fopen(path, "we"));
        ck_assert_int_eq(fclose(f), 0);
        ck_assert_int_eq(chmod(path, 0646), 0);
        out = run_capture(cmd, &status);
        ck_assert_int_eq(status, 1);
        ck_assert_msg(strstr(out, path) && strstr(out, "is writable by its group or by others (mode 0646)"), "%s",
                      out);
        free(out);
        unlink(path);
        rmdir(dir);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("policy");
        TCase *tc = tcase_create("users");

        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_rules_allow_deny_gid_signals_targets);
        tcase_add_test(tc, test_reload_good_and_bad);
        tcase_add_test(tc, test_reload_needs_admin);
        tcase_add_test(tc, test_connection_limit_per_uid);
        tcase_add_test(tc, test_reload_missing_or_insecure);
        tcase_add_test(tc, test_start_missing_or_insecure);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return users_test_main(suite());
}
