"""chat/images/metadata.py: an original's metadata removed, its pixels, colour
profile and orientation kept, in each accepted format."""

import io

import pytest
from PIL import Image, ImageChops, ImageCms, PngImagePlugin

from chat.images import metadata
from tests.images.test_imaging import DISPLAY_P3

GPS_IFD = 0x8825
SECRET = b"48.8584 N secret-serial-12345"


def exif_with_gps(orientation=6):
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0131] = SECRET.decode()  # Software, standing for any text tag
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (48.0, 51.0, 30.24), 3: "E", 4: (2.0, 17.0, 40.2)})
    return exif.tobytes()


def picture(mode="RGB", size=(96, 64)):
    """An image with detail in it: a gradient, and a block of another colour."""
    image = Image.linear_gradient("L").resize(size).convert(mode)
    image.paste((10, 200, 30) if mode.startswith("RGB") else 200, (8, 8, 40, 30))
    return image


def decoded(data):
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.copy(), dict(image.info), image.getexif()


def assert_same_pixels(original, cleaned):
    a, b = decoded(original)[0], decoded(cleaned)[0]
    assert a.size == b.size and a.mode == b.mode
    assert ImageChops.difference(a.convert("RGBA"), b.convert("RGBA")).getbbox() is None


def xmp_segment():
    payload = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>" + SECRET + b"</x:xmpmeta>"
    return b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload


def jpeg(progressive=False, restart=False, orientation=6):
    out = io.BytesIO()
    options = {"quality": 90, "exif": exif_with_gps(orientation), "icc_profile": DISPLAY_P3}
    if progressive:
        options["progressive"] = True
    if restart:
        options["restart_marker_blocks"] = 1
    picture().save(out, "JPEG", **options)
    data = out.getvalue()
    # An XMP packet and a comment after the EXIF, and a second image after
    # the first one's end, as MPF previews and gain maps are.
    comment = b"\xff\xfe" + (len(SECRET) + 2).to_bytes(2, "big") + SECRET
    return data[:2] + xmp_segment() + comment + data[2:] + data


@pytest.mark.parametrize("progressive", [False, True])
@pytest.mark.parametrize("restart", [False, True])
def test_a_jpeg_loses_gps_xmp_comments_and_trailing_images_and_keeps_the_rest(progressive, restart):
    original = jpeg(progressive=progressive, restart=restart)

    assert SECRET in original
    cleaned = metadata.stripped(original, "JPEG")

    _, info, exif = decoded(cleaned)
    assert SECRET not in cleaned
    assert b"PhoneMaker" not in cleaned
    assert exif.get_ifd(GPS_IFD) == {}
    assert dict(exif) == {0x0112: 6}
    assert info["icc_profile"] == DISPLAY_P3
    assert cleaned.endswith(b"\xff\xd9") and cleaned.count(b"\xff\xd8") == 1
    assert_same_pixels(original, cleaned)


def test_an_upright_jpeg_keeps_no_exif_at_all():
    cleaned = metadata.stripped(jpeg(orientation=1), "JPEG")
    assert b"Exif\x00\x00" not in cleaned
    assert dict(decoded(cleaned)[2]) == {}


def test_the_orientation_follows_jfifs_header():
    out = io.BytesIO()
    picture().save(out, "JPEG", exif=exif_with_gps(8))
    cleaned = metadata.stripped(out.getvalue(), "JPEG")
    assert cleaned[2:4] == b"\xff\xe0" and cleaned[6:11] == b"JFIF\x00"
    assert metadata.read_orientation(cleaned, "JPEG") == 8


def png(mode="RGBA", exif_after_data=False):
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", SECRET.decode())
    text.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>%s</x:xmpmeta>" % SECRET.decode())
    out = io.BytesIO()
    image = picture(mode)
    if exif_after_data:
        image.save(out, "PNG", pnginfo=text, icc_profile=DISPLAY_P3)
        data = out.getvalue()
        exif = exif_with_gps()[len(b"Exif\x00\x00") :]
        chunk = metadata._png_chunk(b"eXIf", exif)
        return data[:-12] + chunk + data[-12:]
    image.save(out, "PNG", pnginfo=text, icc_profile=DISPLAY_P3, exif=exif_with_gps())
    return out.getvalue()


@pytest.mark.parametrize("exif_after_data", [False, True])
def test_a_png_loses_its_text_and_gps_and_keeps_profile_orientation_and_pixels(exif_after_data):
    original = png(exif_after_data=exif_after_data)

    assert SECRET in original
    cleaned = metadata.stripped(original, "PNG")

    _, info, exif = decoded(cleaned)
    assert SECRET not in cleaned
    assert exif.get_ifd(GPS_IFD) == {}
    assert dict(exif) == {0x0112: 6}
    assert info["icc_profile"] == DISPLAY_P3
    assert_same_pixels(original, cleaned)


def test_the_orientation_of_a_png_is_read_without_decoding_it():
    assert metadata.read_orientation(png(exif_after_data=True), "PNG") == 6


def test_a_webp_loses_exif_and_xmp_and_keeps_profile_and_pixels():
    out = io.BytesIO()
    picture("RGBA").save(
        out,
        "WEBP",
        lossless=True,
        exif=exif_with_gps(),
        xmp=b"<x:xmpmeta>" + SECRET + b"</x:xmpmeta>",
        icc_profile=DISPLAY_P3,
    )
    original = out.getvalue()

    assert SECRET in original
    cleaned = metadata.stripped(original, "WEBP")

    _, info, exif = decoded(cleaned)
    assert SECRET not in cleaned
    assert dict(exif) == {0x0112: 6}
    assert info["icc_profile"] == DISPLAY_P3
    assert_same_pixels(original, cleaned)


def test_an_animated_gif_loses_its_comment_and_xmp_and_keeps_its_frames():
    frames = [picture("P"), picture("P").transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    out = io.BytesIO()
    frames[0].save(
        out, "GIF", save_all=True, append_images=frames[1:], loop=0, comment=SECRET, duration=100
    )
    data = out.getvalue()
    # An XMP application extension after the header, as editors write it.
    xmp = b"\x21\xff\x0bXMP DataXMP" + bytes([len(SECRET)]) + SECRET + b"\x00"
    at = data.index(b"\x21\xff\x0bNETSCAPE2.0")
    original = data[:at] + xmp + data[at:]

    assert SECRET in original
    cleaned = metadata.stripped(original, "GIF")

    assert SECRET not in cleaned
    with Image.open(io.BytesIO(cleaned)) as image:
        assert (image.n_frames, image.info.get("loop")) == (2, 0)
    assert_same_pixels(original, cleaned)


def test_a_jpeg_cut_short_is_broken():
    with pytest.raises(metadata.BrokenImage):
        metadata.stripped(jpeg()[:200], "JPEG")


def test_the_kept_profile_is_one_littlecms_reads():
    # The thumbnails' colour conversion (ImageCms) must still read it.
    profile = decoded(metadata.stripped(jpeg(), "JPEG"))[1]["icc_profile"]
    assert ImageCms.ImageCmsProfile(io.BytesIO(profile)).profile.profile_description
