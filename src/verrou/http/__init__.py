"""Clients verrou runs against HTTP servers (the private exposure check's, for now)."""
