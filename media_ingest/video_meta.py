"""A citizen's video without its container's metadata (where it was filmed, the phone's make
and model, the owner's name), for a unit to see; its place is kept apart as a location hint.

Only the picture and sound packets are copied into a new container (no re-encoding, so it
costs what reading the file costs); the tags, chapters and attachments stay behind.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import av

log = logging.getLogger(__name__)

# FFmpeg's input container name -> the muxer to write the copy with.
_MUXERS = {"mov,mp4,m4a,3gp,3g2,mj2": "mp4", "matroska,webm": "matroska", "avi": "avi",
           "ogg": "ogg"}
# ISO 6709, as phones write it in the "location" tag: +34.8200+048.4900/ (altitude optional).
_ISO6709 = re.compile(r"([+-]\d{1,2}(?:\.\d+)?)([+-]\d{1,3}(?:\.\d+)?)")


def video_location(path: str | Path) -> tuple[float, float] | None:
    """Where the video says it was filmed (its ``location`` tag), if it says so sensibly."""
    try:
        with av.open(str(path)) as container:
            tags = {k.lower(): v for k, v in container.metadata.items()}
    except (av.FFmpegError, OSError):
        return None
    found = _ISO6709.match(tags.get("location", "") or tags.get("location-eng", ""))
    if not found:
        return None
    lat, lon = float(found.group(1)), float(found.group(2))
    if abs(lat) > 90 or abs(lon) > 180 or (lat == 0 and lon == 0):
        return None
    return lat, lon


def strip_video_metadata(src: str | Path, dst: str | Path, container: str) -> bool:
    """Copy ``src``'s audio and video packets into ``dst`` with no metadata; False (and no
    ``dst``) when the container or a codec cannot be copied that way."""
    muxer = _MUXERS.get(container)
    if muxer is None:
        return False
    try:
        with av.open(str(src)) as inp, av.open(str(dst), "w", format=muxer) as out:
            streams = {s.index: out.add_stream_from_template(s) for s in inp.streams
                       if s.type in ("audio", "video")}
            for packet in inp.demux(*[inp.streams[i] for i in streams]):
                if packet.dts is None:  # the demuxer's flush packet
                    continue
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    except (av.FFmpegError, OSError, ValueError) as failed:
        log.info("video metadata not stripped (%s): %s", container, failed)
        Path(dst).unlink(missing_ok=True)
        return False
    return True
