"""The integrations app: sites, their platform integrations, and the structure push."""
