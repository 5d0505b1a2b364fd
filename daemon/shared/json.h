/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Writing JSON into a FILE (an open_memstream() in practice) for the QUERY
 * answers and the monitor's events. Strings come out as valid UTF-8
 * whatever they held: a command name is whatever a process chose.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Length of the valid UTF-8 sequence of a non-ASCII character at s (at most
 * n bytes), or 0 if it is not one. */
size_t utf8_sequence_length(const char *s, size_t n);

void json_string(FILE *f, const char *s);
void json_string_n(FILE *f, const char *s, size_t len);
/* An array of signal names, one per bit set. */
void json_mask(FILE *f, uint64_t mask);
