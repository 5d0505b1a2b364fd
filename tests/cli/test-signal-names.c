/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libsigbroker's signal names against glibc's: sigbroker_signal_to_string()
 * gives glibc's abbreviation (sigabbrev_np()) for every standard signal,
 * SIGBROKER_SIGRTMIN and SIGBROKER_SIGRTMAX are glibc's SIGRTMIN and
 * SIGRTMAX for programs, every name goes back to its number through
 * sigbroker_signal_from_string() in every spelling sigbrokerctl takes, and
 * what is not a signal is refused. Linked against the shared library, so
 * that the exported LIBSIGBROKER_2 symbols are what is tested.
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sigbroker.h"

static int failures;

#define check(cond, ...)                                        \
        do {                                                    \
                if (!(cond)) {                                  \
                        fprintf(stderr, "FAIL: " __VA_ARGS__);  \
                        fputc('\n', stderr);                    \
                        failures++;                             \
                }                                               \
        } while (0)

static void check_name(const char *s, int want) {
        int got = sigbroker_signal_from_string(s);
        check(got == want, "\"%s\" -> %d, expected %d", s, got, want);
}

int main(void) {
        char buf[64];

        check(SIGBROKER_SIGRTMIN == SIGRTMIN, "SIGBROKER_SIGRTMIN %d, glibc's SIGRTMIN %d", SIGBROKER_SIGRTMIN,
              SIGRTMIN);
        check(SIGBROKER_SIGRTMAX == SIGRTMAX, "SIGBROKER_SIGRTMAX %d, glibc's SIGRTMAX %d", SIGBROKER_SIGRTMAX,
              SIGRTMAX);
        check(SIGBROKER_SIGRTMAX == SIGBROKER_SIGNO_MAX, "SIGRTMAX is not the highest signal");
        /* sigbroker_block() takes <signal.h>'s constants without an include
         * of the caller's own: this file's would hide that, the install
         * test builds a program that has none. */
        check(SIG_BLOCK != SIG_UNBLOCK, "SIG_BLOCK");

        for (int signo = 1; signo < SIGRTMIN; signo++) {
                const char *abbrev = sigabbrev_np(signo);
                const char *name = sigbroker_signal_to_string(signo);

                if (!abbrev) {  /* 32, 33: glibc's own, no names */
                        snprintf(buf, sizeof(buf), "%d", signo);
                        check(name && strcmp(name, buf) == 0, "%d is \"%s\", expected \"%s\"", signo, name, buf);
                        continue;
                }
                /* glibc names 29 POLL, kill -l and signal(7) name it IO:
                 * sigbroker says IO and takes POLL too. */
                if (signo == SIGIO)
                        check(name && strcmp(name, "IO") == 0, "%d is \"%s\", expected IO", signo, name);
                else
                        check(name && strcmp(name, abbrev) == 0, "%d is \"%s\", glibc says \"%s\"", signo, name,
                              abbrev);
                check_name(abbrev, signo);
                snprintf(buf, sizeof(buf), "SIG%s", abbrev);
                check_name(buf, signo);
                for (char *p = buf; *p; p++)
                        *p = (char) (*p | 0x20);        /* sigusr1 */
                check_name(buf, signo);
        }
        for (int signo = SIGRTMIN; signo <= SIGRTMAX; signo++) {
                const char *name = sigbroker_signal_to_string(signo);

                check(name, "no name for %d", signo);
                if (!name)
                        continue;
                check_name(name, signo);
                snprintf(buf, sizeof(buf), "SIG%s", name);
                check_name(buf, signo);
                snprintf(buf, sizeof(buf), "RTMIN+%d", signo - SIGRTMIN);
                check_name(buf, signo);
                snprintf(buf, sizeof(buf), "RTMAX-%d", SIGRTMAX - signo);
                check_name(buf, signo);
                snprintf(buf, sizeof(buf), "%d", signo);
                check_name(buf, signo);
        }
        check(strcmp(sigbroker_signal_to_string(SIGRTMIN), "RTMIN") == 0, "RTMIN");
        check(strcmp(sigbroker_signal_to_string(SIGRTMIN + 3), "RTMIN+3") == 0, "RTMIN+3");
        check(strcmp(sigbroker_signal_to_string(SIGRTMAX - 2), "RTMAX-2") == 0, "RTMAX-2");
        check(strcmp(sigbroker_signal_to_string(SIGRTMAX), "RTMAX") == 0, "RTMAX");
        check(strcmp(sigbroker_signal_to_string(0), "0") == 0, "the probe");
        check_name("0", 0);
        check(!sigbroker_signal_to_string(-1), "-1 has a name");
        check(!sigbroker_signal_to_string(SIGBROKER_SIGNO_MAX + 1), "65 has a name");
        check_name("IOT", SIGABRT);
        check_name("SIGCLD", SIGCHLD);
        check_name("poll", SIGIO);

        static const char *const bad[] = {
                "", "SIG", "65", "-1", "+1", "1x", "USR3", "RTMIN+31", "RTMAX-31", "RTMIN-1", "RTMAX+1",
                "RTMIN+", "RTMIN 1", " USR1", "USR1 ", "SIGSIGUSR1", "1000", "0x10",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                check_name(bad[i], -EINVAL);
        check(sigbroker_signal_from_string(NULL) == -EINVAL, "NULL accepted");

        if (failures) {
                fprintf(stderr, "%d failed\n", failures);
                return 1;
        }
        printf("ok\n");
        return 0;
}
