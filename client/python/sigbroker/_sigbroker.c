/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sigbroker._sigbroker: the CPython extension over libsigbroker. The
 * package's __init__.py adds the targets, connect() and asyncio on top.
 *
 * Every call that may block (connecting, a request and its answer, waiting
 * for a signal) runs with the GIL released. A libsigbroker handle may be
 * used by one thread at a time: a Connection remembers which thread is
 * inside it and refuses another (handlers may call back into it from the
 * same thread, as the library allows).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pythread.h>

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "sigbroker.h"

static PyTypeObject SignalType;
static PyTypeObject SendResultType;

/* Signal names: the library's, the same that sigbrokerctl takes. Returns
 * the number, or a negative errno. */
static int signal_from_name(const char *name) {
        return sigbroker_signal_from_string(name);
}

static const char *signal_to_name(int signo, char buf[static 16]) {
        const char *name = sigbroker_signal_to_string(signo);

        if (name)
                return name;
        snprintf(buf, 16, "%d", signo);
        return buf;
}

/* A signal given as a number (int, signal.Signals) or a name ("USR1",
 * "SIGUSR1", "RTMIN+1"). 0 only where allow_zero (a probe). */
static int signal_converter(PyObject *o, int *ret, bool allow_zero) {
        int signo;

        if (PyLong_Check(o)) {
                long v = PyLong_AsLong(o);

                if (v == -1 && PyErr_Occurred())
                        return -1;
                signo = v < 0 || v > SIGBROKER_SIGNO_MAX ? -EINVAL : (int) v;
        } else if (PyUnicode_Check(o)) {
                const char *s = PyUnicode_AsUTF8(o);

                if (!s)
                        return -1;
                signo = signal_from_name(s);
        } else {
                PyErr_Format(PyExc_TypeError, "a signal is a number or a name, not %.100s", Py_TYPE(o)->tp_name);
                return -1;
        }
        if (signo < 0 || (signo == 0 && !allow_zero)) {
                PyErr_Format(PyExc_ValueError, "not a signal%s: %R", allow_zero ? "" : " that can be delivered", o);
                return -1;
        }
        *ret = signo;
        return 0;
}

static int signals_to_mask(PyObject *seq, uint64_t *ret_mask) {
        uint64_t mask = 0;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);

        for (Py_ssize_t i = 0; i < n; i++) {
                int signo;

                if (signal_converter(PySequence_Fast_GET_ITEM(seq, i), &signo, false) < 0)
                        return -1;
                mask |= SIGBROKER_SIGMASK(signo);
        }
        *ret_mask = mask;
        return 0;
}

static PyObject *mask_to_frozenset(uint64_t mask) {
        PyObject *set = PyFrozenSet_New(NULL);

        for (int signo = 1; set && signo <= SIGBROKER_SIGNO_MAX; signo++) {
                PyObject *n;

                if (!(mask & SIGBROKER_SIGMASK(signo)))
                        continue;
                n = PyLong_FromLong(signo);
                if (!n || PySet_Add(set, n) < 0)
                        Py_CLEAR(set);
                Py_XDECREF(n);
        }
        return set;
}

/* A negative errno from the library as the OSError subclass of its errno
 * (PermissionError, ProcessLookupError, BlockingIOError...). */
static PyObject *set_error(int r) {
        errno = -r;
        return PyErr_SetFromErrno(PyExc_OSError);
}

static PyStructSequence_Field signal_fields[] = {
        { "signo", "the signal number, 1..64" },
        { "name", "its name: 'HUP', 'RTMIN+1'..." },
        { "priority", "0..99" },
        { "sender_pid", "the sender's pid, as the kernel told the daemon" },
        { "sender_uid", "the sender's uid" },
        { "sender_gid", "the sender's gid" },
        { "sender_client_id", "the sender's client id" },
        { "realtime_ns", "CLOCK_REALTIME when the daemon accepted the send" },
        { "monotonic_ns", "CLOCK_MONOTONIC when the daemon accepted the send" },
        { "seq", "sequence number for this receiver, from 1" },
        { "merged", "standard signals: sends coalesced into this one" },
        { "gap", "a gap record: `lost` signals of signo were dropped" },
        { "lost", "gap records: how many were dropped" },
        { "payload", "the payload, bytes" },
        {},
};

