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

Cost: importing this module is two small classes; each record class is one ``type()``
call (no ``compile``: its ``__new__`` is a closure over the fields, and
``__signature__`` is made on first read, so :func:`inspect.signature` shows the
fields); instances made with every field positionally cost what namedtuple instances
cost, with keywords or defaults a few microseconds more (Python binds them).  (``typing`` alone costs about 10 ms of start-up, mostly ``re`` and
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


def _bind(new: Any, fields: tuple[str, ...], defaults: tuple[Any, ...], args: Any, kw: Any) -> Any:
    """The field values of a call ``new(cls, *args, **kw)`` bound as Python binds the
    arguments of ``def __new__(_cls, <fields with their defaults>)``, with its
    TypeErrors (what the compiled ``__new__`` of ``collections.namedtuple`` raises)."""
    n, where = len(fields), f"{new.__qualname__}()"
    first = n - len(defaults)
    for f in kw:
        if f not in fields:
            raise TypeError(f"{where} got an unexpected keyword argument '{f}'")
        if fields.index(f) < len(args):
            raise TypeError(f"{where} got multiple values for argument '{f}'")
    if len(args) > n:
        takes = f"from {first + 1} to {n + 1}" if defaults else f"{n + 1}"
        raise TypeError(
            f"{where} takes {takes} positional arguments but {len(args) + 1} were given"
        )
    values = list(args)
    missing = []
    for i in range(len(args), n):
        f = fields[i]
        if f in kw:
            values.append(kw[f])
        elif i >= first:
            values.append(defaults[i - first])
        else:
            missing.append(f)
    if missing:
        names = " and ".join(", ".join(repr(m) for m in missing).rsplit(", ", 1))
        s = "s" if len(missing) > 1 else ""
        raise TypeError(f"{where} missing {len(missing)} required positional argument{s}: {names}")
    return values


def _new_of(fields: tuple[str, ...], defaults: tuple[Any, ...]) -> Any:
    """The ``__new__`` of a record: a closure, not a compiled ``def`` (a ``compile`` per
    record class costs about as much as importing a small module: start-up); all the
    fields positionally is the fast path."""
    n = len(fields)

    def __new__(_cls: Any, *args: Any, **kw: Any) -> Any:
        if len(args) == n and not kw:
            return _tuple_new(_cls, args)
        return _tuple_new(_cls, _bind(__new__, fields, defaults, args, kw))

    return __new__


class _Signature:
    """The class's ``__signature__``, made on first read (what :func:`inspect.signature`
    and the API docs read; ``inspect`` is imported only then): the fields as the
    parameters of ``__new__``, with their defaults and annotations."""

    def __get__(self, obj: Any, cls: Any) -> Any:
        import inspect

        P = inspect.Parameter
        new = cls.__new__
        ann = new.__annotations__
        first = len(cls._fields) - len(cls._field_defaults)
        params = [
            P(
                f,
                P.POSITIONAL_OR_KEYWORD,
                default=cls._field_defaults[f] if i >= first else P.empty,
                annotation=ann.get(f, P.empty),
            )
            for i, f in enumerate(cls._fields)
        ]
        return inspect.Signature(params)


_SIGNATURE = _Signature()


def _build(name: str, ns: dict[str, Any]) -> type:
    fields = tuple(ns.get("__annotations__", {}))
    defaults = [ns[f] for f in fields if f in ns]
    if any(f not in ns for f in fields[len(fields) - len(defaults) :]):
        raise TypeError(f"{name}: a field without a default follows a field with one")
    for f in fields:
        if not f.isidentifier() or f.startswith("_"):
            raise ValueError(f"{name}: field names must be identifiers not starting with _: {f!r}")
    args = ", ".join(fields)
    new = _new_of(fields, tuple(defaults))
    new.__annotations__ = dict(ns.get("__annotations__", {}))  # the signature's types
    new.__module__ = ns.get("__module__", new.__module__)
    new.__qualname__ = f"{name}.__new__"
    new.__doc__ = f"Create new instance of {name}({args})"
    body: dict[str, Any] = {
        "__slots__": (),
        "_fields": fields,
        "_field_defaults": dict(zip(fields[len(fields) - len(defaults) :], defaults)),
        "__new__": new,
        "__signature__": _SIGNATURE,
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
