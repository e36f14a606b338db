"""Headless Chromium (Debian's chromium + chromedriver, installed by .ci/run) against (a) the real MLflow UI served
by ``mlflow server`` for the fixture study and (b) the HTML report: what a person would see is there."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from analysis_fixtures import assert_png, study_report, study_store  # noqa: F401  (session fixtures)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
pytestmark = [
    pytest.mark.skipif(not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
                       reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
                              "chromium-driver; .ci/run installs them)"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]
CHROME_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--window-size=1600,1000")
TIMEOUT = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A running ``mlflow server``; ``url`` waits (once) until it answers /health."""

    def __init__(self, proc: subprocess.Popen, port: int, log: Path):
        self.proc, self.port, self.log, self._ready = proc, port, log, False

    @property
    def url(self) -> str:
        base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 90
        while not self._ready:
            if self.proc.poll() is not None:
                pytest.fail(f"mlflow server exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as r:
                    self._ready = r.status == 200
            except OSError:
                pass
            if not self._ready:
                if time.monotonic() > deadline:
                    pytest.fail(f"mlflow server did not answer /health in 90 s:\n{self.log.read_text()[-3000:]}")
                time.sleep(0.3)
        return base


@pytest.fixture(scope="module")
def mlflow_server(study_store, tmp_path_factory):
    """``mlflow server`` (UI + REST) on the fixture's SQLite store, one per module. Started before the browser
    so that it boots while the first test runs."""
    port = _free_port()
    log = tmp_path_factory.mktemp("mlflow-server") / "server.log"
    artifacts = study_store.root / "artifacts"
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    cmd = [str(mlflow_cli) if mlflow_cli.exists() else "mlflow", "server",
           "--backend-store-uri", study_store.tracking_uri, "--default-artifact-root", str(artifacts),
           "--artifacts-destination", str(artifacts), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                cwd=study_store.root)
    try:
        yield Server(proc, port, log)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the server and its uvicorn worker (own session)
            proc.wait(timeout=5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture(scope="module")
def driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in CHROME_FLAGS:
        opts.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    opts.add_argument(f"--user-data-dir={profile}")
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    d.set_page_load_timeout(TIMEOUT)
    try:
        yield d
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _body(d) -> str:
    from selenium.webdriver.common.by import By

    return d.find_element(By.TAG_NAME, "body").text


def _wait(d, cond, what: str, timeout: float = TIMEOUT):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(d, timeout, poll_frequency=0.25).until(cond)
    except TimeoutException:
        shot = Path(tempfile.gettempdir()) / f"browser-timeout-{int(time.time())}.png"
        d.save_screenshot(str(shot))
        pytest.fail(f"timed out waiting for {what}; screenshot {shot}; page text:\n{_body(d)[:2000]}")


def _images(d) -> list[dict]:
    return d.execute_script("""return Array.from(document.images).map(i => ({src: i.currentSrc || i.src,
        w: i.naturalWidth, h: i.naturalHeight, complete: i.complete,
        shown: i.getBoundingClientRect().width > 0 && i.getBoundingClientRect().height > 0}));""")


def _screenshot(d, path: Path) -> None:
    assert d.save_screenshot(str(path)), path
    assert_png(path)


def test_report_in_browser(study_store, study_report, mlflow_server, driver, tmp_path):
    """The self-contained HTML report opened from disk: the table with every trial, and rendered figures.
    (Runs first: the MLflow server boots meanwhile.)"""
    from selenium.webdriver.common.by import By

    from analysis.load import load_study

    study = load_study(study_store.main, study_store.tracking_uri, study_store.storage)
    res = study_report
    d = driver
    d.get(res.html.as_uri())
    _wait(d, lambda d: d.execute_script("return document.readyState") == "complete", "the report to load")
    rows = d.find_elements(By.CSS_SELECTOR, "table.trials tbody tr")
    assert len(rows) == len(study_store.run_ids)
    text = _body(d)
    for n in study_store.run_ids:
        assert study.label(n) in text
    assert "fcd/mean best" in text and "—" in text and "pruned" in text and "failed" in text
    imgs = [i for i in _images(d) if i["src"].startswith("data:image/png")]
    assert len(imgs) >= 6 and all(i["complete"] and i["w"] > 100 and i["h"] > 100 for i in imgs)
    assert any(i["shown"] for i in imgs)
    d.set_window_size(1600, 1000)
    _screenshot(d, tmp_path / "report.png")


def test_mlflow_ui_lists_trial_runs(study_store, mlflow_server, driver, tmp_path):
    """The experiment's runs page shows the study's parent run; expanded, every trial run."""
    from selenium.webdriver.common.by import By

    d = driver
    d.get(f"{mlflow_server.url}/#/experiments/{study_store.experiment_id}/runs")
    # the parent run is named like the experiment; its trials are nested under it
    rows = _wait(d, lambda d: [r for r in d.find_elements(By.CSS_SELECTOR, "[role=row]")
                               if study_store.main in r.text] or False, "the parent run's row in the runs table")
    names = [f"trial-{n:03d}" for n in study_store.run_ids]
    if not all(n in _body(d) for n in names):
        rows[0].find_element(By.CSS_SELECTOR, "button").click()
    _wait(d, lambda d: all(n in _body(d) for n in names), f"trial runs {names}")
    text = _body(d)
    for k in (1, 2, 3):
        assert f"-blog{k}" in text
    _screenshot(d, tmp_path / "mlflow_runs.png")


def test_mlflow_ui_run_shows_metric_and_image(study_store, mlflow_server, driver, tmp_path):
    """A trial's run page shows its metrics (name and value); its final sample grid renders as an image."""
    from mlflow import MlflowClient

    from analysis.samples import final_image
    from analysis.load import load_study

    n = study_store.blog[3]
    run_id = study_store.run_ids[n]
    client = MlflowClient(tracking_uri=study_store.tracking_uri)
    value = client.get_run(run_id).data.metrics["fcd/mean"]
    d = driver
    d.get(f"{mlflow_server.url}/#/experiments/{study_store.experiment_id}/runs/{run_id}")
    _wait(d, lambda d: "fcd/mean" in _body(d) and f"trial-{n:03d}-blog3" in _body(d), "the run page metrics")
    text = _body(d)
    assert repr(value) in text or f"{value:.4f}" in text, f"fcd/mean = {value} not shown"
    _screenshot(d, tmp_path / "mlflow_run.png")

    study = load_study(study_store.main, study_store.tracking_uri, study_store.storage)
    final, image = final_image(study, run_id, "samples/a2b")
    width = image.width
    # the artifact view deep link takes the path as is (MLflow's router does not decode %2B back to '+')
    d.get(f"{mlflow_server.url}/#/experiments/{study_store.experiment_id}/runs/{run_id}/artifacts/{final.path}")
    imgs = _wait(d, lambda d: [i for i in _images(d) if i["shown"] and i["w"] == width and i["h"] > 0] or False,
                 f"the sample grid image ({width} px wide) in the artifact view")
    assert imgs[0]["complete"]
    assert "samples~a2b" in _body(d)
    _screenshot(d, tmp_path / "mlflow_image.png")
