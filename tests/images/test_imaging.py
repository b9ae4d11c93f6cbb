"""chat/images/imaging.py: which files pass as images, and what a thumbnail is."""

import io
from pathlib import Path

import pytest
from PIL import Image, ImageCms, PngImagePlugin

from bench import image_memory
from chat.exceptions import ClientError
from chat.images import imaging

MAX_PIXELS = 50_000_000

# The ICC profile of Display P3, the colour space of phones' photos
# (tests/data/README.md says where it comes from).
DISPLAY_P3 = (Path(__file__).parent.parent / "data" / "DisplayP3-v4.icc").read_bytes()

# Linear Display P3 to linear sRGB, both D65: the product of the two
# colour spaces' RGB-to-XYZ matrices (SMPTE EG 432-1 primaries, IEC
# 61966-2-1 for sRGB), as CSS Color 4's sample conversion code gives them.
P3_TO_SRGB = (
    (1.2249, -0.2247, 0.0),
    (-0.0420, 1.0419, 0.0),
    (-0.0197, -0.0786, 1.0979),
)


def encoded(image_format, size=(64, 32), color=(200, 30, 30), **save_options):
    """An image of ``size`` in ``image_format``, encoded (a BytesIO at 0)."""
    mode = "RGBA" if image_format == "PNG" else "RGB"
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, image_format, **save_options)
    out.seek(0)
    return out


def jpeg_with_orientation(orientation, size=(800, 400)):
    """A JPEG of ``size`` whose EXIF says to turn it (``orientation``, 1–8),
    with GPS-like metadata too: a left half red and a right half blue."""
    image = Image.new("RGB", size, (255, 0, 0))
    image.paste((0, 0, 255), (size[0] // 2, 0, size[0], size[1]))
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010E] = "secret description"  # ImageDescription
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), quality=95)
    out.seek(0)
    return out


def bomb_png(width, height):
    """A PNG whose header claims ``width`` × ``height`` pixels of one colour:
    a few kilobytes that would decode to width × height × 1 bytes."""
    out = io.BytesIO()
    Image.new("1", (width, height)).save(out, "PNG")
    out.seek(0)
    return out


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "GIF", "WEBP"])
def test_each_accepted_format_passes_with_its_size(image_format):
    info = imaging.inspect(encoded(image_format), MAX_PIXELS)

    assert info == imaging.ImageInfo(image_format, 64, 32)


def test_a_quarter_turned_jpeg_reports_its_displayed_size():
    assert imaging.inspect(jpeg_with_orientation(6), MAX_PIXELS) == imaging.ImageInfo(
        "JPEG", 400, 800
    )


def test_inspect_leaves_the_file_at_its_start():
    file = encoded("PNG")
    imaging.inspect(file, MAX_PIXELS)
    assert file.tell() == 0


def test_a_text_file_named_png_is_not_an_image():
    with pytest.raises(ClientError) as refused:
        imaging.inspect(io.BytesIO(b"just some text, named photo.png\n" * 10), MAX_PIXELS)
    assert (refused.value.code, refused.value.status) == ("NOT_AN_IMAGE", 400)


