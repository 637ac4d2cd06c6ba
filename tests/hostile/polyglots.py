"""Files that are real photos to the probe and something else to a browser, made on the spot.

- :func:`jpeg_javascript`: a JPEG whose bytes, read as windows-1252 (what a ``<script
  charset="ISO-8859-1">`` reads), are a valid script. The SOI and APP0 marker read as the
  identifier ``ÿØÿà``; the segment's two length bytes are ``/*`` (0x2F2A, a 12074-byte segment)
  and its content begins ``*/=<payload>;/*``, so the rest of the image sits in a comment that
  the ``*/`` appended after EOI closes. Pillow decodes it as the JPEG it is.
- :func:`jpeg_html`: a JPEG with an HTML page appended after EOI.
"""

from __future__ import annotations

import io

from PIL import Image

SOI = b"\xff\xd8"
APP0 = b"\xff\xe0"
COMMENT_OPEN = b"/*"  # also the APP0 segment length, big-endian
SEGMENT_LENGTH = int.from_bytes(COMMENT_OPEN, "big")


def plain_jpeg(colour: tuple[int, int, int] = (200, 90, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (48, 32), colour).save(out, "JPEG", quality=85)
    return out.getvalue()


def jpeg_javascript(payload: str) -> bytes:
    """A valid JPEG that is also the script ``ÿØÿà=<payload>;`` in windows-1252."""
    opening = b"*/=" + payload.encode("ascii") + b";/*"
    body = opening.ljust(SEGMENT_LENGTH - 2, b" ")  # the length counts its own two bytes
    for shade in range(256):  # a colour whose compressed bytes never close the comment early
        image = plain_jpeg((shade, 90, 40))
        assert image.startswith(SOI)
        rest = body[len(opening):] + image[2:]
        if b"*/" not in rest:
            return SOI + APP0 + COMMENT_OPEN + body + image[2:] + b"*/"
    raise AssertionError("every colour put */ in the JPEG stream")


def jpeg_html(page: str) -> bytes:
    """A valid JPEG followed by an HTML page (decoders stop at EOI; a browser told text/html
    renders the JPEG's bytes as text and then the page's tags)."""
    return plain_jpeg() + page.encode()
