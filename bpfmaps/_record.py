"""``class X(NamedTuple)`` records without importing typing or collections.

Modules on the ``bpfmaps batch file`` start-up path write their records as usual::

    TYPE_CHECKING = False
    if TYPE_CHECKING:
        from typing import NamedTuple
    else:
        from ._record import NamedTuple

    class MapInfo(NamedTuple):
        id: int
        name: str = ""

Type checkers see :class:`typing.NamedTuple`; at run time the class statement builds the
same kind of tuple subclass here: the fields are the class annotations in order, the
defaults their class-body values; ``_fields``, ``_field_defaults``, ``_make``,
``_replace``, ``_asdict``, ``__getnewargs__`` (pickle, copy), ``__match_args__`` and a
namedtuple-style ``__repr__``; the other names of the class body (methods, properties,
docstring) are kept.  ``__repr__`` and ``_asdict`` read the fields through the class's
accessors, so a class may replace one with a property that converts the stored value.

Cost: importing this module is one small class; each record class costs one
``compile`` of its ``__new__`` (tens of microseconds); instances cost what namedtuple
instances cost.  (``typing`` alone costs about 10 ms of start-up, mostly ``re`` and
``collections``.)
"""

from __future__ import annotations

from _collections import _tuplegetter  # type: ignore[import-not-found]  # (no stub)

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

__all__ = ["NamedTuple"]

_tuple_new = tuple.__new__


def _make(cls: Any, iterable: Any) -> Any:
    result = _tuple_new(cls, iterable)
    if len(result) != len(cls._fields):
        raise TypeError(f"Expected {len(cls._fields)} arguments, got {len(result)}")
    return result


def _replace(self: Any, **kw: Any) -> Any:
    result = self._make([kw.pop(f, v) for f, v in zip(self._fields, self)])
    if kw:
        raise TypeError(f"Got unexpected field names: {list(kw)!r}")
    return result


def _asdict(self: Any) -> dict[str, Any]:
    return {f: getattr(self, f) for f in self._fields}


def _repr(self: Any) -> str:
    inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
    return f"{type(self).__name__}({inner})"


def _getnewargs(self: Any) -> tuple[Any, ...]:
    return tuple(self)


def _build(name: str, ns: dict[str, Any]) -> type:
    fields = tuple(ns.get("__annotations__", {}))
    defaults = [ns[f] for f in fields if f in ns]
    if any(f not in ns for f in fields[len(fields) - len(defaults) :]):
        raise TypeError(f"{name}: a field without a default follows a field with one")
    for f in fields:
        if not f.isidentifier() or f.startswith("_"):
            raise ValueError(f"{name}: field names must be identifiers not starting with _: {f!r}")
    args = ", ".join(fields)
    code = (
        f"def __new__(_cls, {args}):\n    return _tuple_new(_cls, ({args}{',' if fields else ''}))"
    )
    env: dict[str, Any] = {"_tuple_new": _tuple_new, "__builtins__": {}}
    exec(code, env)  # the one way to give __new__ its real signature (as namedtuple does)
    new = env["__new__"]
    new.__defaults__ = tuple(defaults) or None
    new.__annotations__ = dict(ns.get("__annotations__", {}))  # the signature's types
    new.__module__ = ns.get("__module__", new.__module__)
    new.__qualname__ = f"{name}.__new__"
    new.__doc__ = f"Create new instance of {name}({args})"
    body: dict[str, Any] = {
        "__slots__": (),
        "_fields": fields,
        "_field_defaults": dict(zip(fields[len(fields) - len(defaults) :], defaults)),
        "__new__": new,
        "__match_args__": fields,
        "__repr__": _repr,
        "__getnewargs__": _getnewargs,
        "_make": classmethod(_make),
        "_replace": _replace,
        "_asdict": _asdict,
    }
    for i, f in enumerate(fields):
        body[f] = _tuplegetter(i, f"Alias for field number {i}")
    for k, v in ns.items():
        if k not in fields:
            body[k] = v
    return type(name, (tuple,), body)


class _RecordMeta(type):
    def __new__(mcls, name: str, bases: tuple[type, ...], ns: dict[str, Any]) -> Any:
        if not bases:  # NamedTuple itself
            return super().__new__(mcls, name, bases, ns)
        return _build(name, ns)


class NamedTuple(metaclass=_RecordMeta):
    """Base of a record class (see the module docstring); never instantiated itself."""
