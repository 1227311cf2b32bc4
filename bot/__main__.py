"""``python -m bot``: see ``bot.cli``."""

from bot.cli import main

if __name__ == "__main__":
    main(prog_name="python -m bot")
