"""Developer tools: run from a checkout, never shipped with the bot (they read the lock files)."""
