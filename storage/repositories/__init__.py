"""Every database query labelbot makes, as small keyword-only functions grouped by table."""
