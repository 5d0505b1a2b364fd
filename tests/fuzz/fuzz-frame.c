/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for the wire format: walks the input as one packet of frames
 * the way the daemon does (parse until the packet ends or a frame is refused)
 * and, for each frame parsed, encodes it again. The encoding is canonical:
 * every byte of an accepted frame is either a field the decoder keeps or a
 * reserved byte it requires to be zero, so the bytes written must equal the
 * bytes read. Any difference, or a size that disagrees, is a bug.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "protocol.h"

#define CHECK(x) do { if (!(x)) __builtin_trap(); } while (0)

static void check_reencode(const SbFrame *f, const uint8_t *in, size_t n) {
        /* Exactly n bytes, so that ASan sees the encoder write past them. */
        uint8_t *out = malloc(n);

        CHECK(out);
        CHECK(sb_frame_size(f) == n);
        CHECK(sb_frame_encode(f, out, n - 1) == -ENOBUFS);
        CHECK(sb_frame_encode(f, out, n) == (ssize_t) n);
        CHECK(memcmp(out, in, n) == 0);
        free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        size_t off = 0;

        while (off < size) {
                SbFrame f;
                size_t n = 0;
                int r = sb_frame_parse_untrusted(data + off, size - off, &f, &n);

                if (r != SB_PARSE_OK) {
                        CHECK(r > 0 && r < _SB_PARSE_E_MAX);
                        break;
                }
                CHECK(n >= SB_HEADER_SIZE && n <= size - off && n <= SB_PACKET_MAX);
                CHECK(f.type != SB_MSG_INVALID && f.type < _SB_MSG_MAX);
                check_reencode(&f, data + off, n);
                off += n;
        }
        return 0;
}
