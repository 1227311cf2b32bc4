"""Signatory exports for organisers: CSV, XLSX and the PDF delivery document.

``export_signatures`` streams one campaign's signatures in signing order from a
consistent snapshot into a temporary file (zipped past Telegram's upload limit);
the caller sends or moves the file and deletes it.
"""

from __future__ import annotations

from storage.exports.export import (
    FORMATS,
    ExportError,
    ExportFormat,
    ExportResult,
    Progress,
    export_filename,
    export_signatures,
)

__all__ = [
    "FORMATS",
    "ExportError",
    "ExportFormat",
    "ExportResult",
    "Progress",
    "export_filename",
    "export_signatures",
]
