"""Broadcasts: sending one text to everyone who asked for news, within Telegram's limits.

- ``sender``: the lease holder that every bot process runs (``Broadcaster``); only the
  holder sends, the oldest broadcast first, and it resumes after a crash or a restart.

Nothing is re-exported here: import from the module that holds what you need.
"""
