"""Loopback stand-ins for the platforms\x27 sales APIs (tests only)."""
