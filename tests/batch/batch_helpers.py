"""Key/value builders shared by the batch tests."""

from __future__ import annotations


def k8(i: int) -> bytes:
    return i.to_bytes(8, "little")


def v32(i: int) -> bytes:
    return (i % 251).to_bytes(1, "little") * 31 + (i // 251 % 256).to_bytes(1, "little")
