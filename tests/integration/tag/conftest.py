"""A local site carrying the tag, a source allowing its origin, and headless Chromium."""

from __future__ import annotations

import io
import math
import shutil
import struct
import tempfile
import threading
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.helpers import free_port

SITE = Path(__file__).parent / "site"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def tone_wav(seconds: float = 1.2, rate: int = 8000) -> bytes:
    """A short sound for the <video> element (a media element plays audio-only files too)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate))) for i in range(int(seconds * rate))
        )
        w.writeframes(frames)
    return buf.getvalue()


# what a CMP sets up with Google Consent Mode v2 before any tag: analytics granted, ads denied
GCM_DEFAULTS = """<script>
  window.dataLayer = window.dataLayer || [];
  function gtag() { dataLayer.push(arguments); }
  gtag("consent", "default", {analytics_storage: "granted", ad_storage: "denied", ad_user_data: "denied",
                              ad_personalization: "denied"});
</script>"""


@dataclass
class Site:
    url: str
    write_key: str  # read at request time: set it once the source exists
    options: dict[str, str]  # page name -> extra script attributes
    head: dict[str, str]  # page name -> markup before the tag (e.g. a CMP's consent defaults)


def serve_site(collector_url: str) -> tuple[ThreadingHTTPServer, Site]:
    wav = tone_wav()
    site = Site(
        url="",
        write_key="",
        options={
            "landing": "",
            "consent": 'data-consent="required"',
            "gcm": 'data-consent="required" data-consent-signals="gcm"',
        },
        head={"landing": "", "consent": "", "gcm": GCM_DEFAULTS},
    )

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path == "/media/tour.wav":
                return self._send(wav, "audio/wav")
            page = "consent" if path.startswith("/consent") else "gcm" if path.startswith("/gcm") else "landing"
            html = (SITE / "landing.html").read_text()
            html = (
                html.replace("{{COLLECTOR}}", collector_url)
                .replace("{{KEY}}", site.write_key)
                .replace("{{OPTIONS}}", site.options[page])
                .replace("{{HEAD}}", site.head[page])
            )
            return self._send(html.encode(), "text/html; charset=utf-8")

        def _send(self, body: bytes, ctype: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    site.url = f"http://127.0.0.1:{port}"
    return server, site


@pytest.fixture
def browser() -> Iterator[object]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("chromium and chromium-driver are required (make test installs them: deploy/local/browser.sh)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="cdp-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--autoplay-policy=no-user-gesture-required",
        "--window-size=1200,800",
        f"--user-data-dir={profile}",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
