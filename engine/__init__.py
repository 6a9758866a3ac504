"""labelbot engine package."""
