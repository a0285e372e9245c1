"""The tray icon: a small face whose colour (and mouth) shows the app state at a glance."""

from __future__ import annotations

from PIL import Image, ImageDraw

from . import AppState

STATE_COLOURS: dict[AppState, tuple[int, int, int]] = {
    AppState.STOPPED: (140, 140, 140),  # grey
    AppState.RUNNING: (46, 170, 80),  # green
    AppState.NO_FACES: (240, 165, 30),  # amber
    AppState.ERROR: (215, 50, 50),  # red
}
INK = (30, 30, 30, 255)


def icon_image(state: AppState, size: int = 64) -> Image.Image:
    """RGBA image, transparent outside the face. Drawn at 4x and scaled down for smooth edges."""
    s = size * 4
    image = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    u = s / 64  # drawing in a 64-unit grid
    draw.ellipse((2 * u, 2 * u, 62 * u, 62 * u), fill=(*STATE_COLOURS[state], 255), outline=INK, width=round(3 * u))
    for x in (22, 42):
        draw.ellipse(((x - 4) * u, 20 * u, (x + 4) * u, 30 * u), fill=INK)
    width = round(4 * u)
    # The mouth repeats the colour's message for colour-blind users
    if state is AppState.RUNNING:
        draw.arc((18 * u, 26 * u, 46 * u, 48 * u), 20, 160, fill=INK, width=width)
    elif state is AppState.ERROR:
        draw.arc((18 * u, 40 * u, 46 * u, 58 * u), 200, 340, fill=INK, width=width)
    elif state is AppState.NO_FACES:
        draw.ellipse((27 * u, 38 * u, 37 * u, 50 * u), outline=INK, width=width)
    else:
        draw.line((20 * u, 44 * u, 44 * u, 44 * u), fill=INK, width=width)
    return image.resize((size, size), Image.LANCZOS)
