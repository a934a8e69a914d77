"""Headless Chromium (Debian's package) driven by Playwright, for tests of what a person sees."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
# Without these, Chromium keeps trying to reach Google's hosts, which this network refuses.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextmanager
def browser_page() -> Iterator[Any]:
    """A fresh page; skips (with how to fix it) where Chromium or Playwright is missing."""
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"needs Chromium at {CHROMIUM}: apt-get install chromium (CI installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(90_000)  # a loaded 2-core CI machine: servers answer late
            yield page
        finally:
            browser.close()


def frame_with_text(page: Any, text: str, timeout_s: float = 60.0) -> Any:
    """The first frame (at any depth) whose body shows `text`, waiting up to `timeout_s`."""
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for frame in page.frames:
            try:
                if text in frame.inner_text("body", timeout=1000):
                    return frame
            except Exception:  # a frame still loading or detached
                continue
        page.wait_for_timeout(250)
    shown = [f.url[:80] for f in page.frames]
    raise AssertionError(f"no frame showed {text!r} within {timeout_s}s; frames: {shown}")
