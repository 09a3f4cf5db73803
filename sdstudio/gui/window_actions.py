"""The studio window's actions, menus and toolbar, and the model selector's choices."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel

from sdstudio.core import demo
from sdstudio.gui import reference_actions
from sdstudio.gui.api_toggle import ApiToggle
from sdstudio.gui.models_window import open_models_window
from sdstudio.gui.replay_compare import install as install_replay
from sdstudio.gui.training_window import open_training_window

if TYPE_CHECKING:
    from sdstudio.gui.main_window import MainWindow

log = logging.getLogger(__name__)


def model_choices(library: Any | None) -> list[tuple[str, str, str]]:
    """(name, reference, note) for the model selector: the library's entries, else the demo model."""
    choices: list[tuple[str, str, str]] = []
    if library is not None:
        try:
            for e in library.entries():
                ref = str(getattr(e, "location", "") or getattr(e, "name", ""))
                choices.append(
                    (str(getattr(e, "title", "") or e.name), ref, str(getattr(e, "note", "") or ""))
                )
        except Exception as e:  # a broken library must not stop the window
            log.warning("model library unavailable: %s", e)
    return choices or [(demo.DEMO_NAME, demo.DEMO_ID, demo.DEMO_NOTE)]


def default_model(library: Any | None) -> str | None:
    """The reference of the configured default model, when the library names one."""
    try:
        return str(library.resolve("").location) if library is not None else None
    except Exception:  # a missing default shows as the first entry; the job reports it readably
        return None


def _action(w: MainWindow, text: str, slot: Any, *keys: QKeySequence | str) -> QAction:
    action = QAction(text, w)
    if keys:
        action.setShortcuts([QKeySequence(k) if isinstance(k, str) else k for k in keys])
    action.triggered.connect(slot)
    return action


def build_actions(w: MainWindow) -> None:
    """Generate/cancel/result actions on the window, the menus, the studio toolbar and the canvas toolbar."""
    # 1. actions
    w.generate_action = _action(w, "&Generate", w.generate, "Ctrl+Return", "Ctrl+Enter")
    w.cancel_action = _action(w, "&Cancel", w.cancel, QKeySequence(Qt.Key.Key_Escape))
    for action in (w.generate_action, w.cancel_action):
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    w.use_result_action = _action(w, "&Use result as input", w.use_result_as_input, "Ctrl+U")
    w.use_result_action.setEnabled(False)
    w.prev_result_action = _action(
        w, "&Previous result", lambda: w.show_result(w.studio.result_index - 1), "Alt+Left"
    )
    w.next_result_action = _action(
        w, "&Next result", lambda: w.show_result(w.studio.result_index + 1), "Alt+Right"
    )
    w.result_label = QLabel()
    w.result_label.setToolTip("the batch's pictures: Alt+Left and Alt+Right flip through them")
    open_action = _action(w, "&Open image…", w.open_image_dialog, QKeySequence.StandardKey.Open)
    get_models_action = _action(w, "&Get models…", lambda: open_models_window(w), "Ctrl+Shift+M")
    get_models_action.setToolTip("starter models, the hub, Civitai, any address or file; the download queue")
    models_action = _action(w, "Add &model folder…", w.choose_model_root)
    models_action.setToolTip(
        "an AUTOMATIC1111 or ComfyUI install, or any folder of checkpoints, used in place"
    )
    outputs_action = _action(w, "Open &outputs folder", w.open_outputs_folder)
    clear_action = _action(w, "C&lear canvas", lambda: w.canvas.set_image(None, "clear canvas"))
    quit_action = _action(w, "&Quit", w.close, QKeySequence.StandardKey.Quit)

    # 2. menus
    bar = w.menuBar()
    file_menu = bar.addMenu("&File")
    file_menu.addActions([open_action, clear_action])
    file_menu.addSeparator()
    file_menu.addActions([get_models_action, models_action, outputs_action])
    file_menu.addSeparator()
    file_menu.addAction(quit_action)
    gen_menu = bar.addMenu("&Generate")
    gen_menu.addActions([w.generate_action, w.cancel_action, w.use_result_action])
    gen_menu.addActions([w.prev_result_action, w.next_result_action])
    tools_menu = bar.addMenu("&Tools")
    w.api = ApiToggle(w.queue, w.library, port=w.api_port, parent=w)
    w.api.message.connect(w.status.show_message)
    tools_menu.addAction(w.api.action)
    tools_menu.addAction(_action(w, "&Train a LoRA…", lambda: open_training_window(w)))
    tools_menu.addSeparator()
    tools_menu.addAction(network_action(w))
    view_menu = bar.addMenu("&View")
    for dock in (w.prompt_dock, w.gallery_dock, w.queue_dock):
        view_menu.addAction(dock.toggleViewAction())
    help_menu = bar.addMenu("&Help")
    w.help_action = help_menu.addAction("&Shortcuts and prompt syntax", w.show_help)
    w.help_action.setShortcut(QKeySequence.StandardKey.HelpContents)
    w.addAction(w.help_action)
    result_actions = (w.prev_result_action, w.next_result_action)
    for action in (
        w.generate_action,
        w.cancel_action,
        w.use_result_action,
        *result_actions,
        get_models_action,
    ):
        w.addAction(action)

    # 3. toolbars
    tools = w.addToolBar("Studio")
    tools.setObjectName("studioToolBar")
    tools.addActions([open_action, w.generate_action, w.cancel_action, w.use_result_action])
    w.prev_result_action.setIconText("◀")
    w.next_result_action.setIconText("▶")
    tools.addAction(w.prev_result_action)
    w.result_label_action = tools.addWidget(w.result_label)
    tools.addAction(w.next_result_action)
    w.addToolBar(w.canvas_tools)
    install_replay(w)  # gallery: Replay and compare
    reference_actions.install(w)  # the reference strip's messages and models; Pose from reference…


def network_action(w: MainWindow) -> QAction:
    """Tools > Allow network references: the `allow_network` setting ({image:URL} references and preprocessor
    models from the hub), off by default, saved at once."""
    action = QAction("Allow &network references ({image:URL}, preprocessor downloads)", w, checkable=True)
    action.setChecked(bool(w.state.settings.allow_network))

    def toggled(on: bool) -> None:
        w.state.settings.allow_network = on
        w.state.save_settings()
        w.status.show_message(
            "References may be fetched from the network." if on else "References are read from files only."
        )

    action.toggled.connect(toggled)
    w.network_action = action
    return action
