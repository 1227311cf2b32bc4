"""Telegram's rules for what a message may contain: the emulator's public text checks.

The emulator refuses a call the way Telegram would; tools that only have text
(the translators' ``i18n check`` and ``i18n preview``) apply the same rules
without starting it, through this module and nothing else of the emulator:

- ``parse_html``: Telegram's HTML parse mode, the text a user reads plus its
  entities; a refusal carries Telegram's own words (``can't parse entities: ...``).
- ``message_text``, ``caption``, ``inline_keyboard``, ``callback_answer_text``:
  the limits after parsing (4,096 and 1,024 UTF-16 units, 1-64 bytes of callback
  data, 100 buttons, 200 characters of pop-up, ...).
- ``utf16_length``: lengths as Telegram counts them.

Every refusal is an ``InvalidRequest`` whose ``description`` is Telegram's answer.
The names here stay stable; the modules behind them are the emulator's own business.
"""

from __future__ import annotations

from emulator.errors import InvalidRequest
from emulator.html import ParsedText, parse_html, render, utf16_length
from emulator.rules import (
    MAX_BUTTONS,
    MAX_CALLBACK_ANSWER,
    MAX_CALLBACK_DATA,
    MAX_CAPTION,
    MAX_TEXT,
    callback_answer_text,
    caption,
    inline_keyboard,
    message_text,
)

__all__ = [
    "MAX_BUTTONS",
    "MAX_CALLBACK_ANSWER",
    "MAX_CALLBACK_DATA",
    "MAX_CAPTION",
    "MAX_TEXT",
    "InvalidRequest",
    "ParsedText",
    "callback_answer_text",
    "caption",
    "inline_keyboard",
    "message_text",
    "parse_html",
    "render",
    "utf16_length",
]
