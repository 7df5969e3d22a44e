# cffi's setuptools integration still needs setup.py; all metadata is in pyproject.toml.
# The compiled module uses only the stable ABI (cffi builds it with Py_LIMITED_API), so the
# wheel is tagged cp39-abi3: one wheel for every CPython >= 3.9.
# bpfmaps._pack (bpfmaps/_pack.c) is a plain CPython extension, also stable ABI.
import os
import sys

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPy(build_py):
    """build_py plus an empty ``bpfmaps/_runner_path.marshal`` in the built package: the
    installed command writes its module bundle into it (bpfmaps._preload), and as a
    file of the wheel it is in the installation's RECORD, so uninstalling removes it (a
    bundle the command created in ``__pycache__`` would be left behind)."""

    def run(self):
        super().run()
        if not self.dry_run:
            target = os.path.join(self.build_lib, "bpfmaps", "_runner_path.marshal")
            open(target, "wb").close()  # noqa: SIM115

    def get_outputs(self, include_bytecode=True):
        return [
            *super().get_outputs(include_bytecode),
            os.path.join(self.build_lib, "bpfmaps", "_runner_path.marshal"),
        ]


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from build_ffi import pack_extension  # noqa: E402

setup(
    cmdclass={"build_py": BuildPy},
    cffi_modules=["build_ffi.py:ffibuilder"],
    ext_modules=[pack_extension(os.path.dirname(os.path.abspath(__file__)))],
    options={"bdist_wheel": {"py_limited_api": "cp39"}},
)
