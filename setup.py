"""Packaging hook: the top-level templates/ folder ships inside the wheel as trainyard/templates/, so a plain
`pip install .` (not editable) or an installed wheel can scaffold. Editable installs read templates/ in place."""

import os

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithTemplates(build_py):
    def run(self) -> None:
        super().run()
        if not getattr(self, "editable_mode", False):
            self.copy_tree("templates", os.path.join(self.build_lib, "trainyard", "templates"))


setup(cmdclass={"build_py": BuildPyWithTemplates})