static PyStructSequence_Desc signal_desc = {
        "sigbroker.Signal",
        "One signal received from the broker (or a gap record).",
        signal_fields,
        14,
};

static PyStructSequence_Field send_result_fields[] = {
        { "queued", "receivers the signal was queued for" },
        { "merged", "receivers where it was merged into a pending one" },
        { "refused", "receivers whose queue was full" },
        { "denied", "receivers the sender may not signal" },
        {},
};

static PyStructSequence_Desc send_result_desc = {
        "sigbroker.SendResult",
        "What the broker did with one send.",
        send_result_fields,
        4,
};

static PyObject *signal_new(const sigbroker_info *i) {
        PyObject *s = PyStructSequence_New(&SignalType);
        char buf[16];
        PyObject *v[14];

        if (!s)
                return NULL;
        v[0] = PyLong_FromLong(i->signo);
        v[1] = PyUnicode_FromString(signal_to_name(i->signo, buf));
        v[2] = PyLong_FromLong(i->priority);
        v[3] = PyLong_FromLong((long) i->sender_pid);
        v[4] = PyLong_FromUnsignedLong(i->sender_uid);
        v[5] = PyLong_FromUnsignedLong(i->sender_gid);
        v[6] = PyLong_FromUnsignedLongLong(i->sender_client_id);
        v[7] = PyLong_FromUnsignedLongLong(i->realtime_ns);
        v[8] = PyLong_FromUnsignedLongLong(i->monotonic_ns);
        v[9] = PyLong_FromUnsignedLongLong(i->seq);
        v[10] = PyLong_FromUnsignedLong(i->merged);
        v[11] = PyBool_FromLong(i->gap);
        v[12] = PyLong_FromUnsignedLong(i->lost);
        v[13] = PyBytes_FromStringAndSize(i->payload, (Py_ssize_t) i->payload_len);
        for (int k = 0; k < 14; k++) {
                if (!v[k]) {
                        for (int j = k + 1; j < 14; j++)
                                Py_XDECREF(v[j]);
                        Py_DECREF(s);
                        return NULL;
                }
                PyStructSequence_SET_ITEM(s, k, v[k]);
        }
        return s;
}

static PyObject *send_result_new(const sigbroker_send_result *r) {
        PyObject *s = PyStructSequence_New(&SendResultType);
        const uint32_t v[4] = { r->queued, r->merged, r->refused, r->denied };

        if (!s)
                return NULL;
        for (int k = 0; k < 4; k++) {
                PyObject *n = PyLong_FromUnsignedLong(v[k]);

                if (!n) {
                        Py_DECREF(s);
                        return NULL;
                }
                PyStructSequence_SET_ITEM(s, k, n);
        }
        return s;
}

typedef struct Connection {
        PyObject_HEAD
        sigbroker *sb;
        unsigned long owner;    /* thread inside a call, while depth > 0 */
        int depth;
        PyObject *handlers[SIGBROKER_SIGNO_MAX + 1];
        bool oneshot[SIGBROKER_SIGNO_MAX + 1];
        PyObject *weakrefs;
} Connection;

/* Every method on an open connection starts with this and ends with
 * conn_leave(). */
static int conn_enter(Connection *self) {
        unsigned long me = PyThread_get_thread_ident();

        if (!self->sb) {
                PyErr_SetString(PyExc_ValueError, "operation on a closed sigbroker connection");
                return -1;
        }
        if (self->depth > 0 && self->owner != me) {
                PyErr_SetString(PyExc_RuntimeError,
                                "the sigbroker connection is in use by another thread; use one per thread");
                return -1;
        }
        self->owner = me;
        self->depth++;
        return 0;
}

static void conn_leave(Connection *self) {
        self->depth--;
}

static int conn_init(Connection *self, PyObject *args, PyObject *kwds) {
        static char *kwlist[] = { "path", "window", NULL };
        PyObject *path_obj = Py_None, *path_bytes = NULL;
        const char *path = NULL;
        unsigned int window = 0;
        sigbroker *sb = NULL;
        int r;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "|OI:Connection", kwlist, &path_obj, &window))
                return -1;
        if (self->sb) {
                PyErr_SetString(PyExc_RuntimeError, "already connected");
                return -1;
        }
        if (path_obj != Py_None) {
                if (!PyUnicode_FSConverter(path_obj, &path_bytes))
                        return -1;
                path = PyBytes_AS_STRING(path_bytes);
        }
        Py_BEGIN_ALLOW_THREADS
        r = sigbroker_connect_with(path, window, &sb);
        Py_END_ALLOW_THREADS
        Py_XDECREF(path_bytes);
        if (r < 0) {
                set_error(r);
                return -1;
        }
        self->sb = sb;
        return 0;
}

