"""Module-level training functions that spawn-started worker processes can import."""
