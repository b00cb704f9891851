"""Draw this recipe's launch banners (one per language) with Pillow.

    python docs/recipes/all-networks/make_banners.py

Square (1080 x 1080) flat-colour PNGs: a square image is taken as is by every network,
Instagram's aspect-ratio rule included, and flat colour keeps each file a few KB.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

BANNERS = {
    "en": "OLIVAR 3.0 IS HERE",
    "fr": "VOICI OLIVAR 3.0",
}


def main() -> None:
    folder = Path(__file__).with_name("img")
    folder.mkdir(exist_ok=True)
    font = ImageFont.load_default(size=72)
    for language, words in BANNERS.items():
        image = Image.new("P", (1080, 1080), 0)
        image.putpalette([250, 246, 232, 86, 107, 47])
        draw = ImageDraw.Draw(image)
        draw.rectangle((40, 40, 1039, 1039), outline=1, width=16)
        draw.text((540, 540), words, fill=1, font=font, anchor="mm")
        image.save(folder / f"launch.{language}.png", optimize=True)


if __name__ == "__main__":
    main()
