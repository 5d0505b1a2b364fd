/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What every unit test executable's main() does with its check suite. */

#include <check.h>
#include <stdlib.h>

static inline int unit_run(Suite *s) {
        SRunner *sr = srunner_create(s);
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
