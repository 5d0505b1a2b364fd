/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "json.h"
#include "protocol.h"

size_t utf8_sequence_length(const char *str, size_t n) {
        const unsigned char *s = (const unsigned char *) str;
        size_t len;
        uint32_t c;

        if (s[0] < 0xc2 || s[0] > 0xf4)
                return 0;
        len = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
        if (n < len)
                return 0;
        c = s[0] & (0x7f >> len);
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                c = (c << 6) | (s[i] & 0x3f);
        }
        /* Overlong forms, surrogates and beyond U+10FFFF. */
        if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)) || (c >= 0xd800 && c <= 0xdfff))
                return 0;
        return len;
}

void json_string_n(FILE *f, const char *str, size_t len) {
        const unsigned char *s = (const unsigned char *) str;

        fputc('"', f);
        for (size_t i = 0; i < len;) {
                unsigned char c = s[i];
                size_t n;
                if (c == '"' || c == '\\')
                        fprintf(f, "\\%c", c);
                else if (c < 0x20 || c == 0x7f)
                        fprintf(f, "\\u%04x", c);
                else if (c < 0x80)
                        fputc(c, f);
                else if ((n = utf8_sequence_length(str + i, len - i)) > 0) {
                        fwrite(s + i, 1, n, f);
                        i += n;
                        continue;
                } else
                        fputs("\\ufffd", f);
                i++;
        }
        fputc('"', f);
}

void json_string(FILE *f, const char *s) {
        size_t len = 0;

        while (s[len])
                len++;
        json_string_n(f, s, len);
}

void json_mask(FILE *f, uint64_t mask) {
        const char *sep = "";
        char name[16];

        fputc('[', f);
        for (int signo = 1; signo <= SB_SIGNO_MAX; signo++)
                if (mask & SB_SIGMASK(signo)) {
                        fputs(sep, f);
                        json_string(f, sb_signal_to_string(signo, name));
                        sep = ",";
                }
        fputc(']', f);
}
