"""Local HTTP servers that speak each LLM vendor's real wire format, for the provider tests."""
