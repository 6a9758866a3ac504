"""labelbot bot package."""
