"""Generated MCP servers, one package per domain (emitted by `scaleenv synth`; do not edit)."""