static int conn_traverse(Connection *self, visitproc visit, void *arg) {
        for (int i = 0; i <= SIGBROKER_SIGNO_MAX; i++)
                Py_VISIT(self->handlers[i]);
        return 0;
}

static int conn_clear(Connection *self) {
        for (int i = 0; i <= SIGBROKER_SIGNO_MAX; i++) {
                Py_CLEAR(self->handlers[i]);
                self->oneshot[i] = false;
        }
        return 0;
}

static void conn_dealloc(Connection *self) {
        PyObject_GC_UnTrack(self);
        if (self->weakrefs)
                PyObject_ClearWeakRefs((PyObject *) self);
        self->sb = sigbroker_close(self->sb);
        conn_clear(self);
        Py_TYPE(self)->tp_free((PyObject *) self);
}

static PyObject *conn_close(Connection *self, PyObject *unused) {
        if (self->depth > 0) {
                PyErr_SetString(PyExc_RuntimeError, "cannot close a sigbroker connection while it is in use");
                return NULL;
        }
        self->sb = sigbroker_close(self->sb);
        conn_clear(self);
        Py_RETURN_NONE;
}

static PyObject *conn_enter_ctx(Connection *self, PyObject *unused) {
        if (!self->sb) {
                PyErr_SetString(PyExc_ValueError, "operation on a closed sigbroker connection");
                return NULL;
        }
        return Py_NewRef(self);
}

static PyObject *conn_exit_ctx(Connection *self, PyObject *args) {
        PyObject *r = conn_close(self, NULL);

        if (!r)
                return NULL;
        Py_DECREF(r);
        Py_RETURN_FALSE;
}

static PyObject *conn_fileno(Connection *self, PyObject *unused) {
        int fd;

        if (conn_enter(self) < 0)
                return NULL;
        fd = sigbroker_get_fd(self->sb);
        conn_leave(self);
        return PyLong_FromLong(fd);
}

static PyObject *conn_events(Connection *self, PyObject *unused) {
        int ev;

        if (conn_enter(self) < 0)
                return NULL;
        ev = sigbroker_get_events(self->sb);
        conn_leave(self);
        return PyLong_FromLong(ev);
}

/* target: any object with a `_target` attribute (kind, id, group name or
 * None), as the target classes of the package have. */
static int target_converter(PyObject *o, sigbroker_target *ret, PyObject **ret_name) {
        PyObject *t = PyObject_GetAttrString(o, "_target");
        PyObject *name = NULL;
        unsigned long long id;
        int kind;

        if (!t) {
                PyErr_Clear();
                PyErr_Format(PyExc_TypeError,
                             "the target is Pid(), Pgid(), Sid(), Group(), Client() or Broadcast(), not %.100s",
                             Py_TYPE(o)->tp_name);
                return -1;
        }
        if (!PyArg_ParseTuple(t, "iKO:target", &kind, &id, &name)) {
                Py_DECREF(t);
                return -1;
        }
        *ret = (sigbroker_target) { .kind = kind, .id = id };
        if (name != Py_None) {
                if (!PyUnicode_Check(name)) {
                        Py_DECREF(t);
                        PyErr_SetString(PyExc_TypeError, "a group name is a str");
                        return -1;
                }
                ret->group = PyUnicode_AsUTF8(name);
                if (!ret->group) {
                        Py_DECREF(t);
                        return -1;
                }
        }
        *ret_name = t;          /* keeps the name's UTF-8 alive */
        return 0;
}

