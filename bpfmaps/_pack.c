/* bpfmaps._pack: packing Python bytes into kernel-layout buffers without a Python
 * frame per element (CPython C API, stable ABI 3.9: the wheel is cp39-abi3).
 *
 * cffi cannot take a Python list or a bytes object's length, so the two per-element
 * paths of the typed API that handle Python objects live here instead:
 *
 *   pack(seq, size[, start, stop])
 *                              the concatenation of seq[start:stop] (a list/tuple) when
 *                              each is an exact bytes object of `size` bytes, or None
 *                              when any is not (the caller then takes its reporting path)
 *   Packer(key_size, value_size, spill)
 *                              growable packed buffers: append(k, v) copies an
 *                              exact-bytes key/value pair of those sizes; any other
 *                              pair is handed to spill(k, v) (the caller's slow path),
 *                              in order; take() -> (keys, values, n) as bytearrays.
 *
 * Nothing here issues a syscall.
 */
#define Py_LIMITED_API 0x03090000
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <structmember.h>
#include <string.h>
#include <errno.h>
#include <stdint.h>
#ifdef __linux__
#include <sys/mman.h>
#include <unistd.h>
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif
#endif

/* Bumped with every change of what this module offers: bpfmaps.codecs refuses a build
 * with another ABI (a stale in-place build) with an ImportError naming the fix.
 * BPFM_PACK_SRC_SHA256 (set by build_ffi.pack_extension) is the hash of this file, so
 * tests/batch/test_packer.py can tell any stale build from a current one. */
#define BPFM_PACK_ABI 6
#ifndef BPFM_PACK_SRC_SHA256
#define BPFM_PACK_SRC_SHA256 "unknown"
#endif

/* Where a bytes object's data starts, from the object's address: measured at import
 * (PyBytes_AsString of one bytes object), the same for every exact bytes object of the
 * running interpreter; the stable ABI keeps the layout opaque, so it is not a constant
 * here.  Saves a call into libpython per key and per value in b[k] = v (~2 ns each). */
static Py_ssize_t bytes_data_off;

static inline const char *bytes_data(PyObject *o)
{
    return (const char *)o + bytes_data_off;
}

static inline int exact_bytes(PyObject *o, Py_ssize_t size)
{
    /* Py_SIZE (stable ABI) is a bytes object's length: no PyBytes_Size call */
    return Py_TYPE(o) == &PyBytes_Type && Py_SIZE(o) == size;
}

/* memcpy of n bytes with the common key/value sizes as constants, so that the compiler
 * copies them inline (a call per element otherwise: ~2 ns each in b[k] = v) */
static inline void copy_n(char *dst, const char *src, Py_ssize_t n)
{
    switch (n) {
    case 4: memcpy(dst, src, 4); return;
    case 8: memcpy(dst, src, 8); return;
    case 16: memcpy(dst, src, 16); return;
    case 32: memcpy(dst, src, 32); return;
    case 64: memcpy(dst, src, 64); return;
    default: memcpy(dst, src, (size_t)n);
    }
}

/* The end of every type's dealloc here: tp_free, then the reference each instance holds
 * on its heap type. */
static void free_instance(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    freefunc f = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    f(op);
    Py_DECREF(tp);
}

static PyObject *pack(PyObject *mod, PyObject *args)
{
    PyObject *seq;
    Py_ssize_t size, start = 0, stop = PY_SSIZE_T_MAX;
    (void)mod;
    if (!PyArg_ParseTuple(args, "On|nn:pack", &seq, &size, &start, &stop))
        return NULL;
    int is_list = PyList_Check(seq);
    if (!is_list && !PyTuple_Check(seq)) {
        PyErr_SetString(PyExc_TypeError, "pack: a list or tuple is needed");
        return NULL;
    }
    if (size < 0 || start < 0 || stop < start) {
        PyErr_SetString(PyExc_ValueError, "pack: size and start must be >= 0, stop >= start");
        return NULL;
    }
    Py_ssize_t len = is_list ? PyList_Size(seq) : PyTuple_Size(seq);
    if (stop > len)
        stop = len;
    if (start > stop)
        start = stop;
    Py_ssize_t n = stop - start;
    if (size && n > PY_SSIZE_T_MAX / size)
        return PyErr_NoMemory();
    /* the first element decides cheaply whether the copy is worth starting */
    if (n && !exact_bytes(is_list ? PyList_GetItem(seq, start) : PyTuple_GetItem(seq, start), size))
        Py_RETURN_NONE;
    PyObject *out = PyBytes_FromStringAndSize(NULL, n * size);
    if (out == NULL)
        return NULL;
    char *p = PyBytes_AsString(out);
    /* one pass: check and copy (each object is read once); the list may not change
     * meanwhile: no Python code runs in this loop */
    for (Py_ssize_t i = start; i < stop; i++, p += size) {
        PyObject *o = is_list ? PyList_GetItem(seq, i) : PyTuple_GetItem(seq, i);
        if (!exact_bytes(o, size)) {
            Py_DECREF(out);
            Py_RETURN_NONE;
        }
        memcpy(p, bytes_data(o), (size_t)size);
    }
    return out;
}

