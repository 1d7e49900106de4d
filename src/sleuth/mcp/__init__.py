"""sleuth as an MCP server: research, ask, search and feedback as tools any MCP client can call.

`tools.build_mcp_server(open_deps)` builds the server on the official `mcp` SDK; `sleuth mcp` serves it over
stdio, and `sleuth serve` at `/mcp` (streamable HTTP) behind the API's bearer tokens (`server/mcp_http.py`).
"""
