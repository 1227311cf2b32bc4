"""The petition itself: the campaign's text and the countries a signer can name.

Plain data every layer needs (the conversation, the documents, the command line),
so it sits at the bottom and imports nothing of the bot.
"""