/* ------------------------------------------------------------------ PackBuf
 * Packed key and value buffers that grow by blocks, the state Packer and BatchBase
 * share (one implementation of growing, copying an exact-bytes pair, taking and
 * dropping).  Blocks of `bmax` pairs (the batch's chunk size, 8192 by default), the
 * first `bmax` pairs in blocks that double from 1024 (1024, 1024, 2048, 4096 for
 * 8192), so that every later block starts at a multiple of bmax: a chunk of the flush
 * is one block.  Blocks are never reallocated: one growing buffer is copied at each
 * doubling whenever the C allocator serves it from its heap (glibc does so below
 * 32 MiB once the process has freed a block that big, as most long-running programs
 * have: about 10 ms of a 1M-pair batch), and its fresh pages fault one by one during
 * the copy. */

#define FIRST_BLOCK 1024
#define DEFAULT_BLOCK 8192
/* a block's value bytes from which it is faulted in at once */
#define POPULATE_MIN (64 * 1024)

typedef struct {
    Py_ssize_t ks, vs, n; /* pair sizes; pairs packed */
    Py_ssize_t bmax;      /* pairs of a full block (> 0) */
    Py_ssize_t left;      /* pairs the current (last) block still takes */
    PyObject *kbl, *vbl;  /* lists of bytearray blocks (keys, values), the last current */
    char *kp, *vp;        /* where the next pair goes in the current blocks */
} PackBuf;

/* Fresh empty buffers of the current sizes; -1 with an exception. */
static int buf_fresh(PackBuf *b)
{
    PyObject *kbl = PyList_New(0);
    PyObject *vbl = kbl ? PyList_New(0) : NULL;
    if (vbl == NULL) {
        Py_XDECREF(kbl);
        return -1;
    }
    Py_XDECREF(b->kbl);
    Py_XDECREF(b->vbl);
    b->kbl = kbl;
    b->vbl = vbl;
    b->kp = b->vp = NULL;
    b->n = b->left = 0;
    return 0;
}

/* Release the buffers (no packing state left). */
static void buf_drop(PackBuf *b)
{
    Py_CLEAR(b->kbl);
    Py_CLEAR(b->vbl);
    b->kp = b->vp = NULL;
    b->n = b->left = 0;
}

/* Fault in [p, p + len) writable now (MADV_POPULATE_WRITE, Linux 5.14): one call
 * instead of a page fault per 4 KiB page as the pairs are copied (about 0.9 against 1.3
 * us a page here).  Errors are ignored (an older kernel, another OS: the pages then
 * fault as they are written); the call changes no byte. */
static void populate(char *p, Py_ssize_t len)
{
#ifdef __linux__
    static int unsupported;
    long pg = sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)(pg - 1);
    if (unsupported || len <= 0 || pg <= 0)
        return;
    if (madvise((void *)a, (size_t)((uintptr_t)p + (size_t)len - a), MADV_POPULATE_WRITE) < 0 &&
        errno == EINVAL)
        unsupported = 1;
#else
    (void)p;
    (void)len;
#endif
}

/* Append a bytearray of `size` bytes to `list`; its data, or NULL with an exception. */
static char *new_block(PyObject *list, Py_ssize_t size)
{
    PyObject *blk = PyByteArray_FromStringAndSize(NULL, size);
    if (blk == NULL)
        return NULL;
    int rc = PyList_Append(list, blk);
    Py_DECREF(blk);
    return rc < 0 ? NULL : PyByteArray_AsString(blk);
}

/* The next pair's blocks (called when the current ones are full).  A block of at
 * least POPULATE_MIN bytes is faulted in at once (one call each for keys and values). */
static int buf_block(PackBuf *b)
{
    Py_ssize_t pairs = b->bmax;
    if (b->n < b->bmax) {
        pairs = b->n < FIRST_BLOCK ? FIRST_BLOCK : b->n;
        if (pairs > b->bmax - b->n)
            pairs = b->bmax - b->n;
    }
    if (pairs > PY_SSIZE_T_MAX / (b->ks + b->vs + 1))
        return PyErr_NoMemory(), -1;
    char *kp = new_block(b->kbl, pairs * b->ks);
    if (kp == NULL)
        return -1;
    char *vp = new_block(b->vbl, pairs * b->vs);
    if (vp == NULL) {
        /* keep the two lists the same length */
        Py_ssize_t nb = PyList_Size(b->kbl);
        PyList_SetSlice(b->kbl, nb - 1, nb, NULL);
        return -1;
    }
    if (pairs * (b->ks + b->vs) >= POPULATE_MIN) {
        populate(kp, pairs * b->ks);
        populate(vp, pairs * b->vs);
    }
    b->kp = kp;
    b->vp = vp;
    b->left = pairs;
    return 0;
}

