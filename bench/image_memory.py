"""The peak memory of the thumbnail job for the worst images the upload
limits let through.

``python -m bench.image_memory`` makes, in a scratch folder, one image of
each kind below at the most pixels its format may have
(``chat.images.imaging.pixel_limit`` of ``CHAT_UPLOAD_MAX_PIXELS``; 4:3, turned a
quarter by its EXIF orientation, with an ICC profile), checks that each is
within ``CHAT_UPLOAD_MAX_BYTES``, and runs ``chat.images.imaging.make_thumbnail`` on
each in a fresh Python process, reporting how far the job raised that
process's peak resident memory (``VmHWM``, Linux) above what Django's
imports had already taken, in MB. The thumbnail of a decoded image is what
the job holds, so the kinds are the decoded sizes that differ: RGB and CMYK
JPEG (and a progressive one, whose decoder keeps every coefficient of the
full image whatever the scale), RGB and RGBA PNG, a palette GIF, and RGBA
WebP.
``--pixels`` and ``--kinds`` measure other sizes and fewer kinds.
"""

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent

# The child: Django set up, then one thumbnail, reporting its peak rise.
# Linux keeps a process's peak (VmHWM, and ru_maxrss with it) across the
# fork and exec that start it, so the parent's own peak, from making the
# images, would hide the child's: the child resets its peak to its
# current size first (writing 5 to /proc/self/clear_refs, Linux 4.0+).
MEASURE = """
import json, sys
import django
django.setup()
from chat.images import imaging

def peak_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")
before = peak_kib()
with open(sys.argv[1], "rb") as file:
    data, width, height, extension = imaging.make_thumbnail(file, int(sys.argv[2]))
print(json.dumps({"peak_kib": peak_kib() - before, "size": [width, height]}))
"""

KINDS = (
    "JPEG RGB",
    "JPEG RGB progressive",
    "JPEG CMYK",
    "PNG RGB",
    "PNG RGBA",
    "GIF P",
    "WEBP RGBA",
)


def worst_image(kind, pixels):
    """The encoded bytes of a ``kind`` (one of ``KINDS``) image of at most
    ``pixels`` pixels, 4:3, with EXIF orientation 6 and an sRGB profile."""
    from PIL import Image, ImageCms

    width = int((pixels * 4 / 3) ** 0.5)
    height = pixels // width
    image_format, mode, *variant = kind.split()
    # A smooth gradient: the decoded size is the same for any content,
    # and this one compresses far under the byte limit.
    grey = Image.linear_gradient("L").resize((width, height))
    if mode == "P":
        image = grey.convert("P")
    else:
        image = Image.merge(mode, [grey] * {"RGB": 3, "RGBA": 4, "CMYK": 4}[mode])
    del grey
    exif = Image.Exif()
    exif[0x0112] = 6
    options = {"exif": exif.tobytes()}
    if mode not in ("CMYK", "P"):
        options["icc_profile"] = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    if image_format == "JPEG":
        options["quality"] = 85
        options["progressive"] = "progressive" in variant
    out = io.BytesIO()
    image.save(out, image_format, **options)
    return out.getvalue()


def measure(path, max_pixels):
    """Run the thumbnail of the image at ``path`` in a fresh process;
    returns its ``{"peak_kib": int, "size": [w, h]}``."""
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="chat.settings")
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path), str(max_pixels)],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None):
    """Measure every kind; print one line each. Returns 0."""
    from chat import conf
    from chat.images import imaging

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pixels", type=int, default=conf.DEFAULTS["CHAT_UPLOAD_MAX_PIXELS"])
    parser.add_argument("--kinds", nargs="*", default=list(KINDS))
    args = parser.parse_args(argv)
    max_bytes = conf.DEFAULTS["CHAT_UPLOAD_MAX_BYTES"]
    with tempfile.TemporaryDirectory(prefix="image-memory-") as folder:
        for kind in args.kinds:
            pixels = imaging.pixel_limit(kind.split()[0], args.pixels)
            data = worst_image(kind, pixels)
            path = Path(folder) / kind.replace(" ", "-")
            path.write_bytes(data)
            result = measure(path, args.pixels)
            print(
                "%-20s %5.1f Mpx %6.2f MiB file%s: thumbnail %s, peak +%.0f MB"
                % (
                    kind,
                    pixels / 1e6,
                    len(data) / 1048576,
                    "" if len(data) <= max_bytes else " (over the byte limit)",
                    "x".join(map(str, result["size"])),
                    result["peak_kib"] * 1024 / 1e6,
                )
            )
            path.unlink()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chat.settings")
    import django

    django.setup()
    sys.exit(main())
