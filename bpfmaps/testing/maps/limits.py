"""Size limits of the kernel's map allocators, as the fake's alloc checks use them.

Each constant names the kernel symbol it stands for; the values are those of x86-64
with 4 KiB pages (checked by tests/contract/test_create_limits.py against a real
kernel).  Pure constants: no cost.
"""

from __future__ import annotations

__all__ = [
    "ARRAY_VALUE_SIZE_MAX",
    "HTAB_ELEM_SIZE",
    "KMALLOC_MAX_SIZE",
    "LPM_DATA_SIZE_MAX",
    "LPM_KEY_SIZE_MAX",
    "LPM_KEY_SIZE_MIN",
    "LPM_NODE_SIZE",
    "LPM_VAL_SIZE_MAX",
    "LRU_LOCAL_FREE_TARGET",
    "LRU_PERCPU_FREE_TARGET",
    "PAGE_SIZE",
    "PCPU_MIN_UNIT_SIZE",
]

PAGE_SIZE = 4096
KMALLOC_MAX_SIZE = 1 << 22  # 4 MiB with 4 KiB pages and MAX_PAGE_ORDER 10
PCPU_MIN_UNIT_SIZE = 32 << 10
#: sizeof(struct htab_elem) on x86-64: key_size + value_size >= KMALLOC_MAX_SIZE - 48 is E2BIG
HTAB_ELEM_SIZE = 48
#: array_map_alloc_check: value_size above INT_MAX is E2BIG (arrays are vmalloc'ed, so
#: values far above KMALLOC_MAX_SIZE are fine; per-CPU arrays are bound by the unit size)
ARRAY_VALUE_SIZE_MAX = (1 << 31) - 1
#: sizeof(struct lpm_trie_node) as measured on Linux 6.18 (kernels whose node still has an
#: rcu_head allow 24 bytes less)
LPM_NODE_SIZE = 24
LPM_DATA_SIZE_MAX = 256
LPM_KEY_SIZE_MIN = 4 + 1
LPM_KEY_SIZE_MAX = 4 + LPM_DATA_SIZE_MAX
LPM_VAL_SIZE_MAX = KMALLOC_MAX_SIZE - LPM_DATA_SIZE_MAX - LPM_NODE_SIZE
#: LOCAL_FREE_TARGET / PERCPU_FREE_TARGET of kernel/bpf/bpf_lru_list.c
LRU_LOCAL_FREE_TARGET = 128
LRU_PERCPU_FREE_TARGET = 4
