"""Atomic table replacement through a map-in-map.

BPF programs that read a table through an outer map (``array_of_maps`` /
``hash_of_maps``) look the inner map up once per run, then read from it.  Swapping the
outer slot to a new, fully filled inner map is therefore atomic for them: a run sees
either the old table or the new one, never a mix.  :func:`replace`
(``outer.replace(key)``) does that:

    with outer.replace(key) as new:   # a fresh inner map, same spec as the current one
        new.update_many(...)          # fill it (batches included)
    # clean exit: outer[key] = new, one BPF_MAP_UPDATE_ELEM; the old table is released
    # by the kernel once no program run and no fd/pin uses it

On an exception inside the block nothing is swapped and the new map is closed (freed).
See docs/table-replacement.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Optional

from .errors import KeyNotFoundError
from .types import MAP_IN_MAP_TYPES

if TYPE_CHECKING:
    from ._core import MapCore as Map  # any view of a map (a Map is one)

__all__ = ["replace"]


@contextmanager
def replace(
    outer: Map,
    key: Any,
    template: Optional[Any] = None,
    *,
    name: Optional[str] = None,
    key_codec: Any = None,
    value_codec: Any = None,
) -> Iterator[Map]:
    """Fill a new inner map, then swap it into ``outer[key]`` in one UPDATE_ELEM.

    The new map gets the spec (type, key and value size, max_entries, flags, name) of
    the map now in ``outer[key]``, or of ``template`` (a Map, or a dict of
    :meth:`Map.create` arguments: ``type``, ``key_size``, ``value_size``,
    ``max_entries``, optional ``flags``/``name``), needed when the slot is empty.
    Codecs: ``key_codec``/``value_codec``, else the template Map's.

    Cost: one MAP_CREATE (plus, without a template, one lookup and one
    GET_FD_BY_ID/info to read the current spec), your writes, one UPDATE_ELEM.
    Errors: TypeError when ``outer`` is not a map-in-map; KeyNotFoundError when the
    slot is empty and no template is given; the kernel's InvalidArgumentError when
    the new map does not match the outer map's inner template (checked at the swap:
    nothing is swapped, the new map is freed).  Kernel floor 4.12 (map-in-map).
    """
    cls: Any = type(outer)  # the Map class, without importing maps (which imports this module)
    if outer.type not in MAP_IN_MAP_TYPES:
        raise TypeError(f"replace() needs an array_of_maps or hash_of_maps, not {outer!r}")
    be = outer.backend
    kc, vc = key_codec, value_codec
    if template is None:
        try:
            inner_id = outer[key]
        except KeyNotFoundError:
            raise KeyNotFoundError(
                2,
                "replace",
                map=outer.info.describe(),
                key=key,
                hint="the slot holds no map yet: pass template= (a Map or its spec)",
            ) from None
        with cls.from_id(inner_id, backend=be) as cur:
            spec = _spec(cur)
    elif isinstance(template, cls):
        spec = _spec(template)
        kc = kc if kc is not None else template.key_codec
        vc = vc if vc is not None else template.value_codec
    elif isinstance(template, dict):
        spec = dict(template)
        spec.setdefault("flags", 0)
        spec.setdefault("name", None)
    else:
        raise TypeError(f"template must be a Map or a dict of create() arguments, not {template!r}")
    if name is not None:
        spec["name"] = name
    new = cls.create(
        spec["type"],
        spec["key_size"],
        spec["value_size"],
        spec["max_entries"],
        name=spec.get("name"),
        flags=spec.get("flags", 0),
        backend=be,
        key=_plain(kc),
        value=_plain(vc),
    )
    try:
        yield new
        outer[key] = new  # the swap: one BPF_MAP_UPDATE_ELEM
    finally:
        new.close()  # the outer map holds its own reference after a swap


def _spec(m: Map) -> dict[str, Any]:
    i = m.info
    return {
        "type": i.type,
        "key_size": i.key_size,
        "value_size": i.value_size,
        "max_entries": i.max_entries,
        "flags": int(i.flags),
        "name": i.name or None,
    }


def _plain(codec: Any) -> Any:
    """A codec to pass to Map.create (per-CPU wrappers are re-added by Map)."""
    if codec is None:
        return None
    inner = getattr(codec, "inner", None)
    if type(codec).__name__ == "PerCPU" and inner is not None:
        return inner
    return codec
