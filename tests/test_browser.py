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

# MLflow 3's server also starts a job runner (three huey consumers, for GenAI jobs): not needed to serve runs,
# and it takes CPU from the tests on a 2-core machine.
def server_env() -> dict:
    return {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}

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


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to a server's process group (started with its own session), SIGKILL if it lingers."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


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
                                cwd=study_store.root, env=server_env())
    try:
        yield Server(proc, port, log)
    finally:
        _stop_group(proc)   # the server and its uvicorn worker (own session)


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
    rows = [r.text for r in d.find_elements(By.CSS_SELECTOR, "table.trials tbody tr")]
    refs = [r for r in rows if r.startswith("baseline: ")]    # the study's reference generators, sorted in
    assert len(rows) - len(refs) == len(study_store.run_ids)
    assert len(refs) == len(study.baselines) > 0 and any(r.startswith("baseline: identity") for r in refs)
    text = _body(d)
    for n in study_store.run_ids:
        assert study.label(n) in text
    assert "fcd/mean best" in text and "—" in text and "pruned" in text and "failed" in text
    imgs = [i for i in _images(d) if i["src"].startswith("data:image/png")]
    assert len(imgs) >= 6 and all(i["complete"] and i["w"] > 100 and i["h"] > 100 for i in imgs)
    assert any(i["shown"] for i in imgs)
    d.set_window_size(1600, 1000)
    _screenshot(d, tmp_path / "report.png")


# rows of the runs grid: the Run Name cell's text and the colour of the status icon (Created column)
GRID_ROWS = r"""
const out = {};
for (const c of document.querySelectorAll('.ag-row [col-id="attributes.`Run Name`"]')) {
  const i = c.closest('.ag-row').getAttribute('row-index');
  const lines = c.innerText.split('\n').map(l => l.trim()).filter(l => l && !/^#[0-9a-f]{6}$/i.test(l));
  out[i] = Object.assign(out[i] || {}, {name: lines.length ? lines[lines.length - 1] : ''});
}
for (const c of document.querySelectorAll('.ag-row [col-id="runDateAndNestInfo"]')) {
  const i = c.closest('.ag-row').getAttribute('row-index'), svg = c.querySelector('svg');
  out[i] = Object.assign(out[i] || {}, {icon: svg ? getComputedStyle(svg).color : null});
}
return Object.values(out);"""


def _rgb(css: str | None) -> tuple[int, ...] | None:
    return tuple(int(float(v)) for v in css[css.index("(") + 1:css.index(")")].split(",")[:3]) if css else None


def test_mlflow_ui_runs_view_names_outcomes_and_tells_pruned_from_failed(study_store, mlflow_server, driver,
                                                                       tmp_path):
    """The URL the sweep prints lands on the study's runs table (classic-ML UI, saved view 'Trials by outcome'):
    every trial listed without clicking a '+', each name saying its outcome, a pruned trial with the green check of
    a finished run and a failed one with the red cross."""
    from experiments.mlflow_ui import runs_url

    d = driver
    d.get(runs_url(mlflow_server.url, study_store.experiment_id))
    n_trials = len(study_store.run_ids)
    rows = _wait(d, lambda d: (r := [x for x in d.execute_script(GRID_ROWS) if x.get("name", "").startswith("trial-")])
                 and len(r) == n_trials and all(x.get("icon") for x in r) and r, f"{n_trials} trial rows")
    by_name = {r["name"]: _rgb(r["icon"]) for r in rows}
    pruned = [c for name, c in by_name.items() if " · pruned@" in name]
    failed = [c for name, c in by_name.items() if " · failed" in name]
    done = [c for name, c in by_name.items() if " · fcd " in name]     # the fixture's objective: fcd/mean
    assert len(pruned) == 1 and len(failed) == 1 and len(done) == 3, by_name
    assert pruned[0] == done[0] and pruned[0][1] > pruned[0][0], "pruned: not the green check of FINISHED"
    assert failed[0] != pruned[0] and failed[0][0] > failed[0][1], "failed: not the red cross"
    assert all(f"-blog{k}" in " ".join(by_name) for k in (1, 2, 3))
    # the study's baseline runs in the same view, their own group (optuna.state = BASELINE)
    _wait(d, lambda d: any(x.get("name", "").startswith("baseline · ") for x in d.execute_script(GRID_ROWS)),
          "a baseline row beside the trials")
    _screenshot(d, tmp_path / "mlflow_runs.png")



