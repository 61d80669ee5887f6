"""Objectives: the code that trains (a Python function, a command, the built-in trainer)."""
