"""fakescope: find synthetic images and deepfake video frames. This package is the command line."""

from fakescope.core.version import fakescope_version

__version__ = fakescope_version()
