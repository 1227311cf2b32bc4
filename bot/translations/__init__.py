"""The translators' tools, behind ``python -m bot i18n ...`` (see ``locales/README.md``).

- ``catalogs``: Babel's own steps on a project tree (extract, update, init, compile)
  and the status table.
- ``check``: ``i18n check``, every catalog message by message, then the whole
  conversation rehearsed in each language against Telegram's text rules
  (``emulator.telegram_rules``).
- ``preview``: the rehearsal itself, a simulated supporter walked through every step
  against the real conversation core; ``i18n preview LANG`` prints it.

Nothing is re-exported here: import the module you need, so that loading one tool
does not load the conversation core behind the others.
"""