HEADERS = "return Array.from(document.querySelectorAll('.ag-header-cell')).map(h => h.getAttribute('col-id'))"


def test_mlflow_ui_view_comes_back_after_a_reload_as_the_summary_says(study_store, mlflow_server, driver):
    """A browser reload drops the linked view's columns and grouping (MLflow 3.17 re-applies a shared view only
    from a link whose URL has no filters yet, and a loaded view has written its filters there). The sweep's
    summary says what to do (``RELOAD_HINT``), and both ways work: opening the printed link again brings the view
    back, and 'Override saved view' keeps it in this browser across reloads."""
    from selenium.webdriver.common.by import By

    from experiments.mlflow_ui import RELOAD_HINT, runs_url

    d = driver
    url = runs_url(mlflow_server.url, study_store.experiment_id)
    swept = "params.`lambda_x`"

    def view_shown(d):
        rows = [x.get("name", "") for x in d.execute_script(GRID_ROWS)]
        return swept in d.execute_script(HEADERS) and any(r.startswith("trial-") for r in rows)

    try:
        d.get(url)
        _wait(d, view_shown, "the view's columns")
        d.refresh()
        _wait(d, lambda d: any(x.get("name", "").startswith("trial-") for x in d.execute_script(GRID_ROWS)),
              "the rows after a reload")
        time.sleep(2)
        dropped = swept not in d.execute_script(HEADERS)     # MLflow's behaviour, recorded, not required
        d.get("about:blank")
        d.get(url)                                           # 1. the printed link again
        _wait(d, view_shown, "the view's columns from the link opened again")
        button = _wait(d, lambda d: [b for b in d.find_elements(By.TAG_NAME, "button")
                                     if b.text.strip() == "Override saved view"], "the 'Override saved view' button")
        button[0].click()                                    # 2. keep it in this browser
        _wait(d, lambda d: "Override saved view" not in _body(d), "the shared-view banner to go")
        d.refresh()
        _wait(d, view_shown, "the view's columns after a reload, once overridden")
        assert "'Override saved view'" in RELOAD_HINT and "link again" in RELOAD_HINT, RELOAD_HINT
        print(f"a reload without the override dropped the columns: {dropped}")
    finally:
        d.execute_script("localStorage.clear()")            # the other tests see MLflow's defaults


ASSISTANT_CLOSE = '[data-component-id="mlflow.assistant.chat_panel.close"]'


def _view_columns(study_store) -> list[str]:
    """The columns the sweep's linked view selects (from the experiment's saved-view tag)."""
    import json

    from mlflow import MlflowClient

    from experiments.mlflow_ui import TAG_VIEW, VIEW_BY_OUTCOME

    exp = MlflowClient(tracking_uri=study_store.tracking_uri).get_experiment(study_store.experiment_id)
    return json.loads(json.loads(exp.tags[TAG_VIEW + VIEW_BY_OUTCOME])["state"])["selectedColumns"]


def test_mlflow_ui_swept_params_fit_at_1600_px_and_the_assistant_stays_closed(study_store, mlflow_server, driver,
                                                                             tmp_path):
    """At 1600 px the view shows the objective and the swept params first and narrow: with MLflow's Assistant
    panel open (MLflow 3.17 opens it by itself on a browser's first visit from the server's machine, and has no
    server switch for it) all but the last are on screen; closed, all of them. A close is remembered by the
    browser across reloads (README: close it once)."""
    from selenium.webdriver.common.by import By

    from experiments.mlflow_ui import runs_url

    d = driver
    url = runs_url(mlflow_server.url, study_store.experiment_id)
    d.get(url)
    d.execute_script("localStorage.clear()")                # a browser's first visit
    d.get("about:blank")
    d.get(url)

    def on_screen(d) -> dict[str, float]:
        out = {}
        for h in d.find_elements(By.CSS_SELECTOR, ".ag-header-cell"):
            cid = h.get_attribute("col-id") or ""
            if cid.startswith("params."):
                out[cid] = d.execute_script(VISIBLE_RECT, h)[2]
        return out

    _wait(d, lambda d: "params.`lambda_x`" in d.execute_script(HEADERS), "the view's columns")
    close = _wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, ASSISTANT_CLOSE), "the Assistant panel it opens")
    time.sleep(1)
    n_swept = sum(c.startswith("params.") for c in _view_columns(study_store))
    shown = on_screen(d)
    assert sum(w >= 70 for w in shown.values()) >= n_swept - 1, shown
    _screenshot(d, tmp_path / "mlflow_runs_assistant_open.png")
    close[0].click()
    _wait(d, lambda d: not d.find_elements(By.CSS_SELECTOR, ASSISTANT_CLOSE), "the panel to close")
    time.sleep(1)
    shown = on_screen(d)
    assert len(shown) == n_swept and all(w >= 70 for w in shown.values()), shown
    d.refresh()
    _wait(d, lambda d: any(x.get("name", "").startswith("trial-") for x in d.execute_script(GRID_ROWS)),
          "the rows after a reload")
    time.sleep(2)
    assert not d.find_elements(By.CSS_SELECTOR, ASSISTANT_CLOSE), "the Assistant panel came back after a reload"
    _screenshot(d, tmp_path / "mlflow_runs_assistant_closed.png")


