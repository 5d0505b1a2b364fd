/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The libFuzzer entry points. A fuzz target (fuzz-NAME.c) defines
 * LLVMFuzzerTestOneInput() and, if it needs setup once per process,
 * LLVMFuzzerInitialize(). The same file links either with libFuzzer
 * (-fsanitize=fuzzer) or with fuzz-main.c, which replays files.
 *
 * A target reports a finding by crashing: assert(), abort() or
 * __builtin_trap(); the sanitizers report their own.
 */

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);
