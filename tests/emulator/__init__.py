"""The Bot API emulator on its own: it refuses what Telegram refuses, and its users act as people do."""
