"""Running agents against tasks over MCP stdio, verifying through the control channel, recording results."""
