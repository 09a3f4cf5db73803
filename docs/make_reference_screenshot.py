"""Make docs/reference-strip.png: the hand-fixing recipe in the studio on a 1280×720 screen.

A picture with a mask painted over its hand, *Pose from reference…* with a photo of an open hand (a pose
reference in the strip under the prompt, with its skeleton), `{image:open-hand}` and `(-bad hands)` in the
prompt, inpainting only the masked part. Every model is a random-weight stand-in built here (the demo model, a
ControlNet made from its UNet, a tiny ViTPose), so the pictures are noise; the window is the real one.

QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1280x720x24" python docs/make_reference_screenshot.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def figure(w: int, h: int):
    """A painted stand-in portrait: a figure waving, its hand up on the right."""
    from PySide6.QtCore import QPointF, QRectF, Qt
    from PySide6.QtGui import QBrush, QColor, QImage, QLinearGradient, QPainter, QPen

    img = QImage(w, h, QImage.Format.Format_RGB32)
    p = QPainter(img)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    wall = QLinearGradient(0, 0, w, h)
    wall.setColorAt(0, QColor("#8fb3c9"))
    wall.setColorAt(1, QColor("#d9c7a7"))
    p.fillRect(0, 0, w, h, QBrush(wall))
    skin, coat = QColor("#e0ac8a"), QColor("#7a2e3b")
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(coat)
    p.drawRoundedRect(QRectF(w * 0.28, h * 0.45, w * 0.36, h * 0.6), 40, 40)  # body
    p.setPen(QPen(coat, w * 0.07, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
    p.drawLine(QPointF(w * 0.6, h * 0.55), QPointF(w * 0.76, h * 0.3))  # the raised arm
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(skin)
    p.drawEllipse(QPointF(w * 0.46, h * 0.32), w * 0.1, h * 0.13)  # head
    p.drawEllipse(QPointF(w * 0.78, h * 0.24), w * 0.045, h * 0.06)  # the hand to fix
    p.setBrush(QColor("#3b2a20"))
    p.drawChord(QRectF(w * 0.36, h * 0.18, w * 0.2, h * 0.16), 0, 180 * 16)  # hair
    p.end()
    return img


def open_hand(path: Path) -> Path:
    """A stand-in photo of an open hand: palm and five fingers."""
    from PySide6.QtCore import QPointF, QRectF, Qt
    from PySide6.QtGui import QColor, QImage, QPainter, QPen

    img = QImage(384, 384, QImage.Format.Format_RGB32)
    img.fill(QColor("#ece6dc"))
    p = QPainter(img)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    skin = QColor("#d49a78")
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(skin)
    p.drawRoundedRect(QRectF(130, 170, 130, 150), 50, 50)
    p.setPen(QPen(skin, 34, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
    for base, tip in (((145, 190), (110, 60)), ((175, 180), (165, 40)), ((205, 180), (215, 38)),
                      ((235, 190), (262, 60)), ((250, 260), (330, 200))):  # fmt: skip
        p.drawLine(QPointF(*base), QPointF(*tip))
    p.end()
    img.save(str(path))
    return path


def paint_mask(win, app) -> None:
    """Mouse strokes over the hand."""
    from make_screenshot import paint_strokes

    paint_strokes(win, app, (0.72, 0.84), 0.24, (-0.08, -0.04, 0.0, 0.04, 0.08))


def stand_in_models(library_dir: Path) -> None:
    """A ControlNet for openpose made from the demo UNet, and a tiny ViTPose for the pose preprocessor."""
    import torch
    from diffusers import ControlNetModel, UNet2DConditionModel

    from sdstudio.core import demo
    from tests.core.test_control_preproc import tiny_vitpose

    unet = UNet2DConditionModel.from_pretrained(str(demo.demo_path() / "unet"))
    net = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(8, 8, 8, 8))
    net.save_pretrained(str(library_dir / "models" / "ControlNet" / "control_demo_openpose"))
    (library_dir / "models" / "Stable-diffusion").mkdir(parents=True, exist_ok=True)  # an A1111 layout
    vitpose = tiny_vitpose(library_dir / "models" / "annotators" / "vitpose")
    from transformers import VitPoseForPoseEstimation

    pose = VitPoseForPoseEstimation.from_pretrained(vitpose)
    with torch.no_grad():  # random weights score every keypoint low: louder, so a (random) skeleton is drawn
        for p in pose.head.parameters():
            p.mul_(10.0)
    pose.save_pretrained(vitpose)


def wait(app, ms: int, until=None) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    if until is not None:
        poll = QTimer(interval=100)
        poll.timeout.connect(lambda: until() and loop.quit())
        poll.start()
    loop.exec()


def main() -> None:
    out = ROOT / "docs" / "reference-strip.png"
    with tempfile.TemporaryDirectory(prefix="sdstudio-shot-") as tmp:
        os.environ["SDSTUDIO_HOME"] = tmp
        from PySide6.QtWidgets import QApplication

        from sdstudio.core import demo
        from sdstudio.core.request import Request
        from sdstudio.core.root import build_services
        from sdstudio.gui.main_window import MainWindow
        from sdstudio.gui.reference_actions import pose_from_file

        demo.demo_path()
        app = QApplication(sys.argv)
        services = build_services()
        stand_in_models(services.library.settings.library_path())
        services.library.refresh()  # the window lists the new ControlNet
        store, queue = services.store, services.queue
        # 1. two earlier pictures in the gallery
        for i, prompt in enumerate(("portrait of a woman waving", "portrait, studio light")):
            queue.submit(Request(prompt=prompt, steps=2, width=128, height=128, seed=300 + i))
        queue.run_pending()
        win = MainWindow(queue, store, services.library, state=services.state, preload=False)
        win.show()
        # 2. the picture, a mask over its hand, and Pose from reference with a photo of an open hand
        win.send_to_canvas(figure(512, 640))
        app.processEvents()
        paint_mask(win, app)
        pose_from_file(win, open_hand(Path(tmp) / "open-hand.png"))
        studio = win.studio
        studio.update(
            prompt="portrait of a woman waving, detailed hand {image:open-hand} (-bad hands -extra fingers)",
            negative_prompt="lowres, watermark",
            steps=24,
            seed=4242,
            strength=0.75,
            mask_blur=6,
            model=win.prompt.model.currentData(),
        )
        strip = win.prompt.references
        wait(app, 60_000, strip.previews_ready)  # the skeleton is made off the GUI thread
        edit = win.prompt.prompt.edit
        cursor = edit.textCursor()
        cursor.setPosition(edit.toPlainText().index("open-hand") + 3)
        edit.setTextCursor(cursor)  # the tag's reference is outlined in the strip
        win.prompt.scroll.verticalScrollBar().setValue(0)  # the prompt with its tag, the strip under it
        win.gallery.select_row(0)
        # 3. the inpaint runs on the masked hand with the pose reference
        steps: list[int] = []
        win.worker.progress.connect(lambda job, progress, preview: steps.append(progress.step))
        failed: list[str] = []
        win.worker.failed.connect(lambda job, text: failed.append(text))
        win.generate()
        wait(app, 600_000, lambda: len(steps) >= 8 or bool(failed))
        if failed:
            raise SystemExit(f"the job failed: {failed[0]}")
        app.processEvents()
        win.grab().save(str(out))
        print(f"wrote {out}")
        win.close()


if __name__ == "__main__":
    main()