def test_mlflow_ui_best_trial_and_parent_run_say_what_they_are(study_store, mlflow_server, driver, tmp_path):
    """The best trial's run page shows its description (what it is, its rank, how it compares with the baselines)
    and the study's parent run page says which trial is best (the sweep's describe_runs, real sweep fixture)."""
    from mlflow import MlflowClient
    from selenium.webdriver.common.by import By

    from experiments.mlflow_ui import TAG_NOTE

    client = MlflowClient(tracking_uri=study_store.tracking_uri)
    notes = {rid: client.get_run(rid).data.tags.get(TAG_NOTE, "") for rid in study_store.run_ids.values()}
    best = [rid for rid, note in notes.items() if note.startswith("**Best trial of the study**")]
    assert len(best) == 1, notes
    number = next(n for n, rid in study_store.run_ids.items() if rid == best[0])
    d = driver
    d.get(f"{mlflow_server.url}/#/experiments/{study_store.experiment_id}/runs/{best[0]}"
          "?workflowType=machine_learning")
    note = _wait(d, lambda d: d.find_elements(By.XPATH, "//*[contains(text(), 'Best trial of the study')]"),
                 "the best trial's description on its run page")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", note[-1])
    text = _body(d)
    assert "rank 1 of" in text and "against the reference rows" in text and "checkpoint" in text, text[:3000]
    _screenshot(d, tmp_path / "mlflow_best_trial.png")
    d.get(f"{mlflow_server.url}/#/experiments/{study_store.experiment_id}/runs/{study_store.parent_run_id}"
          "?workflowType=machine_learning")
    _wait(d, lambda d: f"trial {number}" in _body(d) and "Best:" in _body(d),
          "the parent run's description naming the best trial")
    _screenshot(d, tmp_path / "mlflow_parent_run.png")

# the part of an element really on screen (its rect clipped by scrolling ancestors), in CSS px, + DPR
VISIBLE_RECT = r"""
let r = arguments[0].getBoundingClientRect(), x0 = r.left, y0 = r.top, x1 = r.right, y1 = r.bottom;
for (let e = arguments[0].parentElement; e; e = e.parentElement) {
  const s = getComputedStyle(e);
  if (s.overflowX !== 'visible' || s.overflowY !== 'visible') {
    const q = e.getBoundingClientRect();
    x0 = Math.max(x0, q.left); y0 = Math.max(y0, q.top); x1 = Math.min(x1, q.right); y1 = Math.min(y1, q.bottom);
  }
}
return [x0, y0, Math.max(0, Math.min(x1, innerWidth) - x0), Math.max(0, Math.min(y1, innerHeight) - y0),
        devicePixelRatio];"""
IMAGE_CARD = "//*[@data-testid='experiment-view-compare-runs-card'][.//*[normalize-space(text())='{key}']]"


