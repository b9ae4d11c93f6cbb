"""An uploaded image's metadata removed before its original is stored.

A phone's photo carries where it was taken (EXIF GPS), the device and its
serial number, the time, and often more images after the first (a JPEG's
MPF preview or gain map, each with EXIF of its own). The thumbnail is
encoded afresh from pixels (chat/images/imaging.py), but the original is served
too, so ``stripped`` rewrites its file without any of that, keeping what
it needs to look the same:

- the compressed image data as it is, byte for byte: nothing is decoded
  or re-encoded, so nothing is lost and nothing costs memory beyond the
  file itself;
- the ICC colour profile, and the markers that say how to read the
  colours (JFIF, Adobe's colour transform for CMYK; PNG's colour chunks);
- the EXIF orientation, as the one tag of a new, minimal EXIF block, when
  it turns or mirrors the image. Applying it instead would mean decoding
  and re-encoding the full image: a second, lossy JPEG compression, and
  hundreds of MB for a 50 Mpx photo.

Each format keeps an allow-list, so a metadata block unknown today is
dropped too: JPEG keeps every segment but APPn and COM, of which only
APP0 (JFIF), APP2 ``ICC_PROFILE`` and APP14 (Adobe), and nothing after
the end of the first image; PNG keeps its critical, colour, transparency,
density and animation chunks; WebP its image, alpha, animation and ICC
chunks; GIF its images, graphic controls, the looping extension and an
ICC profile.
"""

import io
import struct
import zlib

from PIL import Image

# EXIF tag 0x0112, Orientation (EXIF 2.32, section 4.6.4): 1 is upright.
ORIENTATION = 0x0112
UPRIGHT = 1
EXIF_HEADER = b"Exif\x00\x00"


class BrokenImage(ValueError):
    """The file's structure is not what its format says (truncated, or a
    length that runs past its end)."""


def stripped(data, image_format):
    """``data`` (bytes, an image in ``image_format``, Pillow's name: JPEG,
    PNG, GIF or WEBP) without its metadata, as the module's docstring
    says. Returns bytes; raises ``BrokenImage`` when the structure cannot
    be walked, and ``ValueError`` for another format."""
    orientation = read_orientation(data, image_format)
    strip = {"JPEG": _jpeg, "PNG": _png, "WEBP": _webp, "GIF": _gif}.get(image_format)
    if strip is None:
        raise ValueError("No metadata stripping for %r" % image_format)
    try:
        return strip(data, orientation)
    except (IndexError, struct.error) as error:
        raise BrokenImage(str(error)) from error


def read_orientation(data, image_format):
    """The EXIF orientation (int, 1 to 8) of the image in ``data`` (bytes,
    in ``image_format``), without decoding its pixels; 1 when it has none
    or an invalid one.

    Pillow's ``getexif()`` decodes a whole PNG whose ``eXIf`` chunk comes
    after the image data, or that has none (200 MB for 50 Mpx of RGBA), so
    a PNG's chunks are walked here instead."""
    try:
        if image_format == "PNG":
            payload = png_exif(data)
            if payload is None:
                return UPRIGHT
            exif = Image.Exif()
            exif.load(payload)
        else:
            with Image.open(io.BytesIO(data)) as image:
                exif = image.getexif()
        value = exif.get(ORIENTATION)
    except Exception:  # noqa: BLE001 - any unreadable EXIF counts as none
        return UPRIGHT
    return value if isinstance(value, int) and 1 <= value <= 8 else UPRIGHT


def orientation_exif(orientation):
    """A minimal EXIF block (bytes, TIFF, no ``Exif\\0\\0`` header) holding
    only ``orientation`` (int)."""
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    tiff = exif.tobytes()
    return tiff[len(EXIF_HEADER) :] if tiff.startswith(EXIF_HEADER) else tiff


# JPEG (ITU-T T.81, annex B): markers without a length.
SOI, EOI, SOS = 0xD8, 0xD9, 0xDA
STANDALONE = frozenset({0x01, SOI, EOI} | set(range(0xD0, 0xD8)))
APP0, APP2, APP14, COM = 0xE0, 0xE2, 0xEE, 0xFE


def _jpeg_keeps(marker, payload):
    if 0xE0 <= marker <= 0xEF:
        return (
            (marker == APP0 and payload[:5] in (b"JFIF\x00", b"JFXX\x00"))
            or (marker == APP2 and payload.startswith(b"ICC_PROFILE\x00"))
            or (marker == APP14 and payload.startswith(b"Adobe"))
        )
    return marker != COM


def _jpeg(data, orientation):
    if data[:2] != b"\xff\xd8":
        raise BrokenImage("no SOI")
    out = [b"\xff\xd8"]
    # The orientation's APP1 goes after JFIF's APP0, which must come first.
    pending_exif = None
    if orientation != UPRIGHT:
        payload = EXIF_HEADER + orientation_exif(orientation)
        pending_exif = struct.pack(">BBH", 0xFF, 0xE1, len(payload) + 2) + payload
    pos = 2
    in_scans = False
    while True:
        if pos >= len(data):
            if not in_scans:
                raise BrokenImage("no image data")
            # Image data cut short: kept as it came, for the thumbnail job
            # to find it cannot be decoded (and the sender to see so).
            return b"".join(out)
        # A marker: one or more 0xFF, then its code.
        if data[pos] != 0xFF:
            raise BrokenImage("no marker at %d" % pos)
        while data[pos] == 0xFF:
            pos += 1
        marker = data[pos]
        pos += 1
        if pending_exif is not None and marker != APP0:
            out.append(pending_exif)
            pending_exif = None
        if marker == EOI:
            out.append(b"\xff\xd9")
            # Anything after the first image's end (MPF's other images,
            # trailers) is left out.
            return b"".join(out)
        if marker in STANDALONE:
            out.append(bytes((0xFF, marker)))
            continue
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2 or pos + length > len(data):
            raise BrokenImage("segment %#x runs past the end" % marker)
        segment = data[pos : pos + length]
        if _jpeg_keeps(marker, segment[2:]):
            out.append(bytes((0xFF, marker)) + segment)
        pos += length
        if marker == SOS:
            in_scans = True
            end = _entropy_end(data, pos)
            out.append(data[pos:end])
            pos = end