static PyObject *conn_send(Connection *self, PyObject *args, PyObject *kwds) {
        static char *kwlist[] = { "target", "signal", "payload", "priority", NULL };
        PyObject *target_obj, *signal_obj, *keep = NULL, *result;
        Py_buffer payload = {};
        sigbroker_target target;
        sigbroker_send_result res = {};
        int priority = 0, signo, r;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|y*i:send", kwlist, &target_obj, &signal_obj, &payload,
                                         &priority))
                return NULL;
        if (signal_converter(signal_obj, &signo, true) < 0 || target_converter(target_obj, &target, &keep) < 0) {
                PyBuffer_Release(&payload);
                return NULL;
        }
        if (priority < 0 || priority > SIGBROKER_PRIORITY_MAX) {
                PyErr_Format(PyExc_ValueError, "priority is 0..%d", SIGBROKER_PRIORITY_MAX);
                goto fail;
        }
        if (conn_enter(self) < 0)
                goto fail;
        Py_BEGIN_ALLOW_THREADS
        r = sigbroker_send(self->sb, &target, signo, priority, payload.buf, (size_t) payload.len, &res);
        Py_END_ALLOW_THREADS
        conn_leave(self);
        PyBuffer_Release(&payload);
        Py_DECREF(keep);

        result = send_result_new(&res);
        if (!result || r >= 0)
                return result;
        /* The exception carries the counts too: e.result.denied... */
        set_error(r);
        {
                PyObject *type, *value, *tb;

                PyErr_Fetch(&type, &value, &tb);
                PyErr_NormalizeException(&type, &value, &tb);
                if (value)
                        (void) PyObject_SetAttrString(value, "result", result);
                PyErr_Restore(type, value, tb);
        }
        Py_DECREF(result);
        return NULL;
fail:
        PyBuffer_Release(&payload);
        Py_XDECREF(keep);
        return NULL;
}

static PyObject *conn_subscribe_common(Connection *self, PyObject *args, PyObject *kwds, bool subscribe) {
        static char *kwlist[] = { "drop_oldest", NULL };
        PyObject *empty = NULL, *seq;
        uint64_t mask;
        int drop_oldest = 0, r;

        if (kwds) {
                empty = PyTuple_New(0);
                if (!empty)
                        return NULL;
                r = subscribe ? PyArg_ParseTupleAndKeywords(empty, kwds, "|$p:subscribe", kwlist, &drop_oldest)
                              : PyArg_ParseTupleAndKeywords(empty, kwds, ":unsubscribe", kwlist + 1);
                Py_DECREF(empty);
                if (!r)
                        return NULL;
        }
        seq = PySequence_Fast(args, "signals");
        if (!seq)
                return NULL;
        r = signals_to_mask(seq, &mask);
        Py_DECREF(seq);
        if (r < 0)
                return NULL;
        if (mask == 0) {
                PyErr_SetString(PyExc_TypeError, "no signal given");
                return NULL;
        }
        if (conn_enter(self) < 0)
                return NULL;
        Py_BEGIN_ALLOW_THREADS
        r = subscribe ? sigbroker_subscribe(self->sb, mask, drop_oldest ? SIGBROKER_SUBSCRIBE_DROP_OLDEST : 0)
                      : sigbroker_unsubscribe(self->sb, mask);
        Py_END_ALLOW_THREADS
        conn_leave(self);
        if (r < 0)
                return set_error(r);
        Py_RETURN_NONE;
}

static PyObject *conn_subscribe(Connection *self, PyObject *args, PyObject *kwds) {
        return conn_subscribe_common(self, args, kwds, true);
}

static PyObject *conn_unsubscribe(Connection *self, PyObject *args, PyObject *kwds) {
        return conn_subscribe_common(self, args, kwds, false);
}

static PyObject *conn_group_common(Connection *self, PyObject *arg, bool join) {
        const char *name;
        int r;

        if (!PyUnicode_Check(arg)) {
                PyErr_SetString(PyExc_TypeError, "a group name is a str");
                return NULL;
        }
        name = PyUnicode_AsUTF8(arg);
        if (!name)
                return NULL;
        if (conn_enter(self) < 0)
                return NULL;
        Py_BEGIN_ALLOW_THREADS
        r = join ? sigbroker_join(self->sb, name) : sigbroker_leave(self->sb, name);
        Py_END_ALLOW_THREADS
        conn_leave(self);
        if (r < 0)
                return set_error(r);
        Py_RETURN_NONE;
}

static PyObject *conn_join(Connection *self, PyObject *arg) {
        return conn_group_common(self, arg, true);
}

static PyObject *conn_leave_group(Connection *self, PyObject *arg) {
        return conn_group_common(self, arg, false);
}

