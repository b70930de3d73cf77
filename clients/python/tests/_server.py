"""Test servers: one shared by the whole run (started on first use, stopped at exit), and extra ones
with their own environment. `start_server` is the only place that knows how a server is launched."""
import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.environ.get("TOPOSCOPE_REPO") or os.path.abspath(os.path.join(HERE, "..", "..", ".."))
FIXTURES = os.path.join(REPO, "fixtures")
_server = None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir, port, log, extra_env=None):
    """Starts the compiled `toposcope serve` (npm run build) from the repository, output to `log`; returns the process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOPOSCOPE_")}
    env.update(TOPOSCOPE_DATA_DIR=data_dir, TOPOSCOPE_PORT=str(port), TOPOSCOPE_HOST="127.0.0.1",
               TOPOSCOPE_REGISTER_FIXTURES="0", TOPOSCOPE_WORKERS="1", TOPOSCOPE_ORT_THREADS="2",
               TOPOSCOPE_LOG_LEVEL="warn")
    env.update(extra_env or {})
    return subprocess.Popen(["node", "dist/main.js", "serve"], cwd=REPO, env=env,
                            stdout=log, stderr=subprocess.STDOUT)


def launch(extra_env=None):
    """Starts a server on a fresh data folder and waits for /health; returns (url, stop)."""
    data = tempfile.mkdtemp(prefix="toposcope-pytest-")
    port = _free_port()
    log_path = os.path.join(data, "server.log")
    with open(log_path, "wb") as log:
        proc = start_server(data, port, log, extra_env)
    url = f"http://127.0.0.1:{port}"

    def stop():
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(data, ignore_errors=True)

    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            with open(log_path, encoding="utf-8", errors="replace") as f:
                out = f.read()
            shutil.rmtree(data, ignore_errors=True)
            raise RuntimeError(f"toposcope server exited with {proc.returncode}:\n{out}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2):
                return url, stop
        except OSError:
            if time.monotonic() > deadline:
                stop()
                raise RuntimeError("toposcope server did not answer /health within 60 s")
            time.sleep(0.2)


def server_url():
    """URL of the server shared by the test run (started on first call, stopped at exit)."""
    global _server
    if _server is None:
        _server = launch()
        atexit.register(_server[1])
    return _server[0]


def fixture_images(domain, n):
    d = os.path.join(FIXTURES, "stimuli", "images", domain)
    return [os.path.join(d, f) for f in sorted(os.listdir(d)) if f.endswith(".png")][:n]

