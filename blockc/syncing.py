"""Wiring between studios and the sync engine (filled in with the engine)."""
