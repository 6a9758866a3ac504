"""labelbot storage package."""
