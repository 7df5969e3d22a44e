"""cffi builder for the bpfmaps C shim (out-of-line API mode).

Builds ``bpfmaps._ffi`` from ``bpfmaps/_shim.c`` (the bpf(2) commands) and
``bpfmaps/_native/scan.c`` (the batch-file scanner), ``bpfmaps/_native/btffmt.c`` (BTF
output programs), ``bpfmaps/_sync.c``.  Each source has a header of the
same name that holds only plain prototypes and structs; those headers are the cdef,
after ``_native/ops.h`` (the op record both use), which is fed once, first.

Run directly (``python build_ffi.py``) to build in place for development; pip runs it
through setup.py's ``cffi_modules``.  ``python build_ffi.py --stub`` rewrites
``bpfmaps/_ffi.pyi``, the type stub of the compiled module, from the same headers
(tests/core/test_ffi_stub.py checks that it is current).

``bpfmaps/_pack.c`` is a small CPython extension of its own (``bpfmaps._pack``,
stable ABI like the cffi module): cffi can neither take a Python list nor be called as a
method without a Python frame, and those are what the typed API's per-element packing
needs.  :func:`pack_extension` describes it for setup.py and :func:`build_in_place`.
"""

from __future__ import annotations

import os
import re

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.join(HERE, "bpfmaps")
SOURCES = [
    "_shim.c",
    "_native/btffmt.c",  # (before scan.c: scan.h's prototypes take its program)
    "_native/scan.c",
    "_sync.c",
    "_ring.c",
    "_stop.c",
    "_papply.c",
    "_pexec.c",
]
#: headers shared by several sources: cdef first, once
SHARED = ["_native/ops.h"]


def _cdef_text(header: str) -> str:
    with open(os.path.join(PKG, header)) as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


_sources = [s for s in SOURCES if os.path.exists(os.path.join(PKG, s))]


def define(build_dir: str = HERE) -> FFI:
    """The builder, with source paths relative to ``build_dir`` (the directory cffi's
    setuptools run works in)."""
    ffi = FFI()
    for hdr in SHARED + [s[:-2] + ".h" for s in _sources]:
        ffi.cdef(_cdef_text(hdr))
    ffi.set_source(
        "bpfmaps._ffi",
        "\n".join(f'#include "{h}"' for h in SHARED + [s[:-2] + ".h" for s in _sources]),
        sources=[os.path.relpath(os.path.join(PKG, s), build_dir) for s in _sources],
        include_dirs=[PKG],
        extra_compile_args=["-O2", "-std=gnu11", "-Wall", "-Wno-unused-function"],
    )
    return ffi