/* Copy one pair; -1 with an exception (growth failed), 0 appended, 1 not exact bytes. */
static inline int buf_put(PackBuf *b, PyObject *k, PyObject *v)
{
    if (!exact_bytes(k, b->ks) || !exact_bytes(v, b->vs))
        return 1;
    if (b->left == 0 && buf_block(b) < 0)
        return -1;
    copy_n(b->kp, bytes_data(k), b->ks);
    copy_n(b->vp, bytes_data(v), b->vs);
    b->kp += b->ks;
    b->vp += b->vs;
    b->left--;
    b->n++;
    return 0;
}

/* Cut the current blocks to what they hold; -1 with an exception. */
static int buf_trim(PackBuf *b)
{
    Py_ssize_t nb = PyList_Size(b->kbl);
    if (nb == 0 || b->left == 0)
        return 0;
    PyObject *kb = PyList_GetItem(b->kbl, nb - 1), *vb = PyList_GetItem(b->vbl, nb - 1);
    Py_ssize_t kn = PyByteArray_Size(kb) - b->left * b->ks;
    Py_ssize_t vn = PyByteArray_Size(vb) - b->left * b->vs;
    if (PyByteArray_Resize(kb, kn) < 0 || PyByteArray_Resize(vb, vn) < 0)
        return -1;
    b->left = 0;
    return 0;
}

/* (key blocks, value blocks, n): lists of bytearrays (the pairs in order, block after
 * block, the last cut to what it holds); the buffer starts empty again. */
static PyObject *buf_take(PackBuf *b)
{
    if (buf_trim(b) < 0)
        return NULL;
    PyObject *out = Py_BuildValue("OOn", b->kbl, b->vbl, b->n);
    if (out == NULL || buf_fresh(b) < 0) {
        Py_XDECREF(out);
        return NULL;
    }
    return out;
}

/* (keys, values, n) as two bytearrays: the blocks joined (Packer.take). */
static PyObject *buf_take_joined(PackBuf *b)
{
    PyObject *t = buf_take(b);
    if (t == NULL)
        return NULL;
    PyObject *empty = PyByteArray_FromStringAndSize(NULL, 0), *kb = NULL, *vb = NULL, *out = NULL;
    if (empty != NULL) {
        PyObject *join = PyObject_GetAttrString(empty, "join");
        if (join != NULL) {
            kb = PyObject_CallFunctionObjArgs(join, PyTuple_GetItem(t, 0), NULL);
            vb = kb ? PyObject_CallFunctionObjArgs(join, PyTuple_GetItem(t, 1), NULL) : NULL;
            Py_DECREF(join);
        }
        Py_DECREF(empty);
    }
    if (vb != NULL)
        out = Py_BuildValue("OOO", kb, vb, PyTuple_GetItem(t, 2));
    Py_XDECREF(kb);
    Py_XDECREF(vb);
    Py_DECREF(t);
    return out;
}

/* ------------------------------------------------------------------ Packer */

typedef struct {
    PyObject_HEAD
    PackBuf buf;
    PyObject *spill;
} Packer;

static int packer_init(PyObject *op, PyObject *args, PyObject *kw)
{
    Packer *self = (Packer *)op;
    Py_ssize_t ks, vs;
    PyObject *spill;
    static char *names[] = {"key_size", "value_size", "spill", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kw, "nnO:Packer", names, &ks, &vs, &spill))
        return -1;
    if (ks <= 0 || vs < 0) {
        PyErr_SetString(PyExc_ValueError, "Packer: key_size must be > 0, value_size >= 0");
        return -1;
    }
    if (!PyCallable_Check(spill)) {
        PyErr_SetString(PyExc_TypeError, "Packer: spill must be callable");
        return -1;
    }
    self->buf.ks = ks;
    self->buf.vs = vs;
    self->buf.bmax = DEFAULT_BLOCK;
    Py_INCREF(spill);
    Py_XDECREF(self->spill);
    self->spill = spill;
    return buf_fresh(&self->buf);
}

static PyObject *packer_append(PyObject *op, PyObject *args)
{
    Packer *self = (Packer *)op;
    if (PyTuple_Size(args) != 2) {
        PyErr_SetString(PyExc_TypeError, "append(key, value) takes 2 arguments");
        return NULL;
    }
    PyObject *k = PyTuple_GetItem(args, 0), *v = PyTuple_GetItem(args, 1);
    int rc = buf_put(&self->buf, k, v);
    if (rc < 0)
        return NULL;
    if (rc == 0)
        Py_RETURN_NONE;
    return PyObject_CallFunctionObjArgs(self->spill, k, v, NULL);
}

static PyObject *packer_take(PyObject *op, PyObject *unused)
{
    (void)unused;
    return buf_take_joined(&((Packer *)op)->buf);
}

static Py_ssize_t packer_len(PyObject *op)
{
    return ((Packer *)op)->buf.n;
}

static int packer_traverse(PyObject *op, visitproc visit, void *arg)
{
    Packer *self = (Packer *)op;
    Py_VISIT(self->spill);
    return 0;
}

static int packer_clear(PyObject *op)
{
    Packer *self = (Packer *)op;
    Py_CLEAR(self->spill);
    return 0;
}

static void packer_dealloc(PyObject *op)
{
    Packer *self = (Packer *)op;
    PyObject_GC_UnTrack(op);
    packer_clear(op);
    buf_drop(&self->buf);
    free_instance(op);
}

