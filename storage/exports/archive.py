"""Zipping an export that would not fit through Telegram's upload limit.

Bots may upload documents of up to 50 MB; ``ZIP_THRESHOLD_BYTES`` keeps a margin
below that (and below 50 MiB too, whichever one Telegram means). CSV compresses
roughly tenfold, so a zipped export carries several million signatures.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

ZIP_THRESHOLD_BYTES = 49 * 1000 * 1000
"""Exports larger than this are zipped; read at call time, so tests can monkeypatch it."""


def zip_file(source: Path, target: Path, *, arcname: str) -> None:
    """Write ``source`` into a new deflated zip at ``target`` as ``arcname``, streaming."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        archive.write(source, arcname=arcname)
