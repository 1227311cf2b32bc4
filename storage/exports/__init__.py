"""Signatory exports for organisers: CSV, XLSX and the PDF delivery document.

``storage.exports.export.export_signatures`` streams one campaign's signatures in
signing order from a consistent snapshot into a temporary file (zipped past
Telegram's upload limit); the caller sends or moves the file and deletes it.

This package's face stays empty on purpose: it re-exports nothing, so importing
one of its modules never loads the others (and no module here imports itself
back through the package).
"""