static PyObject *conn_sigmask_common(Connection *self, int how, PyObject *signals) {
        PyObject *seq = PySequence_Fast(signals, "signals");
        uint64_t mask, old = 0;
        int r;

        if (!seq)
                return NULL;
        r = signals_to_mask(seq, &mask);
        Py_DECREF(seq);
        if (r < 0 || conn_enter(self) < 0)
                return NULL;
        Py_BEGIN_ALLOW_THREADS
        r = sigbroker_block(self->sb, how, mask, &old);
        Py_END_ALLOW_THREADS
        conn_leave(self);
        if (r < 0)
                return set_error(r);
        return mask_to_frozenset(old);
}

static PyObject *conn_block(Connection *self, PyObject *args) {
        return conn_sigmask_common(self, SIG_BLOCK, args);
}

static PyObject *conn_unblock(Connection *self, PyObject *args) {
        return conn_sigmask_common(self, SIG_UNBLOCK, args);
}

static PyObject *conn_sigmask(Connection *self, PyObject *args) {
        PyObject *signals;
        int how;

        if (!PyArg_ParseTuple(args, "iO:sigmask", &how, &signals))
                return NULL;
        if (how != SIG_BLOCK && how != SIG_UNBLOCK && how != SIG_SETMASK) {
                PyErr_SetString(PyExc_ValueError, "how is signal.SIG_BLOCK, SIG_UNBLOCK or SIG_SETMASK");
                return NULL;
        }
        return conn_sigmask_common(self, how, signals);
}

static int64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* timeout: None waits for ever, seconds otherwise (0 polls). A signal that
 * interrupts the wait runs its Python handler; if that raises, so does
 * wait(), otherwise the wait goes on for what is left (PEP 475). */
static PyObject *conn_wait(Connection *self, PyObject *args, PyObject *kwds) {
        static char *kwlist[] = { "timeout", NULL };
        PyObject *timeout_obj = Py_None;
        sigbroker_info info;
        int64_t timeout = -1, deadline = 0;
        int r;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:wait", kwlist, &timeout_obj))
                return NULL;
        if (timeout_obj != Py_None) {
                double t = PyFloat_AsDouble(timeout_obj);

                if (t == -1.0 && PyErr_Occurred())
                        return NULL;
                if (!isfinite(t) || t < 0 || t > 1e9) {
                        PyErr_SetString(PyExc_ValueError, "timeout is None or 0..1e9 seconds");
                        return NULL;
                }
                timeout = (int64_t) (t * 1e6);
                deadline = now_usec() + timeout;
        }
        if (conn_enter(self) < 0)
                return NULL;
        for (;;) {
                Py_BEGIN_ALLOW_THREADS
                r = sigbroker_wait(self->sb, timeout, &info);
                Py_END_ALLOW_THREADS
                if (r != -EINTR)
                        break;
                if (PyErr_CheckSignals() < 0) {
                        conn_leave(self);
                        return NULL;
                }
                if (timeout > 0) {
                        timeout = deadline - now_usec();
                        if (timeout < 0)
                                timeout = 0;
                }
        }
        if (r == -EAGAIN) {
                conn_leave(self);
                Py_RETURN_NONE;
        }
        if (r < 0) {
                conn_leave(self);
                return set_error(r);
        }
        /* The payload is the handle's until the next call: copied now. */
        {
                PyObject *s = signal_new(&info);

                conn_leave(self);
                return s;
        }
}

static int handler_trampoline(sigbroker *sb, const sigbroker_info *info, void *userdata) {
        Connection *self = userdata;
        PyObject *fn = self->handlers[info->signo], *sig, *res;

        if (!fn)
                return 0;
        /* The library has dropped a oneshot handler: its reference is ours
         * to drop after the call. */
        if (self->oneshot[info->signo]) {
                self->handlers[info->signo] = NULL;
                self->oneshot[info->signo] = false;
        } else
                Py_INCREF(fn);
        sig = signal_new(info);
        res = sig ? PyObject_CallOneArg(fn, sig) : NULL;
        Py_XDECREF(sig);
        Py_DECREF(fn);
        if (!res)
                return -ECANCELED;      /* stops the dispatch; the exception is raised */
        Py_DECREF(res);
        return 0;
}

/* A handler (called with a Signal) per signal number, run by dispatch().
 * A oneshot handler is dropped after its first call. */
