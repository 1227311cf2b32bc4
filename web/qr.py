"""The QR code of a link, as SVG: printed on posters, shown on the page beside the button."""

from __future__ import annotations

from functools import lru_cache

import qrcode
from qrcode.image.svg import SvgPathImage


@lru_cache(maxsize=256)
def qr_svg(link: str) -> bytes:
    """An SVG QR code of ``link`` (error correction M: still readable with a stain or a fold).

    Cached: a page is asked for far more often than there are sources."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2, image_factory=SvgPathImage)
    code.add_data(link)
    code.make(fit=True)
    svg: bytes = code.make_image().to_string(encoding="utf-8")
    return svg
