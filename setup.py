"""The package list is found, not written out: a new channel is a new folder under
gateway/channels/ and nothing else. Everything else is in setup.cfg."""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["gateway", "gateway.*"]),
        "gateway._schemas",  # package_dir maps it to schemas/
        "twisted.plugins",  # package_dir maps it to twisted_plugins/ (see DESIGN.md)
    ]
)
