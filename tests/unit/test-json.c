/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The JSON string writer (daemon/shared/json.c): quotes, backslashes and
 * control characters escaped, valid UTF-8 copied as it is, and every byte
 * that is not part of a valid sequence (overlong forms, surrogates, code
 * points past U+10FFFF, truncated or interrupted sequences) replaced by
 * U+FFFD, so that whatever a process put in its name the output is valid
 * JSON. Checked on fixed cases and on random bytes against a validator
 * written from the table of well-formed sequences in the Unicode standard.
 */

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "protocol.h"
#include "unit.h"

static char *capture_n(const char *s, size_t len) {
        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);

        ck_assert_ptr_nonnull(f);
        json_string_n(f, s, len);
        ck_assert_int_eq(fclose(f), 0);
        return out;
}

static void check_escape_n(const char *in, size_t len, const char *expected) {
        char *out = capture_n(in, len);

        ck_assert_str_eq(out, expected);
        free(out);
}

#define check_escape(in, expected) check_escape_n((in), sizeof(in) - 1, (expected))

/* Well-formed UTF-8 byte sequences (Unicode 15, table 3-7): the length of
 * the one at s, or 0. */
static size_t reference_sequence(const unsigned char *s, size_t n) {
        static const struct {
                unsigned char first_lo, first_hi, second_lo, second_hi;
                size_t len;
        } table[] = {
                { 0xc2, 0xdf, 0x80, 0xbf, 2 },
                { 0xe0, 0xe0, 0xa0, 0xbf, 3 },
                { 0xe1, 0xec, 0x80, 0xbf, 3 },
                { 0xed, 0xed, 0x80, 0x9f, 3 },
                { 0xee, 0xef, 0x80, 0xbf, 3 },
                { 0xf0, 0xf0, 0x90, 0xbf, 4 },
                { 0xf1, 0xf3, 0x80, 0xbf, 4 },
                { 0xf4, 0xf4, 0x80, 0x8f, 4 },
        };

        for (size_t t = 0; t < sizeof(table) / sizeof(table[0]); t++) {
                if (s[0] < table[t].first_lo || s[0] > table[t].first_hi)
                        continue;
                if (n < table[t].len || s[1] < table[t].second_lo || s[1] > table[t].second_hi)
                        return 0;
                for (size_t i = 2; i < table[t].len; i++)
                        if (s[i] < 0x80 || s[i] > 0xbf)
                                return 0;
                return table[t].len;
        }
        return 0;
}

