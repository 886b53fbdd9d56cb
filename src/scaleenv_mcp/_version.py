"""The package version: one place, read by the CLI (--version), manifests and the build."""

__version__ = "0.1.0"
