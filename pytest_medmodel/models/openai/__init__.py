"""Served models behind an OpenAI-compatible HTTP API: the spec, the client and the adapter."""