static PyObject *conn_set_handler(Connection *self, PyObject *args, PyObject *kwds) {
        static char *kwlist[] = { "signal", "handler", "oneshot", NULL };
        PyObject *signal_obj, *fn;
        int oneshot = 0, signo, r;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|$p:set_handler", kwlist, &signal_obj, &fn, &oneshot))
                return NULL;
        if (signal_converter(signal_obj, &signo, false) < 0)
                return NULL;
        if (fn != Py_None && !PyCallable_Check(fn)) {
                PyErr_SetString(PyExc_TypeError, "the handler must be callable or None");
                return NULL;
        }
        if (conn_enter(self) < 0)
                return NULL;
        r = sigbroker_set_handler(self->sb, signo, fn == Py_None ? NULL : handler_trampoline, self,
                                  oneshot ? SIGBROKER_HANDLER_ONESHOT : 0);
        conn_leave(self);
        if (r < 0)
                return set_error(r);
        Py_XSETREF(self->handlers[signo], fn == Py_None ? NULL : Py_NewRef(fn));
        self->oneshot[signo] = oneshot && fn != Py_None;
        Py_RETURN_NONE;
}

static PyObject *conn_dispatch(Connection *self, PyObject *unused) {
        int r;

        if (conn_enter(self) < 0)
                return NULL;
        /* Never blocks: the GIL stays, handlers are Python code. */
        r = sigbroker_dispatch(self->sb);
        conn_leave(self);
        if (PyErr_Occurred())
                return NULL;
        if (r < 0)
                return set_error(r);
        return PyLong_FromLong(r);
}

static PyObject *conn_get_closed(Connection *self, void *unused) {
        return PyBool_FromLong(self->sb == NULL);
}

static PyObject *conn_get_client_id(Connection *self, void *unused) {
        uint64_t id;
        int r;

        if (conn_enter(self) < 0)
                return NULL;
        r = sigbroker_get_client_id(self->sb, &id);
        conn_leave(self);
        return r < 0 ? set_error(r) : PyLong_FromUnsignedLongLong(id);
}

/* (pid, uid, gid) as the daemon saw them when we connected. */
static PyObject *conn_get_identity(Connection *self, void *unused) {
        pid_t pid;
        uid_t uid;
        gid_t gid;
        int r;

        if (conn_enter(self) < 0)
                return NULL;
        r = sigbroker_get_identity(self->sb, &pid, &uid, &gid);
        conn_leave(self);
        return r < 0 ? set_error(r) : Py_BuildValue("(ikk)", (int) pid, (unsigned long) uid, (unsigned long) gid);
}

/* (max_payload, max_queue) of the daemon. */
static PyObject *conn_get_limits(Connection *self, void *unused) {
        size_t max_payload;
        unsigned max_queue;
        int r;

        if (conn_enter(self) < 0)
                return NULL;
        r = sigbroker_get_limits(self->sb, &max_payload, &max_queue);
        conn_leave(self);
        return r < 0 ? set_error(r) : Py_BuildValue("(nI)", (Py_ssize_t) max_payload, max_queue);
}

static PyObject *conn_get_window(Connection *self, void *unused) {
        unsigned window;
        int r;

        if (conn_enter(self) < 0)
                return NULL;
        r = sigbroker_get_window(self->sb, &window);
        conn_leave(self);
        return r < 0 ? set_error(r) : PyLong_FromUnsignedLong(window);
}

static int conn_set_window(Connection *self, PyObject *value, void *unused) {
        unsigned long w;
        int r;

        if (!value) {
                PyErr_SetString(PyExc_AttributeError, "the window cannot be deleted");
                return -1;
        }
        w = PyLong_AsUnsignedLong(value);
        if (w == (unsigned long) -1 && PyErr_Occurred())
                return -1;
        if (w == 0 || w > UINT32_MAX) {
                PyErr_SetString(PyExc_ValueError, "the window is 1..4294967295");
                return -1;
        }
        if (conn_enter(self) < 0)
                return -1;
        Py_BEGIN_ALLOW_THREADS
        r = sigbroker_set_window(self->sb, (unsigned) w);
        Py_END_ALLOW_THREADS
        conn_leave(self);
        if (r < 0) {
                set_error(r);
                return -1;
        }
        return 0;
}

