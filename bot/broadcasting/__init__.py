"""Broadcasts: sending one text to everyone who asked for news, within Telegram's limits.

- ``pacing``: the limits by the clock: at most ``rate`` requests in any rolling second
  (``SendWindow``) and a second between two messages to one chat (``ChatSpacing``); pure,
  clock injected.
- ``outcomes``: what Telegram's answer to one delivery means (sent, 429, 403, uncertain,
  retry, failed) and the database write that records it.
- ``sender``: the lease holder every bot process runs (``Broadcaster``); only the holder
  sends, the oldest broadcast first, and it resumes after a crash or a restart.
- ``command_line``: ``python -m bot broadcast``'s runner (``send_until_done``,
  ``TelegramUnreachable``): one ``Broadcaster`` on a Telegram connection of its own.

Nothing is re-exported here: import from the module that holds what you need.
"""
