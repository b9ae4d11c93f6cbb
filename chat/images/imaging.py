"""Images in messages, with Pillow: checking an upload, and making its
thumbnail.

``inspect`` runs in the upload view, on the sender's request, and reads no
more than the image's header and structure; ``make_thumbnail`` runs in the
``chat.thumbnail`` job (chat/images/thumbnails.py), where decoding a large image delays
nobody's chat.
"""

import io
import logging
import warnings
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from chat import conf
from chat.exceptions import ClientError
from chat.images import metadata
from chat.models import Upload

logger = logging.getLogger(__name__)

# The longest side of a thumbnail, in pixels.
THUMBNAIL_MAX_PX = 480
# JPEG thumbnails' quality (Pillow's 1–95 scale): 85 is the usual
# balance of size and artefacts for photographs.
JPEG_QUALITY = 85

# EXIF Orientation (metadata.ORIENTATION) values 5 to 8 turn the image a
# quarter, so it is displayed with width and height swapped (EXIF 2.32,
# section 4.6.4).
QUARTER_TURNS = frozenset({5, 6, 7, 8})

# What Pillow raises on a file it cannot read as an image, or whose data
# are broken: its own error, and the ones its decoders let through.
DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError)

# The colour space of a thumbnail, which carries no profile: sRGB is what
# browsers assume of an image without one (CSS Color 4, section 10.2).
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
# Image modes whose own channels LittleCMS converts to RGB, under a
# profile of their colour space (CMYK, grey); any other image (a palette,
# transparency) is made RGB or RGBA first and converted under an RGB one.
CONVERTED_AS_THEY_ARE = frozenset({"CMYK", "L"})


@dataclass(frozen=True)
class ImageInfo:
    """What ``inspect`` found: ``format`` (Pillow's name, a key of
    ``Upload.FORMATS``), and ``width`` and ``height`` in pixels as the image
    is displayed, its EXIF orientation applied."""

    format: str
    width: int
    height: int


class CannotProcess(Exception):
    """An image that passed ``inspect`` but cannot be decoded in full."""


def not_an_image():
    """The ``ClientError`` (``NOT_AN_IMAGE``, 400) for a file that is not an
    image of an accepted format."""
    return ClientError(
        "NOT_AN_IMAGE", "That file is not an image; send a JPEG, PNG, GIF or WebP.", status=400
    )


def pixel_limit(image_format, max_pixels):
    """The most pixels (int) an image in ``image_format`` (Pillow's name)
    may have, given the general limit ``max_pixels`` (int,
    ``CHAT_UPLOAD_MAX_PIXELS``): a WebP is held by libwebp's decoder in
    two full canvases besides Pillow's copy, about 16 bytes a pixel
    (``python -m bench.image_memory``), so it gets the lower of that and
    ``CHAT_UPLOAD_MAX_PIXELS_WEBP``."""
    if image_format == "WEBP":
        return min(max_pixels, conf.get("CHAT_UPLOAD_MAX_PIXELS_WEBP"))
    return max_pixels


def inspect(file, max_pixels):
    """Check that ``file`` (a binary file object, read from its start) is an
    image of an accepted format (``Upload.FORMATS``) with at most
    ``max_pixels`` (int) pixels (``pixel_limit``: fewer for a WebP).
    Returns an ``ImageInfo``; leaves the file at its start.

    Raises ``ClientError``: ``NOT_AN_IMAGE`` (400) for anything Pillow
    cannot identify, another format, or a file whose structure Pillow's
    ``verify`` finds broken; ``IMAGE_TOO_LARGE`` (413) for too many pixels,
    from the header alone, before any decoding, so a decompression bomb (a
    small file that decodes to gigabytes) costs nothing.
    """
    try:
        with warnings.catch_warnings():
            # Pillow warns above its own limit (89 Mpx); ours is checked below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            file.seek(0)
            with Image.open(file) as image:
                image_format = image.format
                width, height = image.size
                if image_format not in Upload.FORMATS:
                    raise not_an_image()
                most = pixel_limit(image_format, max_pixels)
                if width * height > most:
                    raise too_many_pixels(most)
                image.verify()
            # From the header still, never decoding a PNG's pixels as
            # Pillow's getexif() would (metadata.read_orientation).
            file.seek(0)
            orientation = metadata.read_orientation(file.read(), image_format)
    except Image.DecompressionBombError:
        raise too_many_pixels(max_pixels) from None
    except DECODE_ERRORS:
        raise not_an_image() from None
    finally:
        file.seek(0)
    if orientation in QUARTER_TURNS:
        width, height = height, width
    return ImageInfo(image_format, width, height)