def _entropy_end(data, pos):
    """Where the entropy-coded data from ``pos`` ends: at the next 0xFF that
    is neither a stuffed 0xFF 0x00 nor a restart marker, or at the end of
    ``data`` when it is cut short."""
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            return len(data)
        following = data[pos + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:
            pos += 2
            continue
        return pos


# PNG (ISO/IEC 15948, 3rd edition): the chunks kept.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_KEPT = frozenset(
    {
        b"IHDR",
        b"PLTE",
        b"IDAT",
        b"IEND",
        b"tRNS",
        b"cHRM",
        b"gAMA",
        b"iCCP",
        b"sBIT",
        b"sRGB",
        b"cICP",
        b"mDCV",
        b"cLLI",
        b"bKGD",
        b"pHYs",
        b"acTL",
        b"fcTL",
        b"fdAT",
    }
)


def png_exif(data):
    """The payload (bytes, TIFF) of the ``eXIf`` chunk of the PNG in
    ``data`` (bytes), wherever it is, or None. Raises ``BrokenImage`` for a
    chunk that runs past the end."""
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if pos + 12 + length > len(data):
            raise BrokenImage("chunk %r runs past the end" % kind)
        if kind == b"eXIf":
            return data[pos + 8 : pos + 8 + length]
        if kind == b"IEND":
            break
        pos += 12 + length
    return None


def _png_chunk(kind, payload):
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _png(data, orientation):
    if not data.startswith(PNG_SIGNATURE):
        raise BrokenImage("no PNG signature")
    out = [PNG_SIGNATURE]
    pos = len(PNG_SIGNATURE)
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise BrokenImage("chunk %r runs past the end" % kind)
        if kind == b"IDAT" and orientation != UPRIGHT:
            # eXIf comes before the image data (the standard's order).
            out.append(_png_chunk(b"eXIf", orientation_exif(orientation)))
            orientation = UPRIGHT
        if kind in PNG_KEPT:
            out.append(data[pos:end])
        pos = end
        if kind == b"IEND":
            return b"".join(out)
    raise BrokenImage("no IEND")


# WebP (RFC 9649): the chunks kept, and VP8X's flags for what is dropped.
WEBP_KEPT = frozenset({b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP"})
VP8X_EXIF, VP8X_XMP = 0x08, 0x04


def _webp(data, orientation):
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise BrokenImage("no RIFF WEBP header")
    chunks = []
    pos = 12
    end_of_riff = min(len(data), 8 + struct.unpack("<I", data[4:8])[0])
    while pos + 8 <= end_of_riff:
        kind = data[pos : pos + 4]
        (length,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        end = pos + 8 + length + (length & 1)
        if pos + 8 + length > len(data):
            raise BrokenImage("chunk %r runs past the end" % kind)
        if kind in WEBP_KEPT:
            chunk = bytearray(data[pos:end])
            if kind == b"VP8X":
                chunk[8] &= ~(VP8X_EXIF | VP8X_XMP) & 0xFF
                if orientation != UPRIGHT:
                    chunk[8] |= VP8X_EXIF
            chunks.append(bytes(chunk))
        pos = end
    if orientation != UPRIGHT and chunks and chunks[0][:4] == b"VP8X":
        # A simple (VP8 or VP8L only) file has no VP8X to flag an EXIF
        # chunk in; browsers ignore orientation there anyway.
        exif = orientation_exif(orientation)
        chunks.append(b"EXIF" + struct.pack("<I", len(exif)) + exif + b"\x00" * (len(exif) & 1))
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


# GIF (GIF89a): the application extensions kept.
GIF_KEPT_APPLICATIONS = (b"NETSCAPE2.0", b"ANIMEXTS1.0", b"ICCRGBG1012")


def _gif_sub_blocks(data, pos):
    """Where the sub-blocks starting at ``pos`` end (after their 0 byte)."""
    while data[pos]:
        pos += 1 + data[pos]
    return pos + 1


def _gif(data, orientation):
    if data[:6] not in (b"GIF87a", b"GIF89a"):
        raise BrokenImage("no GIF header")
    flags = data[10]
    pos = 13 + (3 * (2 << (flags & 7)) if flags & 0x80 else 0)
    out = [data[:pos]]
    while True:
        block = data[pos]
        if block == 0x3B:
            out.append(b"\x3b")
            return b"".join(out)
        if block == 0x2C:
            flags = data[pos + 9]
            start = pos
            pos += 10 + (3 * (2 << (flags & 7)) if flags & 0x80 else 0)
            # The LZW code size, then the image's sub-blocks.
            pos = _gif_sub_blocks(data, pos + 1)
            out.append(data[start:pos])
        elif block == 0x21:
            label = data[pos + 1]
            start = pos
            pos = _gif_sub_blocks(data, pos + 2)
            keep = label in (0xF9, 0x01) or (
                label == 0xFF and data[start + 3 : start + 14] in GIF_KEPT_APPLICATIONS
            )
            if keep:
                out.append(data[start:pos])
        else:
            raise BrokenImage("unknown GIF block %#x" % block)
