/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The rate limit on log entries that clients can cause at will
 * (daemon/shared/log.c): at most `burst` events per window, the count of
 * the suppressed ones handed to the first event of a later window or
 * taken when a window has ended quietly.
 *
 * The limiter reads CLOCK_MONOTONIC itself; the tests control time by
 * moving the window's start (begin_ns) back, so no test sleeps (but one)
 * and nothing depends on the machine's speed. The limiter reads the clock
 * after the test set begin_ns, so "exactly at the end" is the end plus the
 * nanoseconds in between: whether the end itself belongs to the old window
 * (>= or >) is beyond what the module lets a test see.
 */

#include <check.h>
#include <stdbool.h>
#include <stdint.h>

#include "log.h"
#include "unit.h"
#include "util.h"

#define SECOND_NS UINT64_C(1000000000)
/* Long enough that no window ends by itself while a test runs, even under
 * a sanitizer on a loaded machine. */
#define WINDOW_NS (3600 * SECOND_NS)

/* Pretend that `ns` have passed since the window began. */
static void age_window(RateLimit *rl, uint64_t ns) {
        rl->begin_ns = now_ns(CLOCK_MONOTONIC) - ns;
}

static unsigned take_events(RateLimit *rl, unsigned n, unsigned *ret_allowed) {
        unsigned allowed = 0, reported = 0;

        for (unsigned i = 0; i < n; i++) {
                unsigned suppressed = 99;
                if (ratelimit_test(rl, &suppressed))
                        allowed++;
                reported += suppressed;
        }
        *ret_allowed = allowed;
        return reported;
}

START_TEST(test_burst_then_suppress) {
        RateLimit rl = RATELIMIT_INIT(WINDOW_NS, 5);
        unsigned allowed, suppressed = 99;

        /* The first event starts the window and reports nothing. */
        ck_assert(ratelimit_test(&rl, &suppressed));
        ck_assert_uint_eq(suppressed, 0);
        ck_assert_uint_ne(rl.begin_ns, 0);
        ck_assert_uint_eq(take_events(&rl, 4, &allowed), 0);
        ck_assert_uint_eq(allowed, 4);
        /* Burst used up: everything else in this window is suppressed and
         * counted, reported to no one yet. */
        ck_assert_uint_eq(take_events(&rl, 1000, &allowed), 0);
        ck_assert_uint_eq(allowed, 0);
        ck_assert_uint_eq(rl.suppressed, 1000);
        /* The window has not ended: nothing to take. */
        ck_assert_uint_eq(ratelimit_take_suppressed(&rl), 0);
        ck_assert_uint_eq(rl.suppressed, 1000);
}
END_TEST

START_TEST(test_window_boundary) {
        RateLimit rl = RATELIMIT_INIT(WINDOW_NS, 2);
        unsigned allowed, suppressed;

        ck_assert_uint_eq(take_events(&rl, 5, &allowed), 0);
        ck_assert_uint_eq(allowed, 2);

        /* One second before the end: still the same window. */
        age_window(&rl, WINDOW_NS - SECOND_NS);
        ck_assert(!ratelimit_test(&rl, &suppressed));
        ck_assert_uint_eq(suppressed, 0);
        ck_assert_uint_eq(rl.suppressed, 4);

        /* At the end: a new window; the first event in it carries the count
         * of the previous one. */
        age_window(&rl, WINDOW_NS);
        ck_assert(ratelimit_test(&rl, &suppressed));
        ck_assert_uint_eq(suppressed, 4);
        ck_assert_uint_eq(rl.suppressed, 0);
        ck_assert(ratelimit_test(&rl, &suppressed));
        ck_assert_uint_eq(suppressed, 0);
        ck_assert(!ratelimit_test(&rl, &suppressed));
        ck_assert_uint_eq(suppressed, 0);
        ck_assert_uint_eq(rl.suppressed, 1);
}
END_TEST

START_TEST(test_take_suppressed_after_quiet_window) {
        RateLimit rl = RATELIMIT_INIT(WINDOW_NS, 1);
        unsigned allowed, suppressed;

        take_events(&rl, 8, &allowed);
        ck_assert_uint_eq(allowed, 1);
        age_window(&rl, WINDOW_NS + SECOND_NS);
        /* The burst ended with no event after it: the periodic call takes
         * the count, once. */
        ck_assert_uint_eq(ratelimit_take_suppressed(&rl), 7);
        ck_assert_uint_eq(ratelimit_take_suppressed(&rl), 0);
        /* So the next event does not report them again. */
        ck_assert(ratelimit_test(&rl, &suppressed));
        ck_assert_uint_eq(suppressed, 0);
}
END_TEST

START_TEST(test_nothing_suppressed) {
        RateLimit rl = RATELIMIT_INIT(WINDOW_NS, 3);
        unsigned allowed, suppressed;

        /* A limiter never used has nothing to take. */
        ck_assert_uint_eq(ratelimit_take_suppressed(&rl), 0);
        take_events(&rl, 3, &allowed);
        ck_assert_uint_eq(allowed, 3);
        age_window(&rl, 2 * WINDOW_NS);
        ck_assert_uint_eq(ratelimit_take_suppressed(&rl), 0);
        ck_assert(ratelimit_test(&rl, &suppressed));
        ck_assert_uint_eq(suppressed, 0);
}
END_TEST

START_TEST(test_windows_in_a_row) {
        RateLimit rl = RATELIMIT_INIT(WINDOW_NS, 10);

        /* Each window allows its burst anew, whatever came before. */
        for (unsigned w = 0; w < 5; w++) {
                unsigned allowed, reported = take_events(&rl, 10 + w, &allowed);
                ck_assert_uint_eq(allowed, 10);
                ck_assert_uint_eq(reported, w == 0 ? 0 : w - 1);
                ck_assert_uint_eq(rl.suppressed, w);
                age_window(&rl, WINDOW_NS);
        }
}
END_TEST

START_TEST(test_real_clock) {
        /* And once with time really passing: a 20 ms window. */
        RateLimit rl = RATELIMIT_INIT(20 * 1000 * 1000, 1);
        unsigned suppressed;
        struct timespec ts = { 0, 30 * 1000 * 1000 };

        ck_assert(ratelimit_test(&rl, &suppressed));
        ck_assert(!ratelimit_test(&rl, &suppressed));
        ck_assert_int_eq(nanosleep(&ts, NULL), 0);
        ck_assert(ratelimit_test(&rl, &suppressed));
        ck_assert_uint_eq(suppressed, 1);
}
END_TEST

int main(void) {
        Suite *s = suite_create("ratelimit");
        TCase *tc = tcase_create("ratelimit");

        tcase_add_test(tc, test_burst_then_suppress);
        tcase_add_test(tc, test_window_boundary);
        tcase_add_test(tc, test_take_suppressed_after_quiet_window);
        tcase_add_test(tc, test_nothing_suppressed);
        tcase_add_test(tc, test_windows_in_a_row);
        tcase_add_test(tc, test_real_clock);
        suite_add_tcase(s, tc);
        return unit_run(s);
}
