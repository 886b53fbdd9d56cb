"""Benchmarks of scaleenv-mcp against the approaches of its peers, measured in the same run."""