START_TEST(test_sequence_length) {
        static const struct {
                const char *bytes;
                size_t n, expected;
        } cases[] = {
                { "\xc3\xa9", 2, 2 },                   /* é */
                { "\xc3\xa9", 1, 0 },                   /* cut short */
                { "\xc2\x80", 2, 2 },                   /* U+0080, the first two-byte one */
                { "\xc1\xbf", 2, 0 },                   /* overlong U+007F */
                { "\xc0\x80", 2, 0 },                   /* overlong NUL */
                { "\xdf\xbf", 2, 2 },                   /* U+07FF */
                { "\xe0\xa0\x80", 3, 3 },               /* U+0800 */
                { "\xe0\x9f\xbf", 3, 0 },               /* overlong U+07FF */
                { "\xe2\x82\xac", 3, 3 },               /* € */
                { "\xe2\x82\xac", 2, 0 },
                { "\xe2\x28\xac", 3, 0 },               /* second byte no continuation */
                { "\xe2\x82\x28", 3, 0 },               /* third byte no continuation */
                { "\xed\x9f\xbf", 3, 3 },               /* U+D7FF */
                { "\xed\xa0\x80", 3, 0 },               /* U+D800, a surrogate */
                { "\xed\xbf\xbf", 3, 0 },               /* U+DFFF */
                { "\xee\x80\x80", 3, 3 },               /* U+E000 */
                { "\xef\xbf\xbf", 3, 3 },               /* U+FFFF */
                { "\xf0\x90\x80\x80", 4, 4 },           /* U+10000 */
                { "\xf0\x8f\xbf\xbf", 4, 0 },           /* overlong U+FFFF */
                { "\xf0\x9f\x98\x80", 4, 4 },           /* 😀 */
                { "\xf0\x9f\x98\x80", 3, 0 },
                { "\xf4\x8f\xbf\xbf", 4, 4 },           /* U+10FFFF */
                { "\xf4\x90\x80\x80", 4, 0 },           /* U+110000 */
                { "\xf5\x80\x80\x80", 4, 0 },
                { "\xff", 1, 0 },
                { "\x80", 1, 0 },                       /* a lone continuation byte */
                { "A", 1, 0 },                          /* ASCII is not a multi-byte sequence */
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                ck_assert_msg(utf8_sequence_length(cases[i].bytes, cases[i].n) == cases[i].expected,
                              "case %zu: expected %zu", i, cases[i].expected);
}
END_TEST

START_TEST(test_escapes) {
        check_escape("", "\"\"");
        check_escape("plain text", "\"plain text\"");
        check_escape("say \"hi\"", "\"say \\\"hi\\\"\"");
        check_escape("a\\b", "\"a\\\\b\"");
        check_escape("/", "\"/\"");
        /* Every control character as \u00XX, DEL too. */
        check_escape("\t\n\r", "\"\\u0009\\u000a\\u000d\"");
        check_escape("\x01\x1f\x7f ", "\"\\u0001\\u001f\\u007f \"");
        /* A NUL inside the given length is a character like any other. */
        check_escape("a\0b", "\"a\\u0000b\"");
        /* json_string() stops at the terminator. */
        {
                char *out = NULL;
                size_t size = 0;
                FILE *f = open_memstream(&out, &size);
                json_string(f, "ab\0cd");
                fclose(f);
                ck_assert_str_eq(out, "\"ab\"");
                free(out);
        }
}
END_TEST

START_TEST(test_utf8) {
        check_escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
        /* Each byte that starts no valid sequence becomes one U+FFFD, and
         * what follows it is read afresh. */
        check_escape("\xff", "\"\\ufffd\"");
        check_escape("a\x80z", "\"a\\ufffdz\"");
        check_escape("\xc0\x80", "\"\\ufffd\\ufffd\"");
        check_escape("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
        check_escape("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
        /* Truncated at the end of the string. */
        check_escape("x\xe2\x82", "\"x\\ufffd\\ufffd\"");
        /* Interrupted by ASCII: the ASCII survives. */
        check_escape("\xe2\"\xac", "\"\\ufffd\\\"\\ufffd\"");
        /* A valid sequence right after an invalid byte survives. */
        check_escape("\xc3\xc3\xa9", "\"\\ufffd\xc3\xa9\"");
        /* The length bounds a sequence: é cut in half by len. */
        check_escape_n("\xc3\xa9", 1, "\"\\ufffd\"");
}
END_TEST

/* Read the writer's output back into tokens: each byte, or -1 for U+FFFD.
 * Returns how many, or -1 if the output is not one JSON string whose
 * escapes are known and whose other bytes are printable or valid UTF-8.
 * (Plain comparisons: a check assertion per byte is too slow here.) */
static ssize_t decode(const char *out, int *tokens, size_t max) {
        const unsigned char *s = (const unsigned char *) out;
        size_t len = strlen(out), n = 0;

        if (len < 2 || s[0] != '"' || s[len - 1] != '"')
                return -1;
        for (size_t i = 1; i < len - 1; n++) {
                size_t seq;
                unsigned v;
                if (n >= max)
                        return -1;
                if (s[i] == '\\' && s[i + 1] == 'u') {
                        if (sscanf(out + i + 2, "%4x", &v) != 1 || (v >= 0x80 && v != 0xfffd))
                                return -1;
                        tokens[n] = v == 0xfffd ? -1 : (int) v;
                        i += 6;
                } else if (s[i] == '\\') {
                        if (s[i + 1] != '"' && s[i + 1] != '\\')
                                return -1;
                        tokens[n] = s[i + 1];
                        i += 2;
                } else if (s[i] == '"' || s[i] < 0x20 || s[i] == 0x7f) {
                        return -1;      /* must have been escaped */
                } else if (s[i] < 0x80) {
                        tokens[n] = s[i++];
                } else {
                        seq = reference_sequence(s + i, len - 1 - i);
                        if (seq == 0 || n + seq > max)
                                return -1;
                        for (size_t k = 0; k < seq; k++)
                                tokens[n + k] = s[i + k];
                        n += seq - 1;
                        i += seq;
                }
        }
        return (ssize_t) n;
}

/* The output is valid, and every input byte comes back as itself if it is
 * ASCII or part of a valid sequence (by the reference), as U+FFFD
 * otherwise, in order. */
static bool round_trips(const unsigned char *in, size_t len, const char *out) {
        int tokens[6 * 64 + 2];
        ssize_t n = decode(out, tokens, sizeof(tokens) / sizeof(tokens[0]));
        size_t t = 0;

        if (n < 0)
                return false;
        for (size_t i = 0; i < len;) {
                size_t seq = in[i] < 0x80 ? 1 : reference_sequence(in + i, len - i);
                if (seq == 0) {
                        if (t >= (size_t) n || tokens[t++] != -1)
                                return false;
                        i++;
                        continue;
                }
                for (size_t k = 0; k < seq; k++)
                        if (t >= (size_t) n || tokens[t++] != in[i++])
                                return false;
        }
        return t == (size_t) n;
}

static void assert_round_trip(const unsigned char *in, size_t len, const char *out) {
        if (!round_trips(in, len, out)) {
                char hex[3 * 64 + 1] = "";
                for (size_t i = 0; i < len && i < 64; i++)
                        snprintf(hex + 3 * i, 4, "%02x ", in[i]);
                ck_abort_msg("input %s gave %s", hex, out);
        }
}

START_TEST(test_random_bytes) {
        uint64_t x = 0x9e3779b97f4a7c15ULL;
        unsigned char buf[64];

        for (int round = 0; round < 5000; round++) {
                size_t len;
                char *out;
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                len = x % sizeof(buf);
                for (size_t i = 0; i < len; i++) {
                        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                        /* Mostly bytes near the interesting boundaries. */
                        static const unsigned char pick[] = { 0x00, 0x1f, 0x20, 0x22, 0x5c, 0x7f, 0x80, 0x8f, 0x90,
                                                              0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed,
                                                              0xef, 0xf0, 0xf4, 0xf5, 0xff, 'a' };
                        buf[i] = (x >> 32) % 4 == 0 ? (unsigned char) (x >> 40) : pick[(x >> 40) % sizeof(pick)];
                }
                out = capture_n((const char *) buf, len);
                assert_round_trip(buf, len, out);
                free(out);
        }
}
END_TEST

START_TEST(test_every_two_byte_prefix) {
        /* Every two-byte string that starts with a non-ASCII byte (an ASCII
         * one is written alone whatever follows), and each followed by two
         * continuation bytes, against the reference. */
        for (unsigned a = 0x80; a < 256; a++)
                for (unsigned b = 0; b < 256; b++) {
                        unsigned char in[4] = { (unsigned char) a, (unsigned char) b, 0x80, 0x80 };
                        for (size_t len = 2; len <= 4; len += 2) {
                                char *out = capture_n((const char *) in, len);
                                assert_round_trip(in, len, out);
                                free(out);
                        }
                }
}
END_TEST

static void check_mask(uint64_t mask, const char *expected) {
        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);

        json_mask(f, mask);
        fclose(f);
        ck_assert_str_eq(out, expected);
        free(out);
}

START_TEST(test_mask) {
        check_mask(0, "[]");
        check_mask(SB_SIGMASK(1), "[\"HUP\"]");
        check_mask(SB_SIGMASK(10) | SB_SIGMASK(1) | SB_SIGMASK(31), "[\"HUP\",\"USR1\",\"SYS\"]");
        check_mask(SB_SIGMASK(34) | SB_SIGMASK(35) | SB_SIGMASK(63) | SB_SIGMASK(64),
                   "[\"RTMIN\",\"RTMIN+1\",\"RTMAX-1\",\"RTMAX\"]");
        /* 32 and 33 have no name but their number. */
        check_mask(SB_SIGMASK(32) | SB_SIGMASK(33), "[\"32\",\"33\"]");
}
END_TEST

int main(void) {
        Suite *s = suite_create("json");
        TCase *tc = tcase_create("json");

        tcase_add_test(tc, test_sequence_length);
        tcase_add_test(tc, test_escapes);
        tcase_add_test(tc, test_utf8);
        tcase_add_test(tc, test_random_bytes);
        tcase_add_test(tc, test_every_two_byte_prefix);
        tcase_add_test(tc, test_mask);
        /* Tens of thousands of strings: seconds under sanitizers on a busy
         * machine, more than check's default of 4. */
        tcase_set_timeout(tc, 30);
        suite_add_tcase(s, tc);
        return unit_run(s);
}