static PyMethodDef packer_methods[] = {
    {"append", packer_append, METH_VARARGS,
     "append(key, value): copy an exact-bytes pair of the sizes, else spill(key, value)"},
    {"take", packer_take, METH_NOARGS,
     "take() -> (keys, values, n): the packed bytearrays so far; the Packer starts empty"},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot packer_slots[] = {
    {Py_tp_doc, "Packer(key_size, value_size, spill): growable packed key/value buffers"},
    {Py_tp_init, packer_init},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_dealloc, packer_dealloc},
    {Py_tp_traverse, packer_traverse},
    {Py_tp_clear, packer_clear},
    {Py_tp_methods, packer_methods},
    {Py_sq_length, packer_len},
    {0, NULL},
};

static PyType_Spec packer_spec = {
    "bpfmaps._pack.Packer",
    sizeof(Packer),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    packer_slots,
};

/* ------------------------------------------------------------------ BatchBase
 * The base of bpfmaps.batching.MapBatch.  Its mapping slot takes ``b[k] = v`` straight
 * from the interpreter's STORE_SUBSCR (no method lookup, no argument tuple, no Python
 * frame): while packing (a raw map), an exact-bytes pair of the sizes is copied into
 * growable packed buffers; any other pair goes to ``self._spill(k, v)`` (Python: it
 * moves what was packed to the lists and stops packing).  Not packing, the pair is
 * appended to the ``_keys`` and ``_vals`` lists.  ``del b[k]`` calls ``self.delete(k)``.
 * A Python subclass that defines ``__setitem__`` itself gets the ordinary slot. */

typedef struct {
    PyObject_HEAD
    PackBuf buf;
    int packing;
    PyObject *keys, *vals; /* the lists (members _keys and _vals) */
} BatchBase;

static PyObject *str_spill, *str_delete;

