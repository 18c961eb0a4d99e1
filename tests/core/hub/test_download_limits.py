"""Misbehaving servers on 127.0.0.1: one that streams forever, one that drips, one that lies in
`Content-Range`. Each download ends quickly with a clear error naming the URL and the limit, and
no model lands in the cache; a later good download still works."""

import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from nemo.core import PretrainedModelInfo
from nemo.core.classes import pretrained
from nemo.utils import download
from nemo.utils.download import ContentRangeError, DownloadDeadlineError, DownloadLimitError
from tests.core.hub.conftest import files_under
from tests.core.toy_models import Toy


class _Hostile(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    mode = "good"
    data = b""
    requests = None

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.requests.append(self.headers.get("Range"))
        try:
            getattr(self, "_" + self.mode)()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _good(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.data)))
        self.end_headers()
        self.wfile.write(self.data)

    def _forever(self):  # no Content-Length, the body never ends
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        block = b"\0" * 65536
        while True:
            self.wfile.write(block)

    def _huge_length(self):  # announces far more than the model's size
        self.send_response(200)
        self.send_header("Content-Length", str(1 << 40))
        self.end_headers()
        self.wfile.write(self.data)

    def _drip(self):  # a byte every 50 ms: every read is quick, the whole would take an hour
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.data)))
        self.end_headers()
        for b in self.data:
            self.wfile.write(bytes([b]))
            self.wfile.flush()
            time.sleep(0.05)

    def _cut_then(self, answer):
        rng = self.headers.get("Range")
        if rng is None:  # first request: half the file, then the connection drops
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.data)))
            self.end_headers()
            self.wfile.write(self.data[: len(self.data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        start = int(rng[len("bytes="):-1])
        content_range, body = answer(start)
        self.send_response(206)
        self.send_header("Content-Range", content_range)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _lie_start(self):  # resumes from zero but says so: the bytes would be appended twice
        n = len(self.data)
        self._cut_then(lambda start: (f"bytes 0-{n - 1}/{n}", self.data))

    def _lie_total(self):  # right start, a total that is not the catalogue's size
        n = len(self.data)
        self._cut_then(lambda start: (f"bytes {start}-{n - 1}/{n + 100}", self.data[start:]))

    def _no_range_header(self):
        self._cut_then(lambda start: ("", self.data[start:]))


@pytest.fixture
def hostile():
    requests = []
    handler = type("Handler", (_Hostile,), {"requests": requests})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{httpd.server_address[1]}/models/toy/toy-cat.nemo"
    yield handler
    httpd.shutdown()
    httpd.server_close()


def _register(handler, data, mode, size=True):
    handler.data, handler.mode = data, mode
    info = PretrainedModelInfo("toy-cat", "a toy", handler.url, class_=Toy, size_bytes=len(data) if size else None)
    pretrained.register_pretrained_model(info, override=True)
    return download.ngc_cache_path("toy-cat", handler.url)


def _no_model_cached(isolated, dest, allow_part=False):
    assert not os.path.exists(dest)
    left = [f for f in files_under(isolated / "nemo_cache") if not f.endswith(".lock")]
    if allow_part:
        left = [f for f in left if f != os.path.relpath(dest + ".part", isolated / "nemo_cache")]
    assert left == []


def _timed(fn):
    start = time.monotonic()
    try:
        fn()
    finally:
        elapsed = time.monotonic() - start
    return elapsed


def test_endless_stream_stops_at_the_catalogue_size(hostile, toy_nemo, isolated):
    dest = _register(hostile, toy_nemo, "forever")
    with pytest.raises(DownloadLimitError) as e:
        Toy.from_pretrained("toy-cat")
    msg = str(e.value)
    assert hostile.url in msg and str(len(toy_nemo)) in msg and "size_bytes" in msg and "\n" not in msg
    assert len(hostile.requests) == 1  # not retried: the server is wrong, not flaky
    _no_model_cached(isolated, dest)


def test_endless_stream_of_unknown_size_stops_at_the_configured_cap(hostile, toy_nemo, isolated, monkeypatch):
    monkeypatch.setenv("NEMO_DOWNLOAD_MAX_BYTES", str(3 << 20))
    dest = _register(hostile, toy_nemo, "forever", size=False)
    with pytest.raises(DownloadLimitError, match=f"{3 << 20} bytes allowed by NEMO_DOWNLOAD_MAX_BYTES") as e:
        Toy.from_pretrained("toy-cat")
    assert hostile.url in str(e.value)
    _no_model_cached(isolated, dest)


def test_announced_length_past_the_limit_is_refused_before_reading(hostile, toy_nemo, isolated):
    dest = _register(hostile, toy_nemo, "huge_length")
    with pytest.raises(DownloadLimitError, match=f"announced {1 << 40} bytes"):
        Toy.from_pretrained("toy-cat")
    _no_model_cached(isolated, dest)


def test_dripping_server_hits_the_overall_deadline(hostile, toy_nemo, isolated, monkeypatch):
    monkeypatch.setenv("NEMO_DOWNLOAD_DEADLINE", "1.5")
    dest = _register(hostile, toy_nemo, "drip")
    holder = {}

    def run():
        with pytest.raises(DownloadDeadlineError) as e:
            Toy.from_pretrained("toy-cat")
        holder["e"] = e.value

    elapsed = _timed(run)
    msg = str(holder["e"])
    assert hostile.url in msg and "1.5 s deadline" in msg and "NEMO_DOWNLOAD_DEADLINE" in msg
    assert elapsed < 1.5 + 5  # bounded by the deadline, not by the hour the drip would take
    assert isinstance(holder["e"], TimeoutError)
    _no_model_cached(isolated, dest, allow_part=True)  # only the resumable part file
    part = dest + ".part"
    assert os.path.getsize(part) < len(toy_nemo) and open(part, "rb").read() == toy_nemo[: os.path.getsize(part)]


def test_per_read_timeout_and_deadline_are_download_arguments(hostile, toy_nemo, tmp_path):
    hostile.data, hostile.mode = toy_nemo, "drip"
    dest = str(tmp_path / "d" / "toy.nemo")
    with pytest.raises(DownloadDeadlineError, match="0.5 s deadline"):
        download.download(hostile.url, dest, size=len(toy_nemo), deadline=0.5, timeout=0.2, retries=3)
    assert not os.path.exists(dest)


@pytest.mark.parametrize("mode,why", [
    ("lie_start", "Content-Range 'bytes 0-.*' to a request for bytes"),
    ("lie_total", "gives a total of .* the catalogue says"),
    ("no_range_header", "missing or malformed"),
])
def test_lying_content_range_on_resume_is_refused(hostile, toy_nemo, isolated, mode, why):
    dest = _register(hostile, toy_nemo, mode)
    with pytest.raises(ContentRangeError, match=why) as e:
        Toy.from_pretrained("toy-cat")
    assert hostile.url in str(e.value) and "discarded" in str(e.value)
    assert hostile.requests == [None, f"bytes={len(toy_nemo) // 2}-"]
    _no_model_cached(isolated, dest)
    hostile.mode = "good"  # the server is fixed: the next call downloads the model whole
    assert isinstance(Toy.from_pretrained("toy-cat", map_location="cpu"), Toy)
    assert open(dest, "rb").read() == toy_nemo


def test_oversized_leftover_part_file_is_discarded(hostile, toy_nemo, isolated):
    dest = _register(hostile, toy_nemo, "good")
    os.makedirs(os.path.dirname(dest))
    with open(dest + ".part", "wb") as f:
        f.write(b"\1" * (len(toy_nemo) + 10))
    assert isinstance(Toy.from_pretrained("toy-cat", map_location="cpu"), Toy)
    assert hostile.requests == [None] and open(dest, "rb").read() == toy_nemo


def test_bad_limit_settings_are_reported(monkeypatch):
    monkeypatch.setenv("NEMO_DOWNLOAD_DEADLINE", "soon")
    with pytest.raises(ValueError, match="NEMO_DOWNLOAD_DEADLINE='soon' is not a number"):
        download.download_limits()
    monkeypatch.setenv("NEMO_DOWNLOAD_DEADLINE", "10")
    monkeypatch.setenv("NEMO_DOWNLOAD_MAX_BYTES", "-1")
    with pytest.raises(ValueError, match="must be positive"):
        download.download_limits()
    monkeypatch.delenv("NEMO_DOWNLOAD_MAX_BYTES")
    assert download.download_limits(size=123) == (123, "the catalogue's size_bytes", 10.0)
    assert download.download_limits(max_bytes=7, deadline=2) == (7, "max_bytes", 2.0)