def too_many_pixels(max_pixels):
    """The ``ClientError`` (``IMAGE_TOO_LARGE``, 413) for an image over
    ``max_pixels`` (int) pixels."""
    return ClientError(
        "IMAGE_TOO_LARGE",
        "That image has too many pixels; the most is %d megapixels." % (max_pixels // 1_000_000),
        status=413,
    )


def make_thumbnail(file, max_pixels):
    """The thumbnail of the image in ``file`` (a binary file object): at
    most ``THUMBNAIL_MAX_PX`` on its long side (never enlarged), its EXIF
    orientation applied, its colours converted to sRGB from the colour
    space its ICC profile names (a phone's Display P3 photo, a print
    shop's CMYK), and every piece of metadata left out (EXIF, GPS, ICC
    profile, text chunks), since it is encoded afresh from the pixels
    alone. A JPEG stays a JPEG; anything else becomes a PNG (an animated
    image keeps its first frame). ``max_pixels`` (int) is checked again
    (``pixel_limit``), as the file could have changed since it was checked
    on upload.

    Memory is bounded by what the format allows (docs/operations.md,
    "Image limits"): a JPEG is decoded at 1/2, 1/4 or 1/8 of its size
    (``draft``), to no less than twice the thumbnail; any other image is
    decoded whole once, then reduced by a whole factor (``reduce``) in
    bands of rows, so no second full-size copy is made; resizing and
    turning upright act on the reduced image only.

    Returns ``(data, width, height, extension)``: the encoded thumbnail
    (bytes), its size in pixels (int), and its file extension (str,
    ``"jpg"`` or ``"png"``). Raises ``CannotProcess`` when the image cannot
    be decoded.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file) as image:
                if image.width * image.height > pixel_limit(image.format, max_pixels):
                    raise CannotProcess("too many pixels")
                is_jpeg = image.format == "JPEG"
                profile = image.info.get("icc_profile")
                wanted = fitted_size(image.size, THUMBNAIL_MAX_PX)
                # Twice the thumbnail, the gap Pillow's thumbnail() leaves
                # for its last resampling step: the result is as sharp as a
                # resize from full size.
                image.draft(None, (REDUCING_GAP * wanted[0], REDUCING_GAP * wanted[1]))
                image.load()
                small = reduced(image, wanted)
                if small is not image:
                    # The decoded image's memory goes now, not after the
                    # resizing and the colour conversion.
                    image.close()
                small.thumbnail((THUMBNAIL_MAX_PX, THUMBNAIL_MAX_PX), Image.Resampling.LANCZOS)
                ImageOps.exif_transpose(small, in_place=True)
                if is_jpeg:
                    mode = "RGB"
                else:
                    has_alpha = small.mode in ("RGBA", "LA", "PA") or ("transparency" in small.info)
                    mode = "RGBA" if has_alpha else "RGB"
                pixels = in_srgb(small, profile, mode)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
        raise CannotProcess("too many pixels") from error
    except DECODE_ERRORS as error:
        raise CannotProcess(str(error)) from error
    # A copy from the pixels alone: no info dict, so nothing of the
    # original's metadata can ride along into the encoder.
    clean = Image.frombytes(pixels.mode, pixels.size, pixels.tobytes())
    out = io.BytesIO()
    if is_jpeg:
        clean.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
        extension = "jpg"
    else:
        clean.save(out, "PNG", optimize=True)
        extension = "png"
    return out.getvalue(), clean.width, clean.height, extension


# How much larger than the thumbnail the image is left before the final
# LANCZOS resampling (Pillow's own default ``reducing_gap``, 2.0).
REDUCING_GAP = 2

# Rows of the reduced image made at a time from a band of the decoded
# one: a band of a 50 Mpx image's width is then a few MB.
BAND_ROWS = 64

# Modes whose pixels ``Image.reduce`` averages as they are; any other
# (a palette, 1-bit, 16-bit or float) is converted band by band first.
REDUCIBLE_MODES = frozenset({"L", "LA", "RGB", "RGBA", "CMYK"})


def fitted_size(size, longest):
    """``size`` (width, height in pixels) scaled down to fit a square of
    ``longest`` pixels, keeping its aspect ratio, at least 1 × 1; ``size``
    itself when it fits already. Returns ``(width, height)`` (ints)."""
    width, height = size
    scale = min(1.0, longest / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def reduced(image, wanted):
    """``image`` (a loaded ``PIL.Image``) made smaller by the largest whole
    factor that leaves it at least ``REDUCING_GAP`` times ``wanted``
    (width, height) in both directions, averaging each factor × factor
    block (``Image.reduce``). Returns a new image, or ``image`` itself when
    no factor above 1 fits.

    The work goes in bands of ``BAND_ROWS`` output rows, so that besides
    ``image`` only one band is held at a time: ``Image.reduce`` on RGBA,
    and any mode conversion, would otherwise copy the whole image first.
    A palette, 1-bit, 16-bit or float image comes out as RGBA or RGB (RGBA
    when it has transparency), as ``in_srgb`` would convert it anyway. The
    result keeps ``image``'s info (its EXIF orientation and ICC profile
    among it)."""
    factor = min(
        image.width // (REDUCING_GAP * wanted[0]), image.height // (REDUCING_GAP * wanted[1])
    )
    if factor < 2:
        return image
    if image.mode in REDUCIBLE_MODES:
        mode = image.mode
    else:
        has_alpha = image.mode in ("PA", "LA") or "transparency" in image.info
        mode = "RGBA" if has_alpha else "RGB"
    width, height = image.width // factor, image.height // factor
    out = Image.new(mode, (width, height))
    out.info = dict(image.info)
    out.info.pop("transparency", None)
    for top in range(0, height, BAND_ROWS):
        rows = min(BAND_ROWS, height - top)
        band = image.crop((0, top * factor, width * factor, (top + rows) * factor))
        if band.mode != mode:
            band = band.convert(mode)
        out.paste(band.reduce(factor), (0, top))
    return out


def in_srgb(image, profile, mode):
    """``image`` (a loaded ``PIL.Image``) as a new image in ``mode``
    (``"RGB"`` or ``"RGBA"``), its colours converted from the colour space
    that ``profile`` describes (the bytes of an ICC profile, or None) to
    sRGB, with LittleCMS through Pillow's ``ImageCms``, perceptual intent.

    Without a profile, or with one that LittleCMS cannot use (broken, or
    of another colour space than the pixels), the pixels are taken as sRGB
    already, as a browser takes them without a profile; that case is
    logged. Alpha is kept as it is."""
    if image.mode in CONVERTED_AS_THEY_ARE and mode == "RGB":
        source = image
    else:
        source = image.convert(mode)
    if not profile:
        return source.convert(mode)
    try:
        return ImageCms.profileToProfile(
            source,
            ImageCms.ImageCmsProfile(io.BytesIO(profile)),
            SRGB,
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
            outputMode=mode,
        )
    except (ImageCms.PyCMSError, OSError, ValueError) as error:
        logger.info("Colour profile not applied (%s); the pixels are taken as sRGB", error)
        return source.convert(mode)
