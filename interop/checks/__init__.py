"""The interop checks by area (see ../check.py, which runs them)."""
