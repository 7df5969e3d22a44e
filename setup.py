# cffi's setuptools integration still needs setup.py; all metadata is in pyproject.toml.
# The compiled module uses only the stable ABI (cffi builds it with Py_LIMITED_API), so the
# wheel is tagged cp39-abi3: one wheel for every CPython >= 3.9.
# bpfmaps._pack (bpfmaps/_pack.c) is a plain CPython extension, also stable ABI.
import os
import sys

from setuptools import setup

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from build_ffi import pack_extension  # noqa: E402

setup(
    cffi_modules=["build_ffi.py:ffibuilder"],
    ext_modules=[pack_extension(os.path.dirname(os.path.abspath(__file__)))],
    options={"bdist_wheel": {"py_limited_api": "cp39"}},
)