def pack_extension(build_dir: str = HERE) -> object:
    """The setuptools Extension of ``bpfmaps._pack`` (sources relative to ``build_dir``).
    The module's ``SOURCE_SHA256`` is the hash of the ``_pack.c`` it was built from (a
    test compares it with the file, so a stale build fails the suite)."""
    import hashlib

    from setuptools import Extension

    src = os.path.join(PKG, "_pack.c")
    with open(src, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return Extension(
        "bpfmaps._pack",
        [os.path.relpath(src, build_dir)],
        py_limited_api=True,
        define_macros=[("BPFM_PACK_SRC_SHA256", f'"{digest}"')],
        extra_compile_args=["-O2", "-std=gnu11", "-Wall"],
    )


def _build_pack(out: str) -> str:
    """Compile ``bpfmaps._pack`` into ``out``; the path of the built module."""
    from setuptools import Distribution
    from setuptools.command.build_ext import build_ext

    cmd = build_ext(Distribution({"ext_modules": [pack_extension()]}))
    cmd.build_temp = os.path.join(out, "pack-tmp")
    cmd.build_lib = os.path.join(out, "pack-lib")
    cmd.ensure_finalized()
    cmd.run()
    return cmd.get_ext_fullpath("bpfmaps._pack")


#: what setup.py's ``cffi_modules`` builds (pip/build run it in the checkout's root)
ffibuilder = define()


def build_in_place() -> str:
    """Compile ``bpfmaps/_ffi*.so`` and ``bpfmaps/_pack*.so`` for development.  The build runs in ``build/ffi/``,
    where there is no pyproject.toml: cffi's setuptools run reads the configuration
    files of its working directory, and an older setuptools in a developer's venv
    cannot parse this project's (PEP 639 ``license``, setuptools >= 77).  Returns the
    path of the cffi module, copied into ``bpfmaps/`` (as is the other one)."""
    import shutil

    out = os.path.join(HERE, "build", "ffi")
    os.makedirs(out, exist_ok=True)
    built = [define(out).compile(tmpdir=out, verbose=False), _build_pack(out)]
    for so in built:
        dest = os.path.join(PKG, os.path.basename(so))
        tmp = dest + ".tmp"
        shutil.copyfile(so, tmp)
        os.replace(tmp, dest)  # atomic: a running interpreter keeps its mapping of the old file
    return os.path.join(PKG, os.path.basename(built[0]))


#: C integer types (everything else in a prototype is a pointer, void or an error)
_INTS = {"int", "unsigned int", "int32_t", "uint8_t", "uint32_t", "uint64_t", "int64_t",
         "size_t", "long", "unsigned long"}  # fmt: skip

_STUB_HEAD = '''"""Type stub of the compiled cffi module (generated by ``python build_ffi.py --stub``
from the headers: do not edit).

``lib`` holds the C functions of the cdef with their C signatures as Python types:
C integers are ``int``; a ``char *`` takes ``bytes`` or a cdata (``ffi.from_buffer``,
``ffi.new``, ``ffi.NULL``); other pointers take a cdata (``CData``).  ``ffi`` is the subset of
``cffi.FFI`` this package uses.
"""

from typing import Any, Callable

class _CData:
    """A cffi C object (pointer, array or struct); fields and items are untyped."""

    def __getattr__(self, name: str) -> Any: ...
    def __setattr__(self, name: str, value: Any) -> None: ...
    def __getitem__(self, index: int) -> Any: ...
    def __setitem__(self, index: int, value: Any) -> None: ...
    def __add__(self, offset: int) -> _CData: ...
    def __sub__(self, offset: int) -> _CData: ...
    def __len__(self) -> int: ...
    def __bool__(self) -> bool: ...

class _Buffer:
    """``ffi.buffer``: a buffer-protocol view of C memory."""

    def __getitem__(self, index: slice) -> bytes: ...
    def __setitem__(self, index: slice, value: bytes) -> None: ...
    def __len__(self) -> int: ...
    def __buffer__(self, flags: int) -> memoryview: ...

class _FFI:
    NULL: _CData
    CData: type[_CData]
    def new(self, cdecl: str, init: Any = ...) -> _CData: ...
    def new_allocator(
        self,
        alloc: Any = ...,
        free: Any = ...,
        should_clear_after_alloc: bool = ...,
    ) -> Callable[..., _CData]: ...
    def from_buffer(self, cdecl: Any, python_buffer: Any = ..., require_writable: bool = ...) -> _CData: ...
    def buffer(self, cdata: _CData, size: int = ...) -> _Buffer: ...
    def unpack(self, cdata: _CData, length: int) -> Any: ...
    def string(self, cdata: _CData, maxlen: int = ...) -> bytes: ...
    def gc(self, cdata: _CData, destructor: Callable[[_CData], Any], size: int = ...) -> _CData: ...
    def memmove(self, dest: Any, src: Any, n: int) -> None: ...
    def sizeof(self, cdecl: Any) -> int: ...
    def offsetof(self, cdecl: str, *fields: str) -> int: ...
    def typeof(self, cdecl: Any) -> Any: ...
    def cast(self, cdecl: str, value: Any) -> _CData: ...

ffi: _FFI

CData = _CData  # for annotations only (import it under TYPE_CHECKING): at run time ffi.CData
_Ptr = bytes | _CData

class _Lib:
'''


def _stub_type(node: object, ret: bool = False) -> str:
    """The Python type of one C parameter or result type (pycparser node)."""
    from pycparser import c_ast

    if isinstance(node, c_ast.PtrDecl):
        inner = node.type
        char = isinstance(inner, c_ast.TypeDecl) and getattr(inner.type, "names", None) == ["char"]
        return "_CData" if ret or not char else "_Ptr"
    if isinstance(node, (c_ast.TypeDecl, c_ast.Typename)):
        return _stub_type(node.type, ret)
    if isinstance(node, c_ast.IdentifierType):
        name = " ".join(node.names)
        if name == "void":
            return "None"
        if name in _INTS:
            return "int"
    raise ValueError(f"build_ffi --stub: no Python type for C type {node!r}")


def stub_text() -> str:
    """The text of ``bpfmaps/_ffi.pyi`` for the current headers (functions and enum
    constants of the cdef, in header order)."""
    from pycparser import c_ast, c_parser

    typedefs = "".join(f"typedef int {t};\n" for t in ("int32_t", "uint8_t", "uint32_t",
                                                         "uint64_t", "int64_t", "size_t"))  # fmt: skip
    body = "\n".join(_cdef_text(h) for h in SHARED + [s[:-2] + ".h" for s in _sources])
    ast = c_parser.CParser().parse(typedefs + body)
    consts: list[str] = []
    funcs: list[str] = []
    for decl in ast.ext:
        if isinstance(decl, c_ast.Typedef):
            continue
        if isinstance(decl.type, c_ast.FuncDecl):
            fd = decl.type
            params = []
            for p in fd.args.params if fd.args else []:
                if isinstance(p.type, c_ast.TypeDecl) and getattr(p.type.type, "names", None) == [
                    "void"
                ]:
                    continue
                params.append(f"{p.name}: {_stub_type(p.type)}")
            res = _stub_type(fd.type, ret=True)
            funcs.append(
                f"    def {decl.name}(self, {', '.join(params)}) -> {res}: ...".replace(
                    "(self, )", "(self)"
                )
            )
        elif isinstance(decl.type, c_ast.Enum) and decl.type.values is not None:
            consts.extend(f"    {e.name}: int" for e in decl.type.values.enumerators)
    return _STUB_HEAD + "\n".join(consts + funcs) + "\n\nlib: _Lib\n"


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--stub"]:
        with open(os.path.join(PKG, "_ffi.pyi"), "w") as f:
            f.write(stub_text())
    else:
        build_in_place()