static PyObject *bb_new(PyTypeObject *tp, PyObject *args, PyObject *kw)
{
    (void)args;
    (void)kw;
    allocfunc alloc = (allocfunc)PyType_GetSlot(tp, Py_tp_alloc);
    BatchBase *self = (BatchBase *)alloc(tp, 0);
    if (self == NULL)
        return NULL;
    self->keys = PyList_New(0);
    self->vals = PyList_New(0);
    if (self->keys == NULL || self->vals == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

/* Buffer one upsert: 0 done, -1 with an exception. */
static int bb_put(BatchBase *self, PyObject *k, PyObject *v)
{
    if (self->packing) {
        int rc = buf_put(&self->buf, k, v);
        if (rc <= 0)
            return rc;
        PyObject *r = PyObject_CallMethodObjArgs((PyObject *)self, str_spill, k, v, NULL);
        Py_XDECREF(r);
        return r == NULL ? -1 : 0;
    }
    if (PyList_Append(self->keys, k) < 0)
        return -1;
    if (PyList_Append(self->vals, v) < 0) {
        /* keep the two lists the same length */
        Py_ssize_t n = PyList_Size(self->keys);
        PyList_SetSlice(self->keys, n - 1, n, NULL);
        return -1;
    }
    return 0;
}

static int bb_ass_subscript(PyObject *op, PyObject *k, PyObject *v)
{
    if (v == NULL) {
        PyObject *r = PyObject_CallMethodObjArgs(op, str_delete, k, NULL);
        Py_XDECREF(r);
        return r == NULL ? -1 : 0;
    }
    return bb_put((BatchBase *)op, k, v);
}

static PyObject *bb_pk_open(PyObject *op, PyObject *args)
{
    BatchBase *self = (BatchBase *)op;
    Py_ssize_t ks, vs, block = DEFAULT_BLOCK;
    if (!PyArg_ParseTuple(args, "nn|n:_pk_open", &ks, &vs, &block))
        return NULL;
    if (ks <= 0 || vs < 0 || block <= 0) {
        PyErr_SetString(PyExc_ValueError,
                        "_pk_open: key_size and block must be > 0, value_size >= 0");
        return NULL;
    }
    self->buf.ks = ks;
    self->buf.vs = vs;
    self->buf.bmax = block;
    if (buf_fresh(&self->buf) < 0)
        return NULL;
    self->packing = 1;
    Py_RETURN_NONE;
}

static PyObject *bb_pk_take(PyObject *op, PyObject *unused)
{
    BatchBase *self = (BatchBase *)op;
    (void)unused;
    if (!self->packing) {
        PyErr_SetString(PyExc_RuntimeError, "_pk_take: the batch is not packing");
        return NULL;
    }
    return buf_take(&self->buf);
}

static PyObject *bb_pk_close(PyObject *op, PyObject *unused)
{
    BatchBase *self = (BatchBase *)op;
    (void)unused;
    self->packing = 0;
    buf_drop(&self->buf);
    Py_RETURN_NONE;
}

static PyObject *bb_pk_append(PyObject *op, PyObject *args)
{
    if (PyTuple_Size(args) != 2) {
        PyErr_SetString(PyExc_TypeError, "_pk_append(key, value) takes 2 arguments");
        return NULL;
    }
    if (bb_put((BatchBase *)op, PyTuple_GetItem(args, 0), PyTuple_GetItem(args, 1)) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *bb_get_packing(PyObject *op, void *closure)
{
    (void)closure;
    return PyBool_FromLong(((BatchBase *)op)->packing);
}

static PyObject *bb_get_n(PyObject *op, void *closure)
{
    (void)closure;
    return PyLong_FromSsize_t(((BatchBase *)op)->buf.n);
}

/* _keys / _vals: settable, must stay lists (the C slot appends to them) */
static PyObject *bb_get_list(PyObject *op, void *closure)
{
    BatchBase *self = (BatchBase *)op;
    PyObject *l = closure ? self->vals : self->keys;
    Py_INCREF(l);
    return l;
}

static int bb_set_list(PyObject *op, PyObject *value, void *closure)
{
    BatchBase *self = (BatchBase *)op;
    if (value == NULL || !PyList_Check(value)) {
        PyErr_SetString(PyExc_TypeError, "_keys and _vals must be lists");
        return -1;
    }
    PyObject **slot = closure ? &self->vals : &self->keys, *old = *slot;
    Py_INCREF(value);
    *slot = value;
    Py_XDECREF(old);
    return 0;
}

static int bb_traverse(PyObject *op, visitproc visit, void *arg)
{
    BatchBase *self = (BatchBase *)op;
    Py_VISIT(self->keys);
    Py_VISIT(self->vals);
    return 0;
}

static int bb_clear(PyObject *op)
{
    BatchBase *self = (BatchBase *)op;
    Py_CLEAR(self->keys);
    Py_CLEAR(self->vals);
    return 0;
}

static void bb_dealloc(PyObject *op)
{
    BatchBase *self = (BatchBase *)op;
    PyObject_GC_UnTrack(op);
    bb_clear(op);
    buf_drop(&self->buf);
    free_instance(op);
}

static PyMethodDef bb_methods[] = {
    {"_pk_open", bb_pk_open, METH_VARARGS,
     "_pk_open(key_size, value_size, block=8192): pack exact-bytes pairs of these sizes "
     "from now on, in blocks of `block` pairs (the flush's chunk size)"},
    {"_pk_take", bb_pk_take, METH_NOARGS,
     "_pk_take() -> (key blocks, value blocks, n): lists of the packed bytearrays so far, "
     "in order; packing goes on, empty"},
    {"_pk_close", bb_pk_close, METH_NOARGS,
     "_pk_close(): stop packing (drops the packed buffers: _pk_take them first)"},
    {"_pk_append", bb_pk_append, METH_VARARGS,
     "_pk_append(key, value): what b[key] = value does (pack, spill, or the lists)"},
    {NULL, NULL, 0, NULL},
};

static char s_keys[] = "_keys", s_vals[] = "_vals", s_packing[] = "_packing", s_n[] = "_pk_n";
static PyGetSetDef bb_getset[] = {
    {s_keys, bb_get_list, bb_set_list, NULL, NULL},
    {s_vals, bb_get_list, bb_set_list, NULL, (void *)1},
    {s_packing, bb_get_packing, NULL, NULL, NULL},
    {s_n, bb_get_n, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot bb_slots[] = {
    {Py_tp_doc, "BatchBase: b[k] = v buffered in C (the base of bpfmaps.batching.MapBatch)"},
    {Py_tp_new, bb_new},
    {Py_tp_dealloc, bb_dealloc},
    {Py_tp_traverse, bb_traverse},
    {Py_tp_clear, bb_clear},
    {Py_tp_methods, bb_methods},
    {Py_tp_getset, bb_getset},
    {Py_mp_ass_subscript, bb_ass_subscript},
    {0, NULL},
};

static PyType_Spec bb_spec = {
    "bpfmaps._pack.BatchBase",
    sizeof(BatchBase),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    bb_slots,
};

/* ------------------------------------------------------------------ pairs
 * pairs(keys, values, key_size, value_size, count): an iterator of (key, value) bytes
 * pairs cut from two packed buffers (bytes objects, as a LOOKUP_BATCH chunk comes
 * back), one pair made per step; the result tuple is reused when the consumer kept no
 * reference to it (as zip does). */

typedef struct {
    PyObject_HEAD
    PyObject *kb, *vb, *last;
    const char *kp, *vp;
    Py_ssize_t ks, vs, i, n;
} Pairs;

static PyObject *pairs_new(PyObject *mod, PyObject *args);

/* The pair (kp[0:ks], vp[0:vs]) in *last when the caller's iterator is its only holder
 * (PyTuple_SetItem drops the old items), else in a new tuple kept in *last. */
static PyObject *make_pair(PyObject **last, const char *kp, Py_ssize_t ks, const char *vp,
                           Py_ssize_t vs)
{
    PyObject *k = PyBytes_FromStringAndSize(kp, ks);
    PyObject *v = k ? PyBytes_FromStringAndSize(vp, vs) : NULL;
    if (v == NULL) {
        Py_XDECREF(k);
        return NULL;
    }
    PyObject *t = *last;
    if (t == NULL || Py_REFCNT(t) != 1) {
        t = PyTuple_New(2);
        if (t == NULL) {
            Py_DECREF(k);
            Py_DECREF(v);
            return NULL;
        }
        Py_XDECREF(*last);
        *last = t;
    }
    PyTuple_SetItem(t, 0, k);
    PyTuple_SetItem(t, 1, v);
    Py_INCREF(t);
    return t;
}

static PyObject *pairs_next(PyObject *op)
{
    Pairs *self = (Pairs *)op;
    if (self->i >= self->n)
        return NULL;
    Py_ssize_t i = self->i++;
    return make_pair(&self->last, self->kp + i * self->ks, self->ks, self->vp + i * self->vs,
                     self->vs);
}

static PyObject *pairs_iter(PyObject *op)
{
    Py_INCREF(op);
    return op;
}

static void pairs_dealloc(PyObject *op)
{
    Pairs *self = (Pairs *)op;
    Py_CLEAR(self->kb);
    Py_CLEAR(self->vb);
    Py_CLEAR(self->last);
    free_instance(op);
}

static PyType_Slot pairs_slots[] = {
    {Py_tp_doc, "iterator of (key, value) bytes pairs over two packed buffers"},
    {Py_tp_iter, pairs_iter},
    {Py_tp_iternext, pairs_next},
    {Py_tp_dealloc, pairs_dealloc},
    {0, NULL},
};

/* no GC: it holds only bytes objects and a tuple of bytes (no cycle can go through it) */
static PyType_Spec pairs_spec = {
    "bpfmaps._pack.Pairs",
    sizeof(Pairs),
    0,
    Py_TPFLAGS_DEFAULT,
    pairs_slots,
};

static PyObject *pairs_type;

static PyObject *pairs_new(PyObject *mod, PyObject *args)
{
    PyObject *kb, *vb;
    Py_ssize_t ks, vs, n;
    (void)mod;
    if (!PyArg_ParseTuple(args, "SSnnn:pairs", &kb, &vb, &ks, &vs, &n))
        return NULL;
    if (ks < 0 || vs < 0 || n < 0 || (ks && n > PyBytes_Size(kb) / ks) ||
        (vs && n > PyBytes_Size(vb) / vs)) {
        PyErr_SetString(PyExc_ValueError, "pairs: sizes must be >= 0 and the buffers hold count");
        return NULL;
    }
    allocfunc alloc = (allocfunc)PyType_GetSlot((PyTypeObject *)pairs_type, Py_tp_alloc);
    Pairs *self = (Pairs *)alloc((PyTypeObject *)pairs_type, 0);
    if (self == NULL)
        return NULL;
    Py_INCREF(kb);
    Py_INCREF(vb);
    self->kb = kb;
    self->vb = vb;
    self->kp = PyBytes_AsString(kb);
    self->vp = PyBytes_AsString(vb);
    self->ks = ks;
    self->vs = vs;
    self->i = 0;
    self->n = n;
    self->last = NULL;
    return (PyObject *)self;
}

/* ------------------------------------------------------------------ chunk_items
 * chunk_items(chunks, key_size, value_size, values_only): one iterator over every
 * chunk of a whole-map read (Map.items() / values() on raw codecs).  ``chunks`` yields
 * (keys bytes, values bytes, count), as bpfmaps.dump.dump_chunks does; each step cuts
 * the next pair (or value) from the current chunk and pulls the next chunk only when
 * this one is spent: no Python frame and no chain between the consumer and the pair.
 * The result tuple is reused when the consumer kept no reference to it (as in pairs). */

typedef struct {
    PyObject_HEAD
    PyObject *src; /* the chunk iterator; NULL once exhausted or failed */
    PyObject *kb, *vb, *last;
    const char *kp, *vp;
    Py_ssize_t ks, vs, i, n;
    int values_only;
} ChunkItems;

static PyObject *chunk_items_type;

/* Take the next non-empty chunk: 1 taken, 0 the source is spent, -1 with an exception. */
static int ci_refill(ChunkItems *self)
{
    while (self->src != NULL) {
        PyObject *t = PyIter_Next(self->src);
        if (t == NULL) {
            Py_CLEAR(self->src);
            return PyErr_Occurred() ? -1 : 0;
        }
        PyObject *kb, *vb;
        Py_ssize_t n;
        if (!PyTuple_Check(t) || !PyArg_ParseTuple(t, "SSn:chunk_items", &kb, &vb, &n)) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "chunk_items: each chunk must be (bytes, bytes, int)");
            Py_DECREF(t);
            Py_CLEAR(self->src);
            return -1;
        }
        if (n < 0 || (self->ks && n > PyBytes_Size(kb) / self->ks) ||
            (self->vs && n > PyBytes_Size(vb) / self->vs)) {
            PyErr_SetString(PyExc_ValueError, "chunk_items: a chunk holds fewer pairs than its count");
            Py_DECREF(t);
            Py_CLEAR(self->src);
            return -1;
        }
        PyObject *okb = self->kb, *ovb = self->vb;
        Py_INCREF(kb);
        Py_INCREF(vb);
        self->kb = kb;
        self->vb = vb;
        Py_XDECREF(okb);
        Py_XDECREF(ovb);
        Py_DECREF(t);
        self->kp = PyBytes_AsString(kb);
        self->vp = PyBytes_AsString(vb);
        self->i = 0;
        self->n = n;
        if (n)
            return 1;
    }
    return 0;
}

static PyObject *ci_next(PyObject *op)
{
    ChunkItems *self = (ChunkItems *)op;
    if (self->i >= self->n) {
        int rc = ci_refill(self);
        if (rc <= 0) {
            Py_CLEAR(self->kb);
            Py_CLEAR(self->vb);
            self->kp = self->vp = NULL;
            self->i = self->n = 0;
            return NULL; /* StopIteration, or the source's exception */
        }
    }
    Py_ssize_t i = self->i++;
    if (self->values_only)
        return PyBytes_FromStringAndSize(self->vp + i * self->vs, self->vs);
    return make_pair(&self->last, self->kp + i * self->ks, self->ks, self->vp + i * self->vs,
                     self->vs);
}

static int ci_traverse(PyObject *op, visitproc visit, void *arg)
{
    Py_VISIT(((ChunkItems *)op)->src);
    return 0;
}

static int ci_clear(PyObject *op)
{
    Py_CLEAR(((ChunkItems *)op)->src);
    return 0;
}

static void ci_dealloc(PyObject *op)
{
    ChunkItems *self = (ChunkItems *)op;
    PyObject_GC_UnTrack(op);
    ci_clear(op);
    Py_CLEAR(self->kb);
    Py_CLEAR(self->vb);
    Py_CLEAR(self->last);
    free_instance(op);
}

static PyType_Slot ci_slots[] = {
    {Py_tp_doc, "iterator of (key, value) bytes pairs (or values) over a whole-map read's chunks"},
    {Py_tp_iter, pairs_iter},
    {Py_tp_iternext, ci_next},
    {Py_tp_dealloc, ci_dealloc},
    {Py_tp_traverse, ci_traverse},
    {Py_tp_clear, ci_clear},
    {0, NULL},
};

static PyType_Spec ci_spec = {
    "bpfmaps._pack.ChunkItems",
    sizeof(ChunkItems),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    ci_slots,
};

static PyObject *chunk_items_new(PyObject *mod, PyObject *args)
{
    PyObject *chunks;
    Py_ssize_t ks, vs;
    int values_only = 0;
    (void)mod;
    if (!PyArg_ParseTuple(args, "Onn|p:chunk_items", &chunks, &ks, &vs, &values_only))
        return NULL;
    if (ks < 0 || vs < 0) {
        PyErr_SetString(PyExc_ValueError, "chunk_items: sizes must be >= 0");
        return NULL;
    }
    PyObject *src = PyObject_GetIter(chunks);
    if (src == NULL)
        return NULL;
    allocfunc alloc = (allocfunc)PyType_GetSlot((PyTypeObject *)chunk_items_type, Py_tp_alloc);
    ChunkItems *self = (ChunkItems *)alloc((PyTypeObject *)chunk_items_type, 0);
    if (self == NULL) {
        Py_DECREF(src);
        return NULL;
    }
    self->src = src;
    self->ks = ks;
    self->vs = vs;
    self->values_only = values_only;
    return (PyObject *)self;
}

/* ------------------------------------------------------------------ ElemBase
 * The C base of bpfmaps._core.MapCore: m[k] = v without a Python frame when k and v
 * are exact bytes objects of the map's raw key and value sizes (_rk, _rv; -1 when a
 * codec must run): rc = _h.update_elem(_h.fd, k, v, 0), the backend's own command (the
 * kernel's cffi call, or a fake's).  rc != 0 -> self._set_failed(rc, k), which raises.
 * Everything else (codecs, other objects or sizes, del m[k]) calls the Python methods
 * self._set_slow(k, v) / self._del(k). */

typedef struct {
    PyObject_HEAD
    PyObject *h;
    Py_ssize_t rk, rv;
} ElemBase;

static PyObject *str_update_elem, *str_fd, *str_set_slow, *str_set_failed, *str_del, *int_zero;

static int eb_ass_subscript(PyObject *op, PyObject *key, PyObject *value)
{
    ElemBase *self = (ElemBase *)op;
    PyObject *r;

    if (value == NULL) {
        r = PyObject_CallMethodObjArgs(op, str_del, key, NULL);
    } else if (self->h != NULL && self->rk >= 0 && exact_bytes(key, self->rk) &&
               exact_bytes(value, self->rv)) {
        PyObject *h = self->h;
        Py_INCREF(h); /* the call may run Python code that replaces self->h */
        PyObject *upd = PyObject_GetAttr(h, str_update_elem);
        PyObject *fd = upd ? PyObject_GetAttr(h, str_fd) : NULL;
        Py_DECREF(h);
        r = fd ? PyObject_CallFunctionObjArgs(upd, fd, key, value, int_zero, NULL) : NULL;
        Py_XDECREF(fd);
        Py_XDECREF(upd);
        if (r == NULL)
            return -1;
        long rc = PyLong_AsLong(r);
        Py_DECREF(r);
        if (rc == 0)
            return 0;
        if (rc == -1 && PyErr_Occurred())
            return -1;
        PyObject *code = PyLong_FromLong(rc);
        if (code == NULL)
            return -1;
        r = PyObject_CallMethodObjArgs(op, str_set_failed, code, key, NULL);
        Py_DECREF(code);
    } else {
        r = PyObject_CallMethodObjArgs(op, str_set_slow, key, value, NULL);
    }
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

static int eb_traverse(PyObject *op, visitproc visit, void *arg)
{
    Py_VISIT(((ElemBase *)op)->h);
    Py_VISIT(Py_TYPE(op)); /* heap type */
    return 0;
}

static int eb_clear(PyObject *op)
{
    Py_CLEAR(((ElemBase *)op)->h);
    return 0;
}

static void eb_dealloc(PyObject *op)
{
    PyObject_GC_UnTrack(op);
    eb_clear(op);
    free_instance(op);
}

static PyMemberDef eb_members[] = {
    {"_h", T_OBJECT_EX, offsetof(ElemBase, h), 0, "the map's handle (bpfmaps._handle._Handle)"},
    {"_rk", T_PYSSIZET, offsetof(ElemBase, rk), 0, "raw key size, -1: a codec must run"},
    {"_rv", T_PYSSIZET, offsetof(ElemBase, rv), 0, "raw value size, -1: a codec must run"},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot eb_slots[] = {
    {Py_tp_doc, "ElemBase: m[k] = v of raw bytes in C (the base of bpfmaps._core.MapCore)"},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_dealloc, eb_dealloc},
    {Py_tp_traverse, eb_traverse},
    {Py_tp_clear, eb_clear},
    {Py_tp_members, eb_members},
    {Py_mp_ass_subscript, eb_ass_subscript},
    {0, NULL},
};

static PyType_Spec eb_spec = {
    "bpfmaps._pack.ElemBase",
    sizeof(ElemBase),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    eb_slots,
};

static PyMethodDef module_methods[] = {
    {"chunk_items", chunk_items_new, METH_VARARGS,
     "chunk_items(chunks, key_size, value_size, values_only=False) -> iterator of (key, "
     "value) bytes pairs (or values) over (keys, values, count) chunks, pulled as needed"},
    {"pairs", pairs_new, METH_VARARGS,
     "pairs(keys, values, key_size, value_size, count) -> iterator of (key, value) bytes "
     "pairs cut from two packed bytes buffers"},
    {"pack", pack, METH_VARARGS,
     "pack(seq, size[, start, stop]) -> bytes or None: the concatenation of seq[start:stop] "
     "(a list or tuple) when each is an exact bytes object of size bytes; None otherwise"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "bpfmaps._pack", "Packing Python bytes into kernel buffers in C.", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__pack(void)
{
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL)
        return NULL;
    PyObject *probe = PyBytes_FromStringAndSize("probe", 5);
    if (probe == NULL) {
        Py_DECREF(m);
        return NULL;
    }
    bytes_data_off = PyBytes_AsString(probe) - (char *)probe;
    Py_DECREF(probe);
    str_spill = PyUnicode_InternFromString("_spill");
    str_delete = str_spill ? PyUnicode_InternFromString("delete") : NULL;
    if (str_delete == NULL) {
        Py_DECREF(m);
        return NULL;
    }
    PyObject *tp = PyType_FromSpec(&packer_spec);
    if (tp == NULL || PyModule_AddObject(m, "Packer", tp) < 0) {
        Py_XDECREF(tp);
        Py_DECREF(m);
        return NULL;
    }
    pairs_type = PyType_FromSpec(&pairs_spec);
    if (pairs_type == NULL) {
        Py_DECREF(m);
        return NULL;
    }
    chunk_items_type = PyType_FromSpec(&ci_spec);
    if (chunk_items_type == NULL) {
        Py_DECREF(m);
        return NULL;
    }
    tp = PyType_FromSpec(&bb_spec);
    if (tp == NULL || PyModule_AddObject(m, "BatchBase", tp) < 0) {
        Py_XDECREF(tp);
        Py_DECREF(m);
        return NULL;
    }
    str_update_elem = PyUnicode_InternFromString("update_elem");
    str_fd = PyUnicode_InternFromString("fd");
    str_set_slow = PyUnicode_InternFromString("_set_slow");
    str_set_failed = PyUnicode_InternFromString("_set_failed");
    str_del = PyUnicode_InternFromString("_del");
    int_zero = PyLong_FromLong(0);
    if (!str_update_elem || !str_fd || !str_set_slow || !str_set_failed || !str_del || !int_zero) {
        Py_DECREF(m);
        return NULL;
    }
    tp = PyType_FromSpec(&eb_spec);
    if (tp == NULL || PyModule_AddObject(m, "ElemBase", tp) < 0) {
        Py_XDECREF(tp);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "ABI", BPFM_PACK_ABI) < 0 ||
        PyModule_AddStringConstant(m, "SOURCE_SHA256", BPFM_PACK_SRC_SHA256) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
