"""fakescope: find synthetic images and deepfake video frames. This package is the command line."""

from importlib import metadata

try:  # read here rather than from generators: the lowest layer (fakescope.core) lives in this package
    __version__ = metadata.version("fakescope")
except metadata.PackageNotFoundError:
    __version__ = "unknown"
