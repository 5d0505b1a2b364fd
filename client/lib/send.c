/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Sending, one at a time (sigbroker_send(): a request, its RESULT) or
 * pipelined (sigbroker_send_async(): SEND frames packed back to back into
 * one packet, their RESULTs summed, and kept for the result handler if one
 * is set, as they come back).
 */

#include <limits.h>
#include <string.h>

#include "internal.h"

static int build_send(const sigbroker_target *t, int signo, int priority, const void *payload, size_t len,
                      SbFrame *ret) {
        size_t group_len = 0;

        assert_return(t, -EINVAL);
        assert_return(signo >= 0 && signo <= SB_SIGNO_MAX, -EINVAL);
        assert_return(priority >= 0 && priority <= SB_PRIORITY_MAX, -EINVAL);
        assert_return(payload || len == 0, -EINVAL);
        assert_return(t->kind >= 0 && t->kind < _SB_TARGET_MAX, -EINVAL);
        if (t->kind == SB_TARGET_GROUP) {
                assert_return(t->group, -EINVAL);
                group_len = strlen(t->group);
                assert_return(sb_group_name_is_valid(t->group, group_len), -EINVAL);
        }
        /* Over the daemon's own max_payload is the daemon's to refuse (it
         * may be reconfigured); over what any daemon can take is ours. */
        if (len > SB_PAYLOAD_MAX_LIMIT)
                return -EMSGSIZE;

        *ret = (SbFrame) {
                .type = SB_MSG_SEND,
                .send = {
                        .signo = (uint32_t) signo,
                        .priority = (uint8_t) priority,
                        .target_kind = (uint8_t) t->kind,
                        .target = t->kind == SB_TARGET_GROUP || t->kind == SB_TARGET_BROADCAST ? 0 : t->id,
                        .group = t->kind == SB_TARGET_GROUP ? t->group : NULL,
                        .group_len = (uint16_t) group_len,
                        .payload = payload,
                        .payload_len = (uint32_t) len,
                },
        };
        return 0;
}

_public_ int sigbroker_send(sigbroker *sb, const sigbroker_target *target, int signo, int priority,
                            const void *payload, size_t len, sigbroker_send_result *ret_result) {
        SbFrame f;
        int r;

        assert_return(sb, -EINVAL);
        if (ret_result)
                *ret_result = (sigbroker_send_result) {};

        r = build_send(target, signo, priority, payload, len, &f);
        if (r < 0)
                return r;
        r = sb_call(sb, &f);
        if (r < 0)
                return r;
        if (ret_result)
                *ret_result = sb->sync.result;
        return sb->sync.error;
}

_public_ int sigbroker_send_async(sigbroker *sb, const sigbroker_target *target, int signo, int priority,
                                  const void *payload, size_t len, uint64_t *ret_serial) {
        SbFrame f;
        int r;

        assert_return(sb, -EINVAL);
        r = build_send(target, signo, priority, payload, len, &f);
        if (r < 0)
                return r;
        if (sb->monitor_serial)
                return -EBUSY;

        /* The caller collects the RESULT later: the daemon may hold it back
         * and send it along with other output, saving us a wakeup. */
        f.send.flags = SB_SEND_DEFER_RESULT;
        f.serial = sb->serial_next;
        r = sb_append(sb, &f);
        if (r < 0)
                return r;
        sb->serial_next++;
        if (ret_serial)
                *ret_serial = f.serial;
        return 0;
}

_public_ int sigbroker_flush(sigbroker *sb) {
        assert_return(sb, -EINVAL);
        return sb_flush(sb);
}

_public_ int sigbroker_collect_results(sigbroker *sb, uint64_t max_outstanding, int64_t timeout_usec,
                                      sigbroker_batch_result *ret_totals) {
        uint64_t deadline, left;
        int r = 0;

        assert_return(sb, -EINVAL);
        if (sb->monitor_serial)
                return -EBUSY;

        if (sb_async_outstanding(sb) <= max_outstanding) {
                /* Within bounds: take what has come, and leave the packet
                 * being built to grow. */
                for (int i = 0; i < SB_DISPATCH_READ_MAX && sb_async_outstanding(sb) > 0; i++) {
                        r = sb_read(sb);
                        if (r <= 0)
                                break;
                }
        } else {
                r = sb_request_results(sb);
                if (r >= 0)
                        r = sb_flush(sb);
                deadline = sb_deadline(timeout_usec);
                while (r >= 0 && sb_async_outstanding(sb) > max_outstanding) {
                        r = sb_read(sb);
                        if (r != 0)
                                continue;
                        r = sb_poll(sb, deadline);
                        if (r == 0)
                                break;
                }
        }
        if (r < 0)
                return r;

        (void) sb_reap_results(sb);
        if (ret_totals)
                *ret_totals = sb->totals;
        sb->totals = (sigbroker_batch_result) {};
        left = sb_async_outstanding(sb);
        return left > INT_MAX ? INT_MAX : (int) left;
}
