"""A test-only pathway built by docs/recipes/adding-a-pathway.md (tests/unit/test_registry.py)."""
