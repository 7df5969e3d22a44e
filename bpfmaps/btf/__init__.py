"""bpfmaps.btf: BTF (BPF Type Format) parser, type model and loaders, pure Python.

Importing this package never loads the compiled extension; only :func:`load` from
a map or a kernel BTF id talks to a backend.

* :mod:`bpfmaps.btf.model` -- the types (``BTF``, ``Kind``, ``Int``, ``Struct``,
  ``Member``, ... and ``BTFError``); read its docstring for every field.
* :mod:`bpfmaps.btf.parse` -- ``parse(blob, base=None)`` and ``elf_btf_section``.
* :mod:`bpfmaps.btf.load` -- ``load(...)`` from a map, a BTF id, a raw file, an ELF.
* :mod:`bpfmaps.btf.dumper` -- bpftool's BTF-formatted output of map keys and values.
* :mod:`bpfmaps.btf.rawdump` -- ``btf dump ... format raw`` (plain and JSON).
"""

from __future__ import annotations

from .loader import VMLINUX_PATH, load, load_bytes, load_file, load_id, load_map, vmlinux
from .model import *  # noqa: F403
from .model import __all__ as _model_all
from .parse import elf_btf_section, parse

__all__ = [
    *_model_all,
    "VMLINUX_PATH",
    "elf_btf_section",
    "load_bytes",
    "load",
    "load_file",
    "load_id",
    "load_map",
    "parse",
    "vmlinux",
]