def test_a_truncated_png_is_not_an_image():
    data = encoded("PNG", size=(300, 300)).getvalue()
    with pytest.raises(ClientError) as refused:
        imaging.inspect(io.BytesIO(data[: len(data) // 2]), MAX_PIXELS)
    assert refused.value.code == "NOT_AN_IMAGE"


def test_another_image_format_is_refused():
    with pytest.raises(ClientError) as refused:
        imaging.inspect(encoded("BMP"), MAX_PIXELS)
    assert refused.value.code == "NOT_AN_IMAGE"


def test_a_decompression_bomb_is_refused_from_its_header():
    bomb = bomb_png(10_000, 10_000)  # 100 Mpx in a few kB
    assert len(bomb.getvalue()) < 100_000

    with pytest.raises(ClientError) as refused:
        imaging.inspect(bomb, MAX_PIXELS)
    assert (refused.value.code, refused.value.status) == ("IMAGE_TOO_LARGE", 413)


def test_a_bomb_beyond_pillows_own_limit_is_refused_the_same_way():
    with pytest.raises(ClientError) as refused:
        imaging.inspect(bomb_png(20_000, 20_000), MAX_PIXELS)
    assert refused.value.code == "IMAGE_TOO_LARGE"


def test_the_pixel_limit_is_inclusive():
    assert imaging.inspect(encoded("PNG", size=(100, 50)), 5000).width == 100
    with pytest.raises(ClientError):
        imaging.inspect(encoded("PNG", size=(100, 51)), 5000)


def test_a_thumbnail_fits_480_pixels_and_keeps_the_aspect_ratio():
    data, width, height, extension = imaging.make_thumbnail(
        encoded("PNG", size=(1200, 300)), MAX_PIXELS
    )

    assert (width, height, extension) == (480, 120, "png")
    assert Image.open(io.BytesIO(data)).size == (480, 120)


def test_a_small_image_is_never_enlarged():
    _, width, height, _ = imaging.make_thumbnail(encoded("JPEG", size=(100, 80)), MAX_PIXELS)
    assert (width, height) == (100, 80)


def test_a_jpeg_thumbnail_is_turned_upright_and_has_no_metadata():
    data, width, height, extension = imaging.make_thumbnail(jpeg_with_orientation(6), MAX_PIXELS)

    assert (width, height, extension) == (240, 480, "jpg")
    thumb = Image.open(io.BytesIO(data))
    # Orientation 6 is turned 90° clockwise for display: the left (red)
    # half ends on top, the right (blue) half at the bottom.
    top, bottom = thumb.getpixel((120, 60)), thumb.getpixel((120, 420))
    assert top[0] > 200 and top[2] < 60, top
    assert bottom[2] > 200 and bottom[0] < 60, bottom
    assert not thumb.getexif()
    assert "icc_profile" not in thumb.info and "exif" not in thumb.info


def test_a_png_with_text_chunks_and_a_palette_loses_the_text_and_keeps_transparency():
    from PIL import PngImagePlugin

    source = Image.new("P", (600, 600), 0)
    source.info["transparency"] = 0
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "secret")
    out = io.BytesIO()
    source.save(out, "PNG", pnginfo=text, transparency=0)
    out.seek(0)

    data, width, height, extension = imaging.make_thumbnail(out, MAX_PIXELS)

    thumb = Image.open(io.BytesIO(data))
    assert (width, height, extension) == (480, 480, "png")
    assert "Comment" not in thumb.info
    assert thumb.mode == "RGBA" and thumb.getpixel((10, 10))[3] == 0


def test_an_image_broken_past_its_header_cannot_be_processed():
    data = encoded("JPEG", size=(600, 600), color=(10, 200, 10)).getvalue()
    with pytest.raises(imaging.CannotProcess):
        imaging.make_thumbnail(io.BytesIO(data[:200]), MAX_PIXELS)


def test_make_thumbnail_checks_the_pixel_limit_again():
    with pytest.raises(imaging.CannotProcess):
        imaging.make_thumbnail(bomb_png(10_000, 10_000), MAX_PIXELS)


def srgb_from_display_p3(color):
    """What an 8-bit Display P3 ``color`` (r, g, b) is in sRGB, worked out
    with P3_TO_SRGB (both spaces share the sRGB transfer curve), clipped to
    sRGB's gamut: a tuple of three ints."""

    def linear(c):
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    def encode(c):
        c = min(max(c, 0.0), 1.0)
        return round(255 * (12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055))

    rgb = [linear(c) for c in color]
    return tuple(encode(sum(m * c for m, c in zip(row, rgb, strict=True))) for row in P3_TO_SRGB)


def tagged(image_format, mode, color, profile, size=(600, 300)):
    """An image of one ``color`` in ``mode``, encoded in ``image_format``
    with the ICC ``profile`` (bytes) embedded: a BytesIO at 0."""
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, image_format, icc_profile=profile)
    out.seek(0)
    return out


def close_to(actual, expected, tolerance):
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def test_a_display_p3_image_is_converted_to_srgb():
    color = (200, 100, 50)
    expected = srgb_from_display_p3(color)
    assert expected == (215, 93, 31)  # more saturated in sRGB's numbers

    data, width, height, extension = imaging.make_thumbnail(
        tagged("PNG", "RGB", color, DISPLAY_P3), MAX_PIXELS
    )

    thumb = Image.open(io.BytesIO(data))
    assert (width, height, extension) == (480, 240, "png")
    assert "icc_profile" not in thumb.info
    assert close_to(thumb.getpixel((100, 100)), expected, 1), thumb.getpixel((100, 100))


def test_a_display_p3_jpeg_stays_a_jpeg_in_srgb():
    color = (60, 160, 90)

    data, _, _, extension = imaging.make_thumbnail(
        tagged("JPEG", "RGB", color, DISPLAY_P3), MAX_PIXELS
    )

    thumb = Image.open(io.BytesIO(data))
    assert extension == "jpg" and "icc_profile" not in thumb.info
    # JPEG's own rounding on a flat colour is a step or two.
    assert close_to(thumb.getpixel((100, 100)), srgb_from_display_p3(color), 3)


def test_a_display_p3_image_keeps_its_transparency():
    data, *_ = imaging.make_thumbnail(
        tagged("PNG", "RGBA", (200, 100, 50, 128), DISPLAY_P3), MAX_PIXELS
    )

    pixel = Image.open(io.BytesIO(data)).getpixel((100, 100))
    assert pixel[3] == 128
    assert close_to(pixel[:3], srgb_from_display_p3((200, 100, 50)), 1), pixel


def test_an_srgb_image_keeps_its_colours():
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    color = (200, 100, 50)

    data, *_ = imaging.make_thumbnail(tagged("PNG", "RGB", color, srgb), MAX_PIXELS)

    assert close_to(Image.open(io.BytesIO(data)).getpixel((100, 100)), color, 1)


def test_a_broken_profile_is_ignored_and_the_pixels_taken_as_srgb(caplog):
    color = (200, 100, 50)

    data, width, _, _ = imaging.make_thumbnail(
        tagged("PNG", "RGB", color, b"not a colour profile"), MAX_PIXELS
    )

    thumb = Image.open(io.BytesIO(data))
    assert width == 480 and "icc_profile" not in thumb.info
    assert thumb.getpixel((100, 100)) == color
    assert "Colour profile not applied" in caplog.text


def test_inspecting_a_png_never_decodes_its_pixels(monkeypatch):
    # Pillow's getexif() loads a PNG whose eXIf chunk is missing or comes
    # after its data: 200 MB for 50 Mpx of RGBA, in the upload's request.
    def no_decoding(self):
        raise AssertionError("the PNG was decoded")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", no_decoding)
    info = imaging.inspect(encoded("PNG", size=(300, 200)), MAX_PIXELS)
    assert info == imaging.ImageInfo("PNG", 300, 200)


def test_a_webp_has_a_lower_pixel_limit(settings):
    settings.CHAT_UPLOAD_MAX_PIXELS_WEBP = 2000
    with pytest.raises(ClientError) as refused:
        imaging.inspect(encoded("WEBP", size=(50, 41)), MAX_PIXELS)
    assert refused.value.code == "IMAGE_TOO_LARGE"
    assert imaging.inspect(encoded("PNG", size=(50, 41)), MAX_PIXELS).width == 50
    with pytest.raises(imaging.CannotProcess):
        imaging.make_thumbnail(encoded("WEBP", size=(50, 41)), MAX_PIXELS)


@pytest.mark.parametrize(
    "kind, pixels, bound_mb",
    [
        # Decoded at 1/8 of its size: a few MB, where the full decode and
        # its upright copy took 8 bytes a pixel (about 200 MB here).
        ("JPEG RGB", 24_000_000, 40),
        # Decoded whole once (4 bytes a pixel, 48 MB), then reduced in
        # bands; a second full-size copy took 12 bytes a pixel (146 MB).
        ("PNG RGBA", 12_000_000, 72),
    ],
)
def test_a_large_images_thumbnail_stays_within_its_memory_bound(tmp_path, kind, pixels, bound_mb):
    path = tmp_path / "large"
    path.write_bytes(image_memory.worst_image(kind, pixels))
    result = image_memory.measure(path, MAX_PIXELS)
    assert result["size"] == [360, 480]
    assert result["peak_kib"] * 1024 < bound_mb * 1_000_000, result


def test_a_reduced_image_keeps_its_orientation_profile_and_transparency():
    image = Image.new("RGBA", (4000, 3000), (200, 30, 30, 128))
    image.paste((0, 0, 255, 0), (0, 0, 2000, 3000))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    image.save(out, "PNG", exif=exif.tobytes(), icc_profile=DISPLAY_P3)
    out.seek(0)

    data, width, height, extension = imaging.make_thumbnail(out, MAX_PIXELS)

    assert (width, height, extension) == (360, 480, "png")
    with Image.open(io.BytesIO(data)) as thumbnail:
        assert thumbnail.mode == "RGBA"
        # Turned a quarter clockwise: the transparent left half is on top.
        assert thumbnail.getpixel((180, 100))[3] == 0
        assert thumbnail.getpixel((180, 380))[3] == 128
