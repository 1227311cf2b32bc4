"""Persistence: signatures and funnel counts (SQLAlchemy), conversation state (Redis/memory)."""