def test_mlflow_ui_image_panel_shows_the_sample_grid(study_store, mlflow_server, driver, tmp_path):
    """A trial's Model metrics tab: the samples/final_a2b card (the last grid, logged once) shows the picture
    without touching the step slider. Why the samples/a2b card stays blank: MLflow's image card opens at step 0
    and moves by itself only for a key with one step; the grids are logged at later steps."""
    import numpy as np
    from PIL import Image
    from selenium.webdriver.common.by import By

    run_id = study_store.run_ids[study_store.blog[3]]
    d = driver
    d.get(f"{mlflow_server.url}/#/experiments/{study_store.experiment_id}/runs/{run_id}/model-metrics"
          "?workflowType=machine_learning")
    # chart cards render once an IntersectionObserver sees them: scroll the section, then the card, into view
    heads = _wait(d, lambda d: d.find_elements(By.XPATH, "//*[normalize-space(text())='samples']"),
                  "the samples chart section")
    d.execute_script("arguments[0].scrollIntoView({block: 'start'})", heads[-1])
    card = _wait(d, lambda d: d.find_elements(By.XPATH, IMAGE_CARD.format(key="samples/final_a2b")),
                 "the samples/final_a2b card")[0]
    d.execute_script("arguments[0].scrollIntoView({block: 'start'})", card)

    def loaded(d):
        for img in card.find_elements(By.TAG_NAME, "img"):
            if "get-artifact" in (img.get_attribute("src") or "") and d.execute_script(
                    "return arguments[0].complete && arguments[0].naturalWidth > 0", img):
                return img
        return False

    img = _wait(d, loaded, "the final grid to load")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", img)
    x, y, w, h, dpr = d.execute_script(VISIBLE_RECT, img)
    assert w > 20 and h > 20, f"image hardly visible ({w}x{h} px)"
    shot = tmp_path / "mlflow_image_panel.png"
    _screenshot(d, shot)
    with Image.open(shot) as im:
        a = np.asarray(im.convert("RGB").crop(tuple(int(round(v * dpr)) for v in (x, y, x + w, y + h))))
    codes = a.reshape(-1, 3).astype(np.uint32) @ np.array([65536, 256, 1], dtype=np.uint32)
    _, counts = np.unique(codes, return_counts=True)
    # the grey "No image logged at this step" box is > 90% one colour; a sample grid has no dominant colour
    assert counts.max() / codes.size < 0.5 and len(counts) > 100 and a.std() > 10, (len(counts), a.std())


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


@pytest.fixture(scope="module")
def dashboard(study_store, tmp_path_factory):
    """``optuna-dashboard <journal> --server wsgiref`` on the fixture's Optuna journal (wsgiref: no gunicorn
    control socket in the home folder; about 3 s to start here)."""
    exe = Path(sys.executable).with_name("optuna-dashboard")
    if not exe.exists():
        pytest.skip("optuna-dashboard is not installed (pip install optuna-dashboard; the test extra has it)")
    port = _free_port()
    log = tmp_path_factory.mktemp("dashboard") / "dashboard.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(exe), study_store.storage, "--host", "127.0.0.1", "--port", str(port),
                                 "--server", "wsgiref"], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"optuna-dashboard exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base}/api/studies", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"optuna-dashboard did not answer in 90 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield base
    finally:
        _stop_group(proc)


def test_optuna_dashboard_lists_the_trials(study_store, dashboard, driver, tmp_path):
    """The command the sweep prints serves the study's journal; its trial list shows every trial and state."""
    import json

    import optuna

    from experiments.storage import open_journal

    trials = optuna.load_study(study_name=study_store.main, storage=open_journal(study_store.storage)).get_trials()
    with urllib.request.urlopen(f"{dashboard}/api/studies", timeout=10) as r:
        sid = next(s["study_id"] for s in json.load(r)["study_summaries"] if s["study_name"] == study_store.main)
    d = driver
    d.get(f"{dashboard}/dashboard/studies/{sid}/trials")
    _wait(d, lambda d: f"{len(trials)} Trials" in _body(d), f"the header '{len(trials)} Trials'")
    collect = """
        const items = Array.from(document.querySelectorAll('li, [role=button]'))
            .map(e => e.innerText.split('\\n')[0].trim()).filter(t => /^Trial \\d+$/.test(t));
        const first = Array.from(document.querySelectorAll('li')).find(e => /^Trial \\d+/.test(e.innerText));
        let box = first; while (box && !(box.scrollHeight > box.clientHeight + 5 &&
               ['auto', 'scroll'].includes(getComputedStyle(box).overflowY))) box = box.parentElement;
        const done = !box || box.scrollTop + box.clientHeight >= box.scrollHeight - 2;
        if (box) box.scrollTop += box.clientHeight * 0.8;
        return [items, done];"""
    want, seen = {f"Trial {t.number}" for t in trials}, set()
    for _ in range(100):   # the list is virtualised: scroll it to see every item
        items, done = d.execute_script(collect)
        seen |= set(items)
        if want <= seen or done:
            break
        time.sleep(0.2)
    assert want <= seen, f"trials missing from the dashboard's list: {sorted(want - seen)}"
    d.execute_script("window.scrollTo(0, 0)")
    text = _body(d)
    for word in {"COMPLETE": "Complete", "PRUNED": "Pruned", "FAIL": "Fail"}.values():
        assert word in text, f"state {word} not shown"
    _screenshot(d, tmp_path / "optuna_dashboard.png")
