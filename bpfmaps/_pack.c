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
 *                              a growable pair of buffers: append(k, v) copies an
 *                              exact-bytes key/value pair of those sizes; any other
 *                              pair is handed to spill(k, v) (the caller's slow path),
 *                              in order; take() -> (keys, values, n) as bytearrays.
 *
 * Nothing here issues a syscall.
 */
#define Py_LIMITED_API 0x03090000
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

static int exact_bytes(PyObject *o, Py_ssize_t size)
{
    return Py_TYPE(o) == &PyBytes_Type && PyBytes_Size(o) == size;
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
    for (Py_ssize_t i = start; i < stop; i++) {
        PyObject *o = is_list ? PyList_GetItem(seq, i) : PyTuple_GetItem(seq, i);
        if (!exact_bytes(o, size))
            Py_RETURN_NONE;
    }
    if (size && n > PY_SSIZE_T_MAX / size)
        return PyErr_NoMemory();
    PyObject *out = PyBytes_FromStringAndSize(NULL, n * size);
    if (out == NULL)
        return NULL;
    char *p = PyBytes_AsString(out);
    /* the list may not change meanwhile: no Python code runs in this loop */
    for (Py_ssize_t i = start; i < stop; i++, p += size) {
        PyObject *o = is_list ? PyList_GetItem(seq, i) : PyTuple_GetItem(seq, i);
        memcpy(p, PyBytes_AsString(o), (size_t)size);
    }
    return out;
}

typedef struct {
    PyObject_HEAD
    Py_ssize_t ks, vs, n, cap;
    PyObject *kb, *vb; /* bytearrays of cap * ks and cap * vs bytes (the first n used) */
    char *kp, *vp;
    PyObject *spill;
} Packer;

static int packer_fresh(Packer *self)
{
    PyObject *kb = PyByteArray_FromStringAndSize(NULL, 0);
    PyObject *vb = kb ? PyByteArray_FromStringAndSize(NULL, 0) : NULL;
    if (vb == NULL) {
        Py_XDECREF(kb);
        return -1;
    }
    Py_XDECREF(self->kb);
    Py_XDECREF(self->vb);
    self->kb = kb;
    self->vb = vb;
    self->kp = self->vp = NULL;
    self->n = self->cap = 0;
    return 0;
}

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
    self->ks = ks;
    self->vs = vs;
    Py_INCREF(spill);
    Py_XDECREF(self->spill);
    self->spill = spill;
    return packer_fresh(self);
}

static int packer_grow(Packer *self)
{
    Py_ssize_t cap = self->cap ? self->cap * 2 : 1024;
    if (cap > PY_SSIZE_T_MAX / (self->ks + self->vs + 1))
        return PyErr_NoMemory(), -1;
    if (PyByteArray_Resize(self->kb, cap * self->ks) < 0 ||
        PyByteArray_Resize(self->vb, cap * self->vs) < 0)
        return -1;
    self->kp = PyByteArray_AsString(self->kb);
    self->vp = PyByteArray_AsString(self->vb);
    self->cap = cap;
    return 0;
}

/* Copy one pair; -1 with an exception (growth failed), 0 appended, 1 not exact bytes. */
static int packer_put(Packer *self, PyObject *k, PyObject *v)
{
    if (!exact_bytes(k, self->ks) || !exact_bytes(v, self->vs))
        return 1;
    if (self->n == self->cap && packer_grow(self) < 0)
        return -1;
    memcpy(self->kp + self->n * self->ks, PyBytes_AsString(k), (size_t)self->ks);
    memcpy(self->vp + self->n * self->vs, PyBytes_AsString(v), (size_t)self->vs);
    self->n++;
    return 0;
}

static PyObject *packer_append(PyObject *op, PyObject *args)
{
    Packer *self = (Packer *)op;
    if (PyTuple_Size(args) != 2) {
        PyErr_SetString(PyExc_TypeError, "append(key, value) takes 2 arguments");
        return NULL;
    }
    PyObject *k = PyTuple_GetItem(args, 0), *v = PyTuple_GetItem(args, 1);
    int rc = packer_put(self, k, v);
    if (rc < 0)
        return NULL;
    if (rc == 0)
        Py_RETURN_NONE;
    return PyObject_CallFunctionObjArgs(self->spill, k, v, NULL);
}

static PyObject *packer_take(PyObject *op, PyObject *unused)
{
    Packer *self = (Packer *)op;
    (void)unused;
    if (PyByteArray_Resize(self->kb, self->n * self->ks) < 0 ||
        PyByteArray_Resize(self->vb, self->n * self->vs) < 0)
        return NULL;
    PyObject *out = Py_BuildValue("OOn", self->kb, self->vb, self->n);
    if (out == NULL || packer_fresh(self) < 0) {
        Py_XDECREF(out);
        return NULL;
    }
    return out;
}

static Py_ssize_t packer_len(PyObject *op)
{
    return ((Packer *)op)->n;
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
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    packer_clear(op);
    Py_CLEAR(self->kb);
    Py_CLEAR(self->vb);
    freefunc f = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    f(op);
    Py_DECREF(tp);
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

static PyMethodDef module_methods[] = {
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
    PyObject *tp = PyType_FromSpec(&packer_spec);
    if (tp == NULL || PyModule_AddObject(m, "Packer", tp) < 0) {
        Py_XDECREF(tp);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