/* Why the daemon hung up, (errno, text), or None if it did not say. */
static PyObject *conn_disconnect_reason(Connection *self, PyObject *unused) {
        const char *text;
        int error, r;

        if (conn_enter(self) < 0)
                return NULL;
        r = sigbroker_get_disconnect_reason(self->sb, &error, &text);
        conn_leave(self);
        if (r == -ENODATA)
                Py_RETURN_NONE;
        return r < 0 ? set_error(r) : Py_BuildValue("(is)", error, text);
}

static PyObject *conn_repr(Connection *self) {
        uint64_t id;

        if (!self->sb || sigbroker_get_client_id(self->sb, &id) < 0)
                return PyUnicode_FromFormat("<%s closed>", Py_TYPE(self)->tp_name);
        return PyUnicode_FromFormat("<%s client_id=%llu fd=%d>", Py_TYPE(self)->tp_name, (unsigned long long) id,
                                    sigbroker_get_fd(self->sb));
}

static PyMethodDef conn_methods[] = {
        { "close", (PyCFunction) conn_close, METH_NOARGS, "Close the connection (idempotent)." },
        { "__enter__", (PyCFunction) conn_enter_ctx, METH_NOARGS, NULL },
        { "__exit__", (PyCFunction) conn_exit_ctx, METH_VARARGS, NULL },
        { "fileno", (PyCFunction) conn_fileno, METH_NOARGS, "The socket, to poll for events()." },
        { "events", (PyCFunction) conn_events, METH_NOARGS,
          "The poll events to wait for (select.POLLIN, POLLOUT); ask after every call." },
        { "send", (PyCFunction) (void (*)(void)) conn_send, METH_VARARGS | METH_KEYWORDS,
          "send(target, signal, payload=b'', priority=0) -> SendResult" },
        { "subscribe", (PyCFunction) (void (*)(void)) conn_subscribe, METH_VARARGS | METH_KEYWORDS,
          "subscribe(*signals, drop_oldest=False)" },
        { "unsubscribe", (PyCFunction) (void (*)(void)) conn_unsubscribe, METH_VARARGS | METH_KEYWORDS,
          "unsubscribe(*signals)" },
        { "join", (PyCFunction) conn_join, METH_O, "join(group): join a named group" },
        { "leave", (PyCFunction) conn_leave_group, METH_O, "leave(group): leave a named group" },
        { "block", (PyCFunction) conn_block, METH_VARARGS, "block(*signals) -> the set blocked before" },
        { "unblock", (PyCFunction) conn_unblock, METH_VARARGS, "unblock(*signals) -> the set blocked before" },
        { "sigmask", (PyCFunction) conn_sigmask, METH_VARARGS,
          "sigmask(how, signals) -> the set blocked before; how: signal.SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK" },
        { "wait", (PyCFunction) (void (*)(void)) conn_wait, METH_VARARGS | METH_KEYWORDS,
          "wait(timeout=None) -> Signal, or None when the timeout passed" },
        { "set_handler", (PyCFunction) (void (*)(void)) conn_set_handler, METH_VARARGS | METH_KEYWORDS,
          "set_handler(signal, handler, *, oneshot=False): handler(Signal), run by dispatch()" },
        { "dispatch", (PyCFunction) conn_dispatch, METH_NOARGS,
          "Read what is ready, run the handlers; never blocks. Returns how many ran." },
        { "disconnect_reason", (PyCFunction) conn_disconnect_reason, METH_NOARGS,
          "(errno, text) the daemon gave when it hung up, or None" },
        {},
};

static PyGetSetDef conn_getset[] = {
        { "closed", (getter) conn_get_closed, NULL, "True once closed", NULL },
        { "client_id", (getter) conn_get_client_id, NULL, "this client's id at the daemon", NULL },
        { "identity", (getter) conn_get_identity, NULL, "(pid, uid, gid) the daemon saw", NULL },
        { "limits", (getter) conn_get_limits, NULL, "(max_payload, max_queue) of the daemon", NULL },
        { "window", (getter) conn_get_window, (setter) conn_set_window, "the flow-control window", NULL },
        {},
};

