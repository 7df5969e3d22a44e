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
from .model import __all__ as _model_all
from .model import _lazy as _model_attr  # (the model's __getattr__)
from .model import eager_names as _eager_names
from .parse import elf_btf_section, parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .model import *  # noqa: F403
else:
    # every name of the model but Kind, an enum built on first use (the model's
    # __getattr__, reached through this package's): importing bpfmaps.btf loads
    # neither enum nor typing (see bpfmaps.btf.kinds)
    globals().update(_eager_names())

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


def _lazy(name: str) -> Any:
    """``Kind`` (the package's ``__getattr__``, PEP 562), built on first use."""
    if name == "Kind":
        return globals().setdefault("Kind", _model_attr("Kind"))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if not TYPE_CHECKING:  # (hidden from type checkers: they see the import above)
    __getattr__ = _lazy
