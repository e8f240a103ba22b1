"""Local HTTP servers that speak each LLM vendor's real wire format, and the requests the
provider tests send them."""
