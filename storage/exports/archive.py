"""Zipping an export that would not fit through Telegram's upload limit.

Bots may upload documents of up to 50 MB; ``ZIP_THRESHOLD_BYTES`` keeps a margin
below that (and below 50 MiB too, whichever one Telegram means). CSV compresses
roughly tenfold, so a zipped export carries several million signatures; XLSX and
PDF are zip and deflate streams already, and past ``UPLOAD_LIMIT_BYTES`` the
export fails with a pointer to ``python -m bot export`` on the server.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

ZIP_THRESHOLD_BYTES = 49 * 1000 * 1000
"""Exports larger than this are zipped; read at call time, so tests can monkeypatch it."""

UPLOAD_LIMIT_BYTES = 49 * 1000 * 1000
"""A zipped export still larger than this is not sent: XLSX and PDF are compressed
already and barely shrink, so a large one is an error pointing to the command line."""


PDF_VOLUME_SIZE = 50_000
"""Names per volume of the delivery PDF: a longer list comes as a zip of volumes
(``pdf_export.PdfWriter``), so memory holds one volume's document at a time."""


def zip_file(source: Path, target: Path, *, arcname: str) -> None:
    """Write ``source`` into a new deflated zip at ``target`` as ``arcname``, streaming."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        archive.write(source, arcname=arcname)
