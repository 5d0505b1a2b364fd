/*
 * Signal numbers and names as Linux and glibc know them. sigbroker does not
 * use the host's <signal.h> numbering: the wire carries Linux's numbers on
 * every architecture, and RTMIN is glibc's 34.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "protocol.h"

#define SB_SIGRTMAX SB_SIGNO_MAX

static const char *const signal_names[32] = {
        [1] = "HUP",   [2] = "INT",     [3] = "QUIT",  [4] = "ILL",
        [5] = "TRAP",  [6] = "ABRT",    [7] = "BUS",   [8] = "FPE",
        [9] = "KILL",  [10] = "USR1",   [11] = "SEGV", [12] = "USR2",
        [13] = "PIPE", [14] = "ALRM",   [15] = "TERM", [16] = "STKFLT",
        [17] = "CHLD", [18] = "CONT",   [19] = "STOP", [20] = "TSTP",
        [21] = "TTIN", [22] = "TTOU",   [23] = "URG",  [24] = "XCPU",
        [25] = "XFSZ", [26] = "VTALRM", [27] = "PROF", [28] = "WINCH",
        [29] = "IO",   [30] = "PWR",    [31] = "SYS",
};

static const struct {
        const char *name;
        int signo;
} signal_aliases[] = {
        { "IOT", 6 },
        { "CLD", 17 },
        { "POLL", 29 },
};

/* Parse a decimal number of at most three digits, all of s. */
static int parse_small_number(const char *s) {
        int v = 0;

        if (*s == '\0' || strlen(s) > 3)
                return -EINVAL;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return -EINVAL;
                v = v * 10 + (*s - '0');
        }
        return v;
}

static int parse_rt(const char *s) {
        int n;

        if (strncasecmp(s, "RTMIN", 5) == 0) {
                if (s[5] == '\0')
                        return SB_SIGRTMIN;
                if (s[5] != '+' || (n = parse_small_number(s + 6)) < 0 || n > SB_SIGRTMAX - SB_SIGRTMIN)
                        return -EINVAL;
                return SB_SIGRTMIN + n;
        }
        if (strncasecmp(s, "RTMAX", 5) == 0) {
                if (s[5] == '\0')
                        return SB_SIGRTMAX;
                if (s[5] != '-' || (n = parse_small_number(s + 6)) < 0 || n > SB_SIGRTMAX - SB_SIGRTMIN)
                        return -EINVAL;
                return SB_SIGRTMAX - n;
        }
        return -EINVAL;
}

int sb_signal_from_string(const char *s) {
        int n;

        if (!s)
                return -EINVAL;
        n = parse_small_number(s);
        if (n >= 0)
                return n <= SB_SIGNO_MAX ? n : -EINVAL;
        if (strncasecmp(s, "SIG", 3) == 0)
                s += 3;
        for (int i = 1; i < 32; i++)
                if (strcasecmp(s, signal_names[i]) == 0)
                        return i;
        for (size_t i = 0; i < sizeof(signal_aliases) / sizeof(signal_aliases[0]); i++)
                if (strcasecmp(s, signal_aliases[i].name) == 0)
                        return signal_aliases[i].signo;
        return parse_rt(s);
}

const char *sb_signal_to_string(int signo, char buf[static 16]) {
        if (signo >= 1 && signo < 32)
                return signal_names[signo];
        if (signo == SB_SIGRTMIN)
                snprintf(buf, 16, "RTMIN");
        else if (signo == SB_SIGRTMAX)
                snprintf(buf, 16, "RTMAX");
        else if (signo > SB_SIGRTMIN && signo <= (SB_SIGRTMIN + SB_SIGRTMAX) / 2)
                snprintf(buf, 16, "RTMIN+%d", signo - SB_SIGRTMIN);
        else if (signo > SB_SIGRTMIN && signo < SB_SIGRTMAX)
                snprintf(buf, 16, "RTMAX-%d", SB_SIGRTMAX - signo);
        else
                snprintf(buf, 16, "%d", signo);
        return buf;
}

static const char *const target_kind_names[_SB_TARGET_MAX] = {
        [SB_TARGET_PID] = "pid",
        [SB_TARGET_PGID] = "pgid",
        [SB_TARGET_SID] = "sid",
        [SB_TARGET_GROUP] = "group",
        [SB_TARGET_CLIENT] = "client",
        [SB_TARGET_BROADCAST] = "broadcast",
};

const char *sb_target_kind_to_string(int kind) {
        return kind >= 0 && kind < _SB_TARGET_MAX ? target_kind_names[kind] : NULL;
}

int sb_target_kind_from_string(const char *s) {
        for (int i = 0; s && i < _SB_TARGET_MAX; i++)
                if (strcmp(target_kind_names[i], s) == 0)
                        return i;
        return -EINVAL;
}

bool sb_group_name_is_valid(const char *name, size_t len) {
        if (!name || len == 0 || len > SB_GROUP_NAME_MAX)
                return false;
        for (size_t i = 0; i < len; i++) {
                char c = name[i];
                if (c == '\0')
                        return false;
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      strchr("_.:@-", c)))
                        return false;
        }
        return true;
}
