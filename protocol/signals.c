/* SPDX-License-Identifier: LGPL-2.1-or-later */
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

/* Every number's name, as sb_signal_name() gives it: glibc's abbreviations
 * for the standard signals, numbers for 0 and the two real-time signals
 * glibc keeps for itself, and the real-time ones counted from the nearer
 * end, as bash's `kill -l` names them. */
static const char *const signal_names[SB_SIGNO_MAX + 1] = {
        [0] = "0", [1] = "HUP", [2] = "INT", [3] = "QUIT",
        [4] = "ILL", [5] = "TRAP", [6] = "ABRT", [7] = "BUS",
        [8] = "FPE", [9] = "KILL", [10] = "USR1", [11] = "SEGV",
        [12] = "USR2", [13] = "PIPE", [14] = "ALRM", [15] = "TERM",
        [16] = "STKFLT", [17] = "CHLD", [18] = "CONT", [19] = "STOP",
        [20] = "TSTP", [21] = "TTIN", [22] = "TTOU", [23] = "URG",
        [24] = "XCPU", [25] = "XFSZ", [26] = "VTALRM", [27] = "PROF",
        [28] = "WINCH", [29] = "IO", [30] = "PWR", [31] = "SYS",
        [32] = "32", [33] = "33", [34] = "RTMIN", [35] = "RTMIN+1",
        [36] = "RTMIN+2", [37] = "RTMIN+3", [38] = "RTMIN+4", [39] = "RTMIN+5",
        [40] = "RTMIN+6", [41] = "RTMIN+7", [42] = "RTMIN+8", [43] = "RTMIN+9",
        [44] = "RTMIN+10", [45] = "RTMIN+11", [46] = "RTMIN+12", [47] = "RTMIN+13",
        [48] = "RTMIN+14", [49] = "RTMIN+15", [50] = "RTMAX-14", [51] = "RTMAX-13",
        [52] = "RTMAX-12", [53] = "RTMAX-11", [54] = "RTMAX-10", [55] = "RTMAX-9",
        [56] = "RTMAX-8", [57] = "RTMAX-7", [58] = "RTMAX-6", [59] = "RTMAX-5",
        [60] = "RTMAX-4", [61] = "RTMAX-3", [62] = "RTMAX-2", [63] = "RTMAX-1",
        [64] = "RTMAX",
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
        for (int i = 1; i < SB_SIGRTMIN - 2; i++)
                if (strcasecmp(s, signal_names[i]) == 0)
                        return i;
        for (size_t i = 0; i < sizeof(signal_aliases) / sizeof(signal_aliases[0]); i++)
                if (strcasecmp(s, signal_aliases[i].name) == 0)
                        return signal_aliases[i].signo;
        return parse_rt(s);
}

const char *sb_signal_name(int signo) {
        return signo >= 0 && signo <= SB_SIGNO_MAX ? signal_names[signo] : NULL;
}

const char *sb_signal_to_string(int signo, char buf[static 16]) {
        const char *name = sb_signal_name(signo);

        if (name)
                return name;
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
