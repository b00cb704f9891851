"""Draw this recipe's banners (one per language) with Pillow.

    python docs/recipes/banner-per-language/make_banners.py

Each is a small flat-colour PNG with the sale's wording in its language, a few KB.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

BANNERS = {
    "en": "SPRING SALE -20%",
    "es": "REBAJAS DE PRIMAVERA -20%",
    "fr": "SOLDES DE PRINTEMPS -20%",
}


def main() -> None:
    folder = Path(__file__).with_name("img")
    folder.mkdir(exist_ok=True)
    font = ImageFont.load_default(size=28)
    for language, words in BANNERS.items():
        image = Image.new("P", (480, 160), 0)
        image.putpalette([255, 255, 255, 22, 120, 60])
        draw = ImageDraw.Draw(image)
        draw.rectangle((8, 8, 471, 151), outline=1, width=4)
        draw.text((240, 80), words, fill=1, font=font, anchor="mm")
        image.save(folder / f"banner.{language}.png", optimize=True)


if __name__ == "__main__":
    main()
