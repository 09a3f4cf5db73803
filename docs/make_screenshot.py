"""Make docs/screenshot.png: the studio on a 1280×720 screen, an inpaint of a painted mask in progress.

xvfb-run -s "-screen 0 1280x720x24" python docs/make_screenshot.py
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def landscape(w: int, h: int):
    """A painted stand-in photo: sky, sun, hills, lake, a tree."""
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QBrush, QColor, QImage, QLinearGradient, QPainter, QPainterPath

    img = QImage(w, h, QImage.Format.Format_RGB32)
    p = QPainter(img)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    sky = QLinearGradient(0, 0, 0, h * 0.6)
    sky.setColorAt(0, QColor("#1d3b6e"))
    sky.setColorAt(0.6, QColor("#e98c5a"))
    sky.setColorAt(1, QColor("#f6c27a"))
    p.fillRect(0, 0, w, h, QBrush(sky))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor("#ffe6a8"))
    p.drawEllipse(QPointF(w * 0.68, h * 0.42), w * 0.07, w * 0.07)
    for color, base, amp, freq in (("#5b4a6b", 0.55, 0.08, 2.1), ("#2f3d4f", 0.62, 0.06, 3.3)):
        path = QPainterPath(QPointF(0, h))
        for x in range(0, w + 8, 8):
            path.lineTo(x, h * (base - amp * math.sin(x / w * math.pi * freq + 0.7)))
        path.lineTo(w, h)
        p.setBrush(QColor(color))
        p.drawPath(path)
    lake = QLinearGradient(0, h * 0.7, 0, h)
    lake.setColorAt(0, QColor("#e3a173"))
    lake.setColorAt(1, QColor("#22324a"))
    p.fillRect(0, int(h * 0.7), w, h, QBrush(lake))
    p.setBrush(QColor("#1b2530"))
    p.drawRect(int(w * 0.2), int(h * 0.45), int(w * 0.015), int(h * 0.27))
    p.drawEllipse(QPointF(w * 0.207, h * 0.45), w * 0.05, h * 0.09)
    p.end()
    return img


def paint_strokes(win, app, x: tuple[float, float], y: float, dys: tuple[float, ...]) -> None:
    """Horizontal mouse strokes from x[0] to x[1] (fractions of the picture) at y + each dy, as a user paints."""
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest

    image = win.canvas.image()
    w, h = image.width(), image.height()
    view = win.canvas_view
    vp = view.viewport()
    for dy in dys:
        a = view.mapFromScene(w * x[0], h * (y + dy))
        b = view.mapFromScene(w * x[1], h * (y + dy))
        QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
        for i in range(1, 13):
            QTest.mouseMove(vp, QPoint(a.x() + (b.x() - a.x()) * i // 12, a.y()))
            app.processEvents()
        QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)


def paint_mask(win, app) -> None:
    """A few mouse strokes over the sun."""
    paint_strokes(win, app, (0.6, 0.76), 0.42, (-0.06, -0.03, 0.0, 0.03, 0.06))


def main() -> None:
    out = ROOT / "docs" / "screenshot.png"
    with tempfile.TemporaryDirectory(prefix="sdstudio-shot-") as tmp:
        os.environ["SDSTUDIO_HOME"] = tmp
        from PySide6.QtCore import QEventLoop, QTimer
        from PySide6.QtWidgets import QApplication

        from sdstudio.core import demo
        from sdstudio.core.request import InpaintArea, Request
        from sdstudio.core.root import build_services
        from sdstudio.gui.main_window import MainWindow

        demo.demo_path()
        app = QApplication(sys.argv)
        services = build_services()  # the one composition root, as the studio uses it
        store, queue = services.store, services.queue
        # 1. a few demo generations so the gallery has thumbnails (the demo model draws noise)
        for i, prompt in enumerate(
            ("misty harbour at dawn", "portrait of an old sailor", "lighthouse, storm")
        ):
            queue.submit(Request(prompt=prompt, steps=2, width=128, height=128, seed=100 + i))
        queue.run_pending()
        store.set_star(store.search("lighthouse")[0].id, True)
        win = MainWindow(queue, store, services.library, state=services.state, preload=False)
        win.show()  # a 1280×720 screen: the first start opens maximised
        # 2. a picture and a painted mask on the canvas; the prompt of the next round
        win.send_to_canvas(landscape(768, 512))
        app.processEvents()
        paint_mask(win, app)
        win.prompt.set_request(
            Request(
                prompt="a lake at sunset, (glowing full moon:1.2), mountains, oil painting (-blurry -lowres)",
                negative_prompt="watermark, text",
                steps=30,
                width=768,
                height=512,
                seed=1234567,
                strength=0.8,
                mask_blur=6,
                inpaint_area=InpaintArea.only_masked,  # the preview covers the masked part only
                model=win.prompt.model.currentData(),
            )
        )
        win.gallery.select_row(0)
        loop = QEventLoop()
        QTimer.singleShot(1500, loop.quit)  # thumbnails load, token counts settle
        loop.exec()
        # 3. the inpaint runs: its step previews appear over the masked part, the status shows step and ETA
        steps: list[int] = []
        win.worker.progress.connect(lambda job, progress, preview: steps.append(progress.step))
        win.worker.progress.connect(lambda *_: len(steps) >= 6 and loop.quit())
        win.worker.failed.connect(lambda job, text: (print(f"failed: {text}"), loop.quit()))
        win.generate()
        QTimer.singleShot(600_000, loop.quit)
        loop.exec()
        app.processEvents()
        win.grab().save(str(out))
        print(f"wrote {out}")
        win.close()


if __name__ == "__main__":
    main()
