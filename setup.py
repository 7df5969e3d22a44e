# cffi's setuptools integration still needs setup.py; all metadata is in pyproject.toml.
# The compiled module uses only the stable ABI (cffi builds it with Py_LIMITED_API), so the
# wheel is tagged cp39-abi3: one wheel for every CPython >= 3.9.
from setuptools import setup

setup(
    cffi_modules=["build_ffi.py:ffibuilder"],
    options={"bdist_wheel": {"py_limited_api": "cp39"}},
)
