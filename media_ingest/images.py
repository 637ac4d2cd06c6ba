"""Citizens' photos with Pillow: is it really an image, how big, where was it taken.

Pillow identifies the format from the bytes, never the name. Only the formats a phone or a
screenshot produces are tried, so plugins such as EPS (which runs Ghostscript) never see
a citizen's file.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from peygir.media_ingest.probe import NOT_KIND, MediaError, MediaInfo, file_size, truncated

DEFAULT_MAX_PIXELS = 40_000_000
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")  # JPEG also opens MPO

Image.MAX_IMAGE_PIXELS = DEFAULT_MAX_PIXELS


def inspect_image(path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS) -> MediaInfo:
    """Check that `path` is a whole image within the pixel limit and describe it.

    The pixel count comes from the header, so an oversized image is refused before its
    pixels are decoded.
    """
    size = file_size(path)
    with open_image(path, max_pixels) as image:
        container, width, height = image.format or "", image.width, image.height
        _verify(image)
    # verify() leaves the image unusable; decoding a fresh copy catches a cut pixel stream.
    with open_image(path, max_pixels) as image:
        _decode(image)
    return MediaInfo(
        container=container,
        kind="image",
        duration=None,
        audio_codec=None,
        video_codec=None,
        width=width,
        height=height,
        size=size,
    )


def open_image(path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Image.open with the pixel limit enforced; the caller closes it (use `with`)."""
    Image.MAX_IMAGE_PIXELS = max_pixels  # Pillow's own bomb check, for code that opens directly
    try:
        with warnings.catch_warnings():
            # Pillow only warns between 1x and 2x its limit; we refuse those as well.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path, formats=FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_many_pixels(str(exc)) from exc
    except UnidentifiedImageError as exc:
        raise MediaError("not_media", f"Pillow finds no image: {exc}", NOT_KIND["image"]) from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise MediaError("unreadable", f"Pillow cannot open it: {exc}") from exc
    if image.width * image.height > max_pixels:
        image.close()
        raise _too_many_pixels(f"{image.width}x{image.height} is over {max_pixels} pixels")
    return image


def exif_location(
    path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[float, float] | None:
    """Latitude and longitude in decimal degrees from the EXIF GPS block, if it has one."""
    with open_image(path, max_pixels) as image:
        try:
            gps = image.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        except Exception:  # Pillow raises many kinds for a broken EXIF: it only means "no place"
            return None
    return gps_to_decimal(gps)


def gps_to_decimal(gps: Mapping[int, Any]) -> tuple[float, float] | None:
    lat = _degrees(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef), "S")
    lon = _degrees(gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef), "W")
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180:
        return None
    if lat == 0 and lon == 0:
        return None  # what cameras write when they had no fix
    return lat, lon


def strip_exif(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS
) -> Path:
    """Write a copy of `src` with no EXIF or other metadata (GPS, camera, ICC), for a unit to see.

    The orientation tag goes with the rest, so it is applied to the pixels first. The format
    follows the extension of `dst`.
    """
    with open_image(src, max_pixels) as image:
        upright = _flatten(ImageOps.exif_transpose(image))
    # A new image from raw pixels carries no `info`, so nothing can leak into the copy.
    clean = Image.frombytes(upright.mode, upright.size, upright.tobytes())
    clean.save(dst, quality=90)
    return Path(dst)


def _verify(image: Image.Image) -> None:
    try:
        image.verify()
    except Exception as exc:  # Pillow raises SyntaxError, OSError, struct.error, ...
        raise truncated("image", f"Pillow verify failed: {exc}") from exc


def _decode(image: Image.Image) -> None:
    # A JPEG decodes at 1/8 scale: every byte of the stream is still read, at 1/64 the memory.
    image.draft(image.mode, (1, 1))
    try:
        image.load()
    except Exception as exc:
        raise truncated("image", f"Pillow cannot decode the pixels: {exc}") from exc


def _flatten(image: Image.Image) -> Image.Image:
    """RGB (or L) pixels; transparency over white, since JPEG has none."""
    if image.mode in ("RGB", "L"):
        return image
    if "A" in image.getbands() or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, "white")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _degrees(value: Any, ref: Any, negative: str) -> float | None:
    """EXIF (degrees, minutes, seconds) rationals and an N/S/E/W ref to signed degrees."""
    parts = value if isinstance(value, tuple) else (value,)
    try:
        numbers = [float(part) for part in parts[:3]]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not numbers or not all(math.isfinite(n) for n in numbers):
        return None  # IFDRational with a zero denominator reads as nan
    degrees = sum(n / 60**i for i, n in enumerate(numbers))
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    sign = -1 if str(ref or "").strip().upper().startswith(negative) else 1
    return sign * degrees


def _too_many_pixels(detail: str) -> MediaError:
    return MediaError("too_many_pixels", detail)
