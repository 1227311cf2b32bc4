"""The campaign outside Telegram: a public page, a QR code and a JSON count.

Served by the bot's own aiohttp server (in webhook mode, beside ``/webhook``) or on
its own (``python -m bot web``, for polling setups). It reads the campaign's kept
count (``count.KeptCount``) and its words from the bot's own catalogs; it knows no
Telegram framework and never shows anything about a signer.
"""
