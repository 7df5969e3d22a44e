"""cffi builder for the bpfmaps C shim (out-of-line API mode).

Builds ``bpfmaps._ffi`` from ``bpfmaps/_shim.c`` (the bpf(2) commands) and
``bpfmaps/_native/scan.c`` (the batch-file scanner), ``bpfmaps/_sync.c``.  Each source has a header of the
same name that holds only plain prototypes and structs; those headers are the cdef,
after ``_native/ops.h`` (the op record both use), which is fed once, first.

Run directly (``python build_ffi.py``) to build in place for development; pip runs it
through setup.py's ``cffi_modules``.
"""

from __future__ import annotations

import os
import re

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.join(HERE, "bpfmaps")
SOURCES = ["_shim.c", "_native/scan.c", "_sync.c", "_ring.c", "_stop.c"]
#: headers shared by several sources: cdef first, once
SHARED = ["_native/ops.h"]


def _cdef_text(header: str) -> str:
    with open(os.path.join(PKG, header)) as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


ffibuilder = FFI()
_sources = [s for s in SOURCES if os.path.exists(os.path.join(PKG, s))]
for _hdr in SHARED + [s[:-2] + ".h" for s in _sources]:
    ffibuilder.cdef(_cdef_text(_hdr))

ffibuilder.set_source(
    "bpfmaps._ffi",
    "\n".join(f'#include "{h}"' for h in SHARED + [s[:-2] + ".h" for s in _sources]),
    sources=[os.path.relpath(os.path.join(PKG, s), HERE) for s in _sources],
    include_dirs=[PKG],
    extra_compile_args=["-O2", "-std=gnu11", "-Wall", "-Wno-unused-function"],
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=HERE, verbose=False)
