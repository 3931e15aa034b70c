"""Per-organization quotas: the rules and their usage report (``service``), its schema."""