static PyTypeObject ConnectionType = {
        PyVarObject_HEAD_INIT(NULL, 0)
        .tp_name = "sigbroker._sigbroker.Connection",
        .tp_doc = "Connection(path=None, window=0): a client of sigbrokerd.",
        .tp_basicsize = sizeof(Connection),
        .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
        .tp_new = PyType_GenericNew,
        .tp_init = (initproc) conn_init,
        .tp_dealloc = (destructor) conn_dealloc,
        .tp_traverse = (traverseproc) conn_traverse,
        .tp_clear = (inquiry) conn_clear,
        .tp_repr = (reprfunc) conn_repr,
        .tp_weaklistoffset = offsetof(Connection, weakrefs),
        .tp_methods = conn_methods,
        .tp_getset = conn_getset,
};

static PyObject *mod_signal_number(PyObject *mod, PyObject *arg) {
        int signo;

        if (signal_converter(arg, &signo, true) < 0)
                return NULL;
        return PyLong_FromLong(signo);
}

static PyObject *mod_signal_name(PyObject *mod, PyObject *arg) {
        char buf[16];
        int signo;

        if (signal_converter(arg, &signo, false) < 0)
                return NULL;
        return PyUnicode_FromString(signal_to_name(signo, buf));
}

static PyObject *mod_socket_path(PyObject *mod, PyObject *args) {
        PyObject *path_obj = Py_None, *path_bytes = NULL, *ret;
        char *path = NULL;
        int r;

        if (!PyArg_ParseTuple(args, "|O:socket_path", &path_obj))
                return NULL;
        if (path_obj != Py_None && !PyUnicode_FSConverter(path_obj, &path_bytes))
                return NULL;
        r = sigbroker_socket_path(path_bytes ? PyBytes_AS_STRING(path_bytes) : NULL, &path);
        Py_XDECREF(path_bytes);
        if (r < 0)
                return set_error(r);
        ret = PyUnicode_DecodeFSDefault(path);
        free(path);
        return ret;
}

static PyMethodDef module_methods[] = {
        { "signal_number", mod_signal_number, METH_O,
          "signal_number(signal) -> int: 10 for 'USR1', 'SIGUSR1', signal.SIGUSR1 or 10" },
        { "signal_name", mod_signal_name, METH_O, "signal_name(signal) -> str: 'RTMIN+1' for 35" },
        { "socket_path", mod_socket_path, METH_VARARGS, "socket_path(path=None) -> the socket connect() would use" },
        {},
};

static struct PyModuleDef module_def = {
        PyModuleDef_HEAD_INIT,
        .m_name = "sigbroker._sigbroker",
        .m_doc = "libsigbroker for Python; use the sigbroker package.",
        .m_size = -1,
        .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__sigbroker(void);
PyMODINIT_FUNC PyInit__sigbroker(void) {
        PyObject *m;

        if (PyType_Ready(&ConnectionType) < 0)
                return NULL;
        if (!SignalType.tp_name && PyStructSequence_InitType2(&SignalType, &signal_desc) < 0)
                return NULL;
        if (!SendResultType.tp_name && PyStructSequence_InitType2(&SendResultType, &send_result_desc) < 0)
                return NULL;
        m = PyModule_Create(&module_def);
        if (!m)
                return NULL;
        if (PyModule_AddType(m, &ConnectionType) < 0 || PyModule_AddType(m, &SignalType) < 0 ||
            PyModule_AddType(m, &SendResultType) < 0 ||
            PyModule_AddIntConstant(m, "SIGNO_MAX", SIGBROKER_SIGNO_MAX) < 0 ||
            PyModule_AddIntConstant(m, "PRIORITY_MAX", SIGBROKER_PRIORITY_MAX) < 0 ||
            PyModule_AddIntConstant(m, "TARGET_PID", SIGBROKER_TARGET_PID) < 0 ||
            PyModule_AddIntConstant(m, "TARGET_PGID", SIGBROKER_TARGET_PGID) < 0 ||
            PyModule_AddIntConstant(m, "TARGET_SID", SIGBROKER_TARGET_SID) < 0 ||
            PyModule_AddIntConstant(m, "TARGET_GROUP", SIGBROKER_TARGET_GROUP) < 0 ||
            PyModule_AddIntConstant(m, "TARGET_CLIENT", SIGBROKER_TARGET_CLIENT) < 0 ||
            PyModule_AddIntConstant(m, "TARGET_BROADCAST", SIGBROKER_TARGET_BROADCAST) < 0) {
                Py_DECREF(m);
                return NULL;
        }
        return m;
}
