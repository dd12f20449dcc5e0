"""Unit tests of the cortex-s2i Python runtime; run from the repository root (see support.py)."""
