"""Product pictures for the demo catalog, drawn with Pillow — nothing is downloaded.

Each picture is a 400x400 PNG: a coloured background, a simple shape and a short label.
Drawing is deterministic, so loading the demo twice produces the same bytes (and the
import keeps the stored images instead of replacing them).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import Image, ImageDraw, ImageFont

SIZE = 400
Shape = Literal["leaf", "bean", "cup", "book", "card", "box", "pot"]


@dataclass(frozen=True)
class Picture:
    background: str
    color: str
    shape: Shape
    label: str


# File name (as referenced in catalog.json, under images/) → what to draw.
PICTURES: dict[str, Picture] = {
    "sencha.png": Picture("#dcedc8", "#558b2f", "leaf", "SENCHA"),
    "gyokuro.png": Picture("#c5e1a5", "#33691e", "leaf", "GYOKURO"),
    "ivan-chai.png": Picture("#f8bbd0", "#ad1457", "leaf", "IVAN-CHAI"),
    "earl-grey.png": Picture("#d7ccc8", "#4e342e", "leaf", "EARL GREY"),
    "espresso.png": Picture("#bcaaa4", "#3e2723", "bean", "ESPRESSO"),
    "espresso-bag.png": Picture("#efebe9", "#5d4037", "box", "UTRO 250 g"),
    "ethiopia.png": Picture("#ffe0b2", "#e65100", "bean", "ETHIOPIA"),
    "mug.png": Picture("#bbdefb", "#0d47a1", "cup", "TOM & JERRY"),
    "tetsubin.png": Picture("#cfd8dc", "#263238", "pot", "TETSUBIN"),
    "brewing-guide.png": Picture("#fff9c4", "#f57f17", "book", "BREWING GUIDE"),
    "gift-card.png": Picture("#e1bee7", "#6a1b9a", "card", "GIFT CARD"),
    "tea-box.png": Picture("#b2dfdb", "#00695c", "box", "TEA BOX"),
    "coffee-club.png": Picture("#ffccbc", "#bf360c", "cup", "COFFEE CLUB"),
}


def _draw_shape(draw: ImageDraw.ImageDraw, shape: Shape, color: str) -> None:
    c = SIZE // 2
    if shape == "leaf":
        draw.ellipse((c - 70, c - 130, c + 70, c + 60), fill=color)
        draw.line((c, c - 120, c, c + 90), fill="white", width=6)
    elif shape == "bean":
        draw.ellipse((c - 80, c - 120, c + 80, c + 60), fill=color)
        draw.arc((c - 30, c - 120, c + 30, c + 60), 100, 260, fill="white", width=8)
    elif shape == "cup":
        draw.rounded_rectangle((c - 80, c - 100, c + 60, c + 50), radius=20, fill=color)
        draw.ellipse((c + 40, c - 70, c + 110, c + 10), outline=color, width=14)
    elif shape == "book":
        draw.rectangle((c - 90, c - 120, c + 90, c + 60), fill=color)
        draw.rectangle((c - 70, c - 100, c + 70, c - 70), fill="white")
    elif shape == "card":
        draw.rounded_rectangle((c - 120, c - 90, c + 120, c + 50), radius=18, fill=color)
        draw.rectangle((c - 120, c - 60, c + 120, c - 35), fill="white")
    elif shape == "box":
        draw.rectangle((c - 100, c - 90, c + 100, c + 60), fill=color)
        draw.line((c, c - 90, c, c + 60), fill="white", width=10)
        draw.line((c - 100, c - 20, c + 100, c - 20), fill="white", width=10)
    else:  # pot
        draw.ellipse((c - 100, c - 80, c + 100, c + 70), fill=color)
        draw.rectangle((c - 30, c - 110, c + 30, c - 80), fill=color)
        draw.line((c + 90, c - 10, c + 140, c - 60), fill=color, width=16)


def render(picture: Picture) -> bytes:
    """Draw one picture as PNG bytes."""
    image = Image.new("RGB", (SIZE, SIZE), picture.background)
    draw = ImageDraw.Draw(image)
    _draw_shape(draw, picture.shape, picture.color)
    font = ImageFont.load_default(size=34)
    draw.text((SIZE // 2, SIZE - 70), picture.label, fill=picture.color, font=font, anchor="mm")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def write_pictures(directory: Path) -> list[Path]:
    """Render every demo picture into ``directory``; return the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, picture in PICTURES.items():
        path = directory / name
        path.write_bytes(render(picture))
        written.append(path)
    return written
