"""Product images for the demo city, drawn locally with Pillow.

Each image is a soft gradient in a colour from the category's palette with a flat illustration
hinting at the category (a fruit, a phone, a ticket ...). No fonts and no text, so nothing beyond
Pillow is needed. The same seed always gives the same bytes, so a seed keeps what it drew in a
cache on disk (`ImageCache`) and the next seed on the machine reads it back: drawing the ~270
catalogue images took a quarter of a small city's seed.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import math
import os
import random
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

RGB = tuple[int, int, int]
RGBA = tuple[int, int, int, int]

# Base colours per consumption family; backgrounds are light tints of them.
PALETTES: dict[str, tuple[RGB, ...]] = {
    "fresh": ((76, 175, 80), (229, 57, 53), (124, 179, 66), (244, 81, 30), (46, 160, 90)),
    "groceries": ((249, 168, 37), (255, 193, 7), (230, 126, 34), (214, 158, 46), (240, 150, 60)),
    "electronics": ((30, 136, 229), (84, 110, 122), (57, 73, 171), (96, 125, 139), (3, 155, 229)),
    "health": ((0, 150, 136), (38, 166, 154), (0, 121, 107), (77, 182, 172)),
    "culture": ((126, 87, 194), (156, 39, 176), (94, 53, 177), (171, 71, 188)),
    "education": ((251, 140, 0), (245, 124, 0), (255, 167, 38), (239, 108, 0)),
    "medical": ((66, 165, 245), (100, 181, 246), (41, 182, 246), (79, 195, 247)),
    "neutral": ((120, 144, 156), (141, 110, 99), (158, 158, 158), (121, 134, 203)),
}

FAMILIES: dict[str, str] = {
    "fresh_food": "fresh",
    "groceries": "groceries",
    "smartphones": "electronics",
    "digital_home": "electronics",
    "wearables": "electronics",
    "software": "electronics",
    "telecom_services": "electronics",
    "smart_home": "electronics",
    "security": "electronics",
    "smart_driving": "electronics",
    "health_food": "health",
    "fitness": "health",
    "tickets": "culture",
    "books": "culture",
    "courses": "education",
    "medical_devices": "medical",
    "consultations": "medical",
}

_SUPERSAMPLE = 2  # drawn at twice the size and reduced, for smooth edges
WHITE: RGB = (255, 255, 255)
INK: RGB = (45, 52, 64)


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    """``a`` moved a fraction ``t`` of the way to ``b``."""
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _alpha(c: RGB, a: int) -> RGBA:
    return (c[0], c[1], c[2], a)


def _jitter(c: RGB, rng: random.Random, hue: float = 0.025) -> RGB:
    h, s, v = colorsys.rgb_to_hsv(c[0] / 255, c[1] / 255, c[2] / 255)
    h = (h + rng.uniform(-hue, hue)) % 1.0
    s = min(1.0, max(0.0, s * rng.uniform(0.9, 1.05)))
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return (round(r * 255), round(g * 255), round(b * 255))


@dataclass(frozen=True)
class _Scene:
    """Where to draw (a square of side ``s`` centred on ``cx, cy``) and with which colours."""

    draw: ImageDraw.ImageDraw
    cx: float
    cy: float
    s: float
    main: RGB
    dark: RGB
    accent: RGB
    bg_at: Callable[[float, float], RGB]  # colour already drawn at a pixel
    rng: random.Random

    def p(self, x: float, y: float) -> tuple[float, float]:
        """A point given in units of 1/100 of the illustration, origin at its centre."""
        return (self.cx + x * self.s / 100, self.cy + y * self.s / 100)

    def box(self, x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
        a, b = self.p(x0, y0)
        c, d = self.p(x1, y1)
        return (a, b, c, d)

    def u(self, n: float) -> int:
        """A length (line width, radius) in illustration units, in pixels."""
        return max(1, round(n * self.s / 100))

    def poly(self, points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
        return [self.p(x, y) for x, y in points]

    def shadow(self, y: float, half_width: float) -> None:
        self.draw.ellipse(
            self.box(-half_width, y - 4, half_width, y + 4), fill=_alpha(self.dark, 45)
        )


def _ellipse_points(
    cx: float, cy: float, rx: float, ry: float, angle: float, n: int = 28
) -> list[tuple[float, float]]:
    ca, sa = math.cos(angle), math.sin(angle)
    points = []
    for i in range(n):
        t = 2 * math.pi * i / n
        x, y = rx * math.cos(t), ry * math.sin(t)
        points.append((cx + x * ca - y * sa, cy + x * sa + y * ca))
    return points


def _fruit(sc: _Scene) -> None:
    d = sc.draw
    sc.shadow(42, 30)
    fruit = sc.rng.choice(((220, 53, 47), (245, 124, 30), (250, 190, 40), (140, 190, 60)))
    d.ellipse(sc.box(-35, -28, 35, 40), fill=fruit)
    d.ellipse(sc.box(-26, -18, 34, 38), fill=_mix(fruit, (0, 0, 0), 0.12))
    d.ellipse(sc.box(-35, -28, 28, 34), fill=fruit)
    d.ellipse(sc.box(-22, -16, -10, -4), fill=_alpha(WHITE, 110))
    d.line([sc.p(0, -26), sc.p(3, -40)], fill=(110, 76, 50), width=sc.u(3.5))
    leaf = (67, 160, 71) if fruit[1] < 180 else (46, 125, 50)
    d.polygon(sc.poly(_ellipse_points(15, -38, 14, 6, -0.5)), fill=leaf)
    d.line([sc.p(5, -33), sc.p(25, -43)], fill=_mix(leaf, WHITE, 0.35), width=sc.u(1))


def _grocery_box(sc: _Scene) -> None:
    d = sc.draw
    sc.shadow(42, 40)
    top, side = _mix(sc.main, WHITE, 0.3), _mix(sc.main, (0, 0, 0), 0.2)
    d.polygon(sc.poly([(-34, -12), (26, -12), (38, -26), (-22, -26)]), fill=top)
    d.polygon(sc.poly([(26, -12), (38, -26), (38, 26), (26, 40)]), fill=side)
    d.rectangle(sc.box(-34, -12, 26, 40), fill=sc.main)
    d.polygon(sc.poly([(-10, -12), (2, -12), (14, -26), (2, -26)]), fill=_alpha(WHITE, 90))
    d.rounded_rectangle(sc.box(-24, 4, 16, 28), radius=sc.u(3), fill=WHITE)
    for i, x in enumerate((-14, -4, 6)):  # three grains on the label
        d.ellipse(sc.box(x - 3, 10 + i % 2 * 2, x + 3, 22 + i % 2 * 2), fill=sc.accent)


def _phone(sc: _Scene) -> None:
    d = sc.draw
    sc.shadow(46, 26)
    d.rounded_rectangle(sc.box(-24, -44, 24, 44), radius=sc.u(9), fill=INK)
    d.rounded_rectangle(sc.box(-20, -39, 20, 39), radius=sc.u(6), fill=sc.main)
    d.rounded_rectangle(sc.box(-20, -39, 20, 0), radius=sc.u(6), fill=_mix(sc.main, WHITE, 0.2))
    d.rectangle(sc.box(-20, -10, 20, 0), fill=_mix(sc.main, WHITE, 0.2))
    d.ellipse(sc.box(-2, -36, 2, -32), fill=INK)
    for row in range(3):
        for col in range(3):
            x, y = -14 + col * 11, -24 + row * 12
            d.rounded_rectangle(sc.box(x, y, x + 7, y + 7), radius=sc.u(2), fill=_alpha(WHITE, 200))
    d.rounded_rectangle(sc.box(-8, 31, 8, 33), radius=sc.u(1), fill=_alpha(WHITE, 160))


def _television(sc: _Scene) -> None:
    d = sc.draw
    sc.shadow(40, 30)
    d.polygon(sc.poly([(-5, 18), (5, 18), (10, 36), (-10, 36)]), fill=sc.dark)
    d.rounded_rectangle(sc.box(-22, 34, 22, 39), radius=sc.u(2), fill=sc.dark)
    d.rounded_rectangle(sc.box(-44, -32, 44, 22), radius=sc.u(4), fill=INK)
    d.rectangle(sc.box(-40, -28, 40, 18), fill=sc.main)
    d.polygon(sc.poly([(-40, 18), (10, -28), (40, -28), (40, 18)]), fill=_mix(sc.main, WHITE, 0.15))
    d.polygon(sc.poly([(-6, -14), (-6, 6), (12, -4)]), fill=WHITE)


def _watch(sc: _Scene) -> None:
    d = sc.draw
    sc.shadow(48, 16)
    d.rounded_rectangle(sc.box(-13, -46, 13, 46), radius=sc.u(5), fill=sc.dark)
    d.rounded_rectangle(sc.box(22, -6, 27, 6), radius=sc.u(2), fill=INK)
    d.rounded_rectangle(sc.box(-24, -24, 24, 24), radius=sc.u(11), fill=INK)
    d.rounded_rectangle(sc.box(-19, -19, 19, 19), radius=sc.u(8), fill=sc.main)
    d.arc(sc.box(-13, -13, 13, 13), 0, 360, fill=_alpha(WHITE, 70), width=sc.u(3.5))
    end = 90 + sc.rng.randint(120, 300)
    d.arc(sc.box(-13, -13, 13, 13), -90, end - 90, fill=sc.accent, width=sc.u(3.5))


def _app_window(sc: _Scene) -> None:
    d = sc.draw
    sc.shadow(40, 40)
    d.rounded_rectangle(sc.box(-42, -32, 42, 34), radius=sc.u(6), fill=sc.main)
    d.rounded_rectangle(sc.box(-39, -20, 39, 31), radius=sc.u(3), fill=WHITE)
    for i, c in enumerate(((239, 83, 80), (255, 202, 40), (102, 187, 106))):
        x = -34 + i * 8
        d.ellipse(sc.box(x, -29, x + 5, -24), fill=c)
    for i in range(5):
        indent = (0, 6, 12, 6, 0)[i]
        length = sc.rng.randint(22, 48)
        y = -13 + i * 8.5
        x0 = -32 + indent
        color = sc.main if i % 2 == 0 else _mix(sc.accent, WHITE, 0.2)
        d.rounded_rectangle(sc.box(x0, y, min(x0 + length, 32), y + 4), radius=sc.u(2), fill=color)


def _signal(sc: _Scene) -> None:
    d = sc.draw
    sc.shadow(40, 36)
    for i in range(4):
        x = -34 + i * 15
        top = 22 - i * 16
        fill = sc.main if i < 3 else _mix(sc.main, WHITE, 0.45)
        d.rounded_rectangle(sc.box(x, top, x + 11, 36), radius=sc.u(3), fill=fill)
    for i, r in enumerate((7, 14, 21)):
        d.arc(
            sc.box(28 - r, -22 - r, 28 + r, -22 + r),
            225,
            315,
            fill=_alpha(sc.dark, 255 - i * 50),
            width=sc.u(4),
        )
    d.ellipse(sc.box(25, -25, 31, -19), fill=sc.dark)


def _house(sc: _Scene) -> None:
    d = sc.draw
    sc.shadow(42, 38)
    d.rectangle(sc.box(16, -34, 26, -10), fill=sc.dark)
    d.rectangle(sc.box(-30, -6, 30, 40), fill=WHITE)
    d.polygon(sc.poly([(-42, -2), (0, -38), (42, -2)]), fill=sc.main)
    d.rounded_rectangle(sc.box(-9, 14, 9, 40), radius=sc.u(3), fill=sc.dark)
    d.rectangle(sc.box(15, 6, 25, 16), fill=_mix(sc.accent, WHITE, 0.3))
    d.rectangle(sc.box(-25, 6, -15, 16), fill=_mix(sc.accent, WHITE, 0.3))
    for i, r in enumerate((6, 11)):  # a wifi sign in the gable
        d.arc(sc.box(-r, -12 - r, r, -12 + r), 225, 315, fill=WHITE, width=sc.u(2.5 - i * 0.5))
    d.ellipse(sc.box(-2, -14, 2, -10), fill=WHITE)


def _shield(sc: _Scene) -> None:
    d = sc.draw
    sc.shadow(44, 26)
    outline = [(0, -44), (36, -31), (34, 6), (20, 28), (0, 42), (-20, 28), (-34, 6), (-36, -31)]
    d.polygon(sc.poly(outline), fill=sc.main)
    inner = [(x * 0.78, y * 0.78 + 1) for x, y in outline]
    d.polygon(sc.poly(inner), fill=_mix(sc.main, WHITE, 0.25))
    d.polygon(sc.poly([(0, -44), (36, -31), (34, 6), (20, 28), (0, 42)]), fill=_alpha(sc.dark, 50))
    d.ellipse(sc.box(-8, -16, 8, 0), fill=WHITE)
    d.polygon(sc.poly([(-4, -4), (4, -4), (6, 18), (-6, 18)]), fill=WHITE)


def _car(sc: _Scene) -> None:
    d = sc.draw
    sc.shadow(38, 44)
    d.polygon(sc.poly([(-28, 0), (-16, -22), (16, -22), (30, 0)]), fill=sc.main)
    d.polygon(
        sc.poly([(-22, -1), (-13, -17), (-2, -17), (-2, -1)]), fill=_mix(sc.accent, WHITE, 0.55)
    )
    d.polygon(sc.poly([(2, -1), (2, -17), (13, -17), (24, -1)]), fill=_mix(sc.accent, WHITE, 0.55))
    d.rounded_rectangle(sc.box(-46, -3, 46, 24), radius=sc.u(8), fill=sc.main)
    d.rounded_rectangle(sc.box(38, 4, 46, 10), radius=sc.u(2), fill=(255, 213, 79))
    d.rounded_rectangle(sc.box(-46, 4, -40, 10), radius=sc.u(2), fill=(239, 83, 80))
    for x in (-26, 26):
        d.ellipse(sc.box(x - 11, 13, x + 11, 35), fill=INK)
        d.ellipse(sc.box(x - 4.5, 19.5, x + 4.5, 28.5), fill=_mix(sc.main, WHITE, 0.6))


def _bottle(sc: _Scene) -> None:
    d = sc.draw
    sc.shadow(44, 30)
    d.rounded_rectangle(sc.box(-15, -44, 15, -30), radius=sc.u(3), fill=sc.dark)
    d.rectangle(sc.box(-17, -32, 17, -26), fill=_mix(sc.dark, WHITE, 0.3))
    d.rounded_rectangle(sc.box(-27, -28, 27, 42), radius=sc.u(10), fill=sc.main)
    d.rectangle(sc.box(-27, -6, 27, 24), fill=WHITE)
    d.rounded_rectangle(sc.box(-15, 3, 15, 15), radius=sc.u(6), fill=sc.accent)
    d.rounded_rectangle(sc.box(0, 3, 15, 15), radius=sc.u(6), fill=_mix(sc.main, WHITE, 0.3))
    d.rectangle(sc.box(0, 3, 7, 15), fill=_mix(sc.main, WHITE, 0.3))
    d.rounded_rectangle(sc.box(-21, -22, -15, 36), radius=sc.u(3), fill=_alpha(WHITE, 70))


def _dumbbell(sc: _Scene) -> None:
    d = sc.draw
    sc.shadow(30, 44)
    d.rounded_rectangle(sc.box(-34, -3, 34, 3), radius=sc.u(2), fill=(144, 164, 174))
    for sign in (-1, 1):
        for (a, b), half_height, fill in (
            ((18, 29), 22, sc.main),
            ((30, 39), 15, sc.dark),
            ((40, 45), 4, INK),
        ):
            x0, x1 = _span(sign, a, b)
            d.rounded_rectangle(
                sc.box(x0, -half_height, x1, half_height), radius=sc.u(3), fill=fill
            )


def _span(sign: int, a: float, b: float) -> tuple[float, float]:
    """The x range ``a..b`` on the side given by ``sign``, as (x0, x1) with x0 < x1."""
    return (a, b) if sign > 0 else (-b, -a)


def _medical_cross(sc: _Scene) -> None:
    d = sc.draw
    d.rounded_rectangle(sc.box(-33, -31, 39, 41), radius=sc.u(12), fill=_alpha(sc.dark, 45))
    d.rounded_rectangle(sc.box(-36, -36, 36, 36), radius=sc.u(12), fill=WHITE)
    red = (229, 57, 53)
    d.rounded_rectangle(sc.box(-9, -24, 9, 24), radius=sc.u(3), fill=red)
    d.rounded_rectangle(sc.box(-24, -9, 24, 9), radius=sc.u(3), fill=red)
    d.line(
        sc.poly([(-30, 28), (-14, 28), (-9, 21), (-4, 33), (1, 28), (30, 28)]),
        fill=sc.main,
        width=sc.u(2.5),
        joint="curve",
    )


def _ticket(sc: _Scene) -> None:
    d = sc.draw
    notches = ((-46, 0, 7), (46, 0, 7), (18, -26, 5), (18, 26, 5))
    behind = [sc.bg_at(*sc.p(x, y)) for x, y, _ in notches]  # sampled before drawing over
    sc.shadow(34, 42)
    d.rounded_rectangle(sc.box(-46, -26, 46, 26), radius=sc.u(5), fill=sc.main)
    d.rectangle(sc.box(18, -26, 40, 26), fill=sc.dark)
    d.rounded_rectangle(sc.box(30, -26, 46, 26), radius=sc.u(5), fill=sc.dark)
    for (x, y, r), fill in zip(notches, behind, strict=True):
        d.ellipse(sc.box(x - r, y - r, x + r, y + r), fill=fill)
    for i in range(5):  # perforation
        y = -17 + i * 8
        d.rectangle(sc.box(17, y, 19, y + 4), fill=_alpha(WHITE, 170))
    star = [
        (
            -14 + (13 if i % 2 == 0 else 5.5) * math.cos(math.pi / 2 + i * math.pi / 5),
            -(13 if i % 2 == 0 else 5.5) * math.sin(math.pi / 2 + i * math.pi / 5),
        )
        for i in range(10)
    ]
    d.polygon(sc.poly(star), fill=WHITE)
    d.rounded_rectangle(sc.box(25, -10, 39, -6), radius=sc.u(2), fill=_alpha(WHITE, 180))
    d.rounded_rectangle(sc.box(25, 0, 35, 4), radius=sc.u(2), fill=_alpha(WHITE, 140))


def _book(sc: _Scene) -> None:
    d = sc.draw
    sc.shadow(44, 34)
    d.rounded_rectangle(sc.box(-24, -38, 34, 42), radius=sc.u(3), fill=(245, 240, 230))
    for y in range(-32, 40, 6):
        d.line([sc.p(28, y), sc.p(33, y)], fill=(215, 205, 190), width=sc.u(0.8))
    d.rounded_rectangle(sc.box(-32, -42, 28, 38), radius=sc.u(4), fill=sc.main)
    d.rectangle(sc.box(-32, -42, -22, 38), fill=sc.dark)
    d.rounded_rectangle(sc.box(-14, -28, 20, -12), radius=sc.u(2), fill=_alpha(WHITE, 220))
    d.rounded_rectangle(sc.box(-10, -4, 16, -1), radius=sc.u(1), fill=_alpha(WHITE, 150))
    d.polygon(sc.poly([(8, 38), (16, 38), (16, 50), (12, 46), (8, 50)]), fill=sc.accent)


def _mortarboard(sc: _Scene) -> None:
    d = sc.draw
    sc.shadow(38, 30)
    d.rectangle(sc.box(-24, -10, 24, 18), fill=sc.dark)
    d.ellipse(sc.box(-24, 10, 24, 26), fill=sc.dark)
    d.polygon(sc.poly([(0, -36), (48, -16), (0, 4), (-48, -16)]), fill=sc.main)
    d.polygon(sc.poly([(0, -36), (48, -16), (0, 4)]), fill=_alpha(WHITE, 40))
    d.line(sc.poly([(0, -16), (36, -12), (36, 12)]), fill=(255, 202, 40), width=sc.u(2))
    d.rounded_rectangle(sc.box(32, 10, 40, 24), radius=sc.u(2), fill=(255, 202, 40))
    d.ellipse(sc.box(-4, -20, 4, -12), fill=(255, 202, 40))


def _speech_bubble(sc: _Scene) -> None:
    d = sc.draw
    sc.shadow(44, 34)
    d.rounded_rectangle(sc.box(-39, -29, 45, 25), radius=sc.u(16), fill=_alpha(sc.dark, 40))
    d.polygon(sc.poly([(-22, 16), (-30, 38), (-4, 16)]), fill=sc.main)
    d.rounded_rectangle(sc.box(-42, -34, 42, 20), radius=sc.u(16), fill=sc.main)
    d.rounded_rectangle(sc.box(-5, -22, 5, 8), radius=sc.u(2), fill=WHITE)
    d.rounded_rectangle(sc.box(-15, -12, 15, -2), radius=sc.u(2), fill=WHITE)
    d.ellipse(sc.box(22, 24, 34, 36), fill=sc.dark)
    d.ellipse(sc.box(36, 34, 42, 40), fill=sc.dark)


def _parcel(sc: _Scene) -> None:
    d = sc.draw
    sc.shadow(42, 38)
    kraft = (196, 148, 98)
    d.rounded_rectangle(sc.box(-34, -26, 34, 38), radius=sc.u(3), fill=kraft)
    d.rounded_rectangle(
        sc.box(-37, -34, 37, -20), radius=sc.u(3), fill=_mix(kraft, (0, 0, 0), 0.12)
    )
    d.rectangle(sc.box(-6, -34, 6, 38), fill=_mix(kraft, WHITE, 0.35))
    d.rounded_rectangle(sc.box(12, 14, 28, 30), radius=sc.u(2), fill=WHITE)
    d.rectangle(sc.box(15, 18, 25, 20), fill=sc.main)
    d.rectangle(sc.box(15, 23, 22, 25), fill=sc.main)


ILLUSTRATIONS: dict[str, Callable[[_Scene], None]] = {
    "fresh_food": _fruit,
    "groceries": _grocery_box,
    "smartphones": _phone,
    "digital_home": _television,
    "wearables": _watch,
    "software": _app_window,
    "telecom_services": _signal,
    "smart_home": _house,
    "security": _shield,
    "smart_driving": _car,
    "health_food": _bottle,
    "fitness": _dumbbell,
    "medical_devices": _medical_cross,
    "tickets": _ticket,
    "books": _book,
    "courses": _mortarboard,
    "consultations": _speech_bubble,
}


def product_image(seed: str, category: str, size: int = 640) -> bytes:
    """A square PNG for a product of ``category``; the same seed gives the same image."""
    digest = hashlib.sha256(f"{category}\x00{seed}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    palette = PALETTES[FAMILIES.get(category, "neutral")]
    base = _jitter(palette[rng.randrange(len(palette))], rng)
    others = [c for c in palette if c != base] or list(palette)
    main = _jitter(rng.choice(others), rng, hue=0.015)
    accent = _jitter(rng.choice(palette), rng)

    w = size * _SUPERSAMPLE
    top = _mix(base, WHITE, rng.uniform(0.84, 0.9))
    bottom = _mix(base, WHITE, rng.uniform(0.55, 0.65))
    if rng.random() < 0.5:
        top, bottom = _mix(top, WHITE, 0.3), _mix(bottom, WHITE, 0.2)
    column = Image.new("RGB", (1, 64))
    column.putdata([_mix(top, bottom, i / 63) for i in range(64)])
    # a smooth column stretched sideways: much faster than compositing full-size layers
    img = column.resize((1, w), Image.Resampling.BILINEAR).resize((w, w), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(img, "RGBA")

    for _ in range(rng.randint(3, 6)):  # soft bokeh circles
        r = w * rng.uniform(0.05, 0.16)
        x, y = rng.uniform(0, w), rng.uniform(0, w)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=_alpha(WHITE, rng.randint(28, 60)))

    cx = w * (0.5 + rng.uniform(-0.04, 0.04))
    cy = w * (0.5 + rng.uniform(-0.03, 0.03))
    halo = w * rng.uniform(0.37, 0.41)
    draw.ellipse((cx - halo, cy - halo, cx + halo, cy + halo), fill=_alpha(WHITE, 120))

    def bg_at(x: float, y: float) -> RGB:
        px = img.getpixel((min(w - 1, max(0, round(x))), min(w - 1, max(0, round(y)))))
        assert isinstance(px, tuple)
        return (int(px[0]), int(px[1]), int(px[2]))

    scene = _Scene(
        draw=draw,
        cx=cx,
        cy=cy,
        s=w * 0.6 * rng.uniform(0.92, 1.08),
        main=main,
        dark=_mix(main, (20, 24, 32), 0.35),
        accent=accent,
        bg_at=bg_at,
        rng=rng,
    )
    ILLUSTRATIONS.get(category, _parcel)(scene)

    out = img.reduce(_SUPERSAMPLE)
    buf = io.BytesIO()
    out.save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


# What the drawing code is: a change to this module draws every image afresh.
DRAWING_VERSION = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def default_cache_dir() -> Path:
    """Where drawn images are kept between seeds: the user's cache ($XDG_CACHE_HOME)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "linli" / "demo-images"


class ImageCache:
    """`product_image`, kept on disk by its arguments and the drawing code's version.

    What it returns is always what `product_image` returns for the same arguments: an image is
    drawn when missing and written whole (a temporary file renamed into place, so a seed
    running alongside never reads half of one). A cache that cannot be read or written is
    left alone and the image is drawn; `None` as the directory draws every time.
    """

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    def path(self, seed: str, category: str, size: int) -> Path | None:
        if self.directory is None:
            return None
        key = hashlib.sha256(f"{DRAWING_VERSION}\x00{category}\x00{seed}\x00{size}".encode())
        return self.directory / f"{key.hexdigest()}.png"

    def product_image(self, seed: str, category: str, size: int = 640) -> bytes:
        path = self.path(seed, category, size)
        if path is not None:
            try:
                return path.read_bytes()
            except OSError:
                pass
        data = product_image(seed, category, size)
        if path is not None:
            self._keep(path, data)
        return data

    @staticmethod
    def _keep(path: Path, data: bytes) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".part")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(data)
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError:
            pass  # a read-only or full cache: the image was drawn all the same
