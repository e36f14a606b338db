#!/usr/bin/env bash
# Prepare the GPU check (bench/gpu_check.sh) on THIS machine, before the one device call: the GPU machine cannot
# download anything and cannot see ../shared.
#
#   bash bench/prepare_gpu_check.sh            # then call the device tool as docs/speed.md says
#
# 1. copies the seed blog's timing script ../shared/bench/blog_reference.py into .bench/ (git-ignored: it is the
#    seed's code, never committed);
# 2. downloads into .whl/ (git-ignored) the wheels the GPU image lacks, for CPython 3.12 on manylinux x86_64: the
#    closure of mlflow-skinny (MLflow's client and SQLite tracking store, without the UI server), optuna, SQLAlchemy,
#    alembic and torch-fidelity, minus what the image already has (IMAGE_HAS below, from the device notes);
# 3. checks the set: every requirement of every carried wheel is carried or in the image (by name), and, where a
#    Python 3.12 is at hand, installs the set the way the GPU check does (--no-deps --target) into a throwaway 3.12
#    virtualenv beside the image's other packages and runs an MLflow SQLite store + Optuna study in it;
# 4. checks that what travels (tracked and untracked-not-ignored files, .whl, .bench) stays under 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
SHARED=${SHARED:-../shared}
LIMIT_MIB=64

# the versions this project is tested with (pyproject.toml's extras, as installed in its CI)
PINS=(mlflow-skinny==3.17.2 optuna==5.0.0 sqlalchemy==2.1.9 alembic==1.20.1)
NODEPS=(torch-fidelity==0.4.0)          # its requirements (torch, torchvision, numpy, ...) are all in the image
# In the GPU image already (docs: KINDS.md, "Python packages already there"), so not carried. protobuf and
# typing-extensions are carried although the image has them: its versions are unknown, and opentelemetry-proto's
# generated code and pydantic need recent ones (a newer pure-Python copy first on PYTHONPATH harms nothing there).
IMAGE_HAS="annotated-doc anyio attrs certifi charset-normalizer click cloudpickle colorama filelock fsspec h11
httpcore httpx idna jinja2 markupsafe numpy packaging pillow psutil pyyaml requests rich scipy setuptools six tqdm
urllib3 zipp pandas pyarrow matplotlib torch torchvision torchmetrics pytest pytest-timeout"
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform manylinux1_x86_64)

grep -qx '/.whl/' .gitignore && grep -qx '/.bench/' .gitignore || {
  echo "error: .gitignore must list /.whl/ and /.bench/ (they must never be committed)" >&2; exit 1; }

# 1. the reference script
src="$SHARED/bench/blog_reference.py"
if [ -f "$src" ]; then
  mkdir -p .bench && cp "$src" .bench/blog_reference.py && echo "reference: $src -> .bench/blog_reference.py"
else
  echo "warning: $src not found: the check will say 'reference: not carried'" >&2
fi

# 2. the wheels: resolve the full closure for 3.12, keep what the image lacks
dl=$(mktemp -d)
trap 'rm -rf "$dl"' EXIT
pip_dl=("$PY" -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp "${PLATFORMS[@]}")
"${pip_dl[@]}" -d "$dl/all" "${PINS[@]}"
"${pip_dl[@]}" --no-deps -d "$dl/all" "${NODEPS[@]}"
rm -rf .whl && mkdir -p .whl
IMAGE_HAS="$IMAGE_HAS" "$PY" - "$dl/all" .whl <<'EOF'
import os, re, shutil, sys
from pathlib import Path
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
image = set(map(norm, os.environ["IMAGE_HAS"].split()))
kept, left = [], []
for w in sorted(src.glob("*.whl")):
    (left if norm(w.name.split("-")[0]) in image else kept).append(w)
for w in kept:
    shutil.copy2(w, dst / w.name)
print(f"wheels: {len(kept)} carried ({sum(w.stat().st_size for w in kept) / 2**20:.1f} MiB), "
      f"{len(left)} left to the image: {', '.join(norm(w.name.split('-')[0]) for w in left)}")
EOF

# 3a. closure by name: every requirement (for CPython 3.12 on Linux, no extras) is carried or in the image
IMAGE_HAS="$IMAGE_HAS" "$PY" - .whl <<'EOF'
import os, re, sys, zipfile
from pathlib import Path
from packaging.requirements import Requirement
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
env = {"python_version": "3.12", "python_full_version": "3.12.3", "sys_platform": "linux", "platform_system": "Linux",
       "platform_machine": "x86_64", "implementation_name": "cpython", "platform_python_implementation": "CPython",
       "os_name": "posix", "extra": ""}
wheels = sorted(Path(sys.argv[1]).glob("*.whl"))
have = {norm(w.name.split("-")[0]) for w in wheels} | set(map(norm, os.environ["IMAGE_HAS"].split()))
names = [norm(w.name.split("-")[0]) for w in wheels]
dup = {n for n in names if names.count(n) > 1}
if dup:
    sys.exit(f"error: two versions of {', '.join(sorted(dup))} in .whl (pip --target would stop)")
missing = []
for w in wheels:
    with zipfile.ZipFile(w) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        for line in z.read(meta).decode().splitlines():
            if line.startswith("Requires-Dist:"):
                r = Requirement(line.split(":", 1)[1].strip())
                if (r.marker is None or r.marker.evaluate(env)) and norm(r.name) not in have:
                    missing.append(f"{w.name} needs {r}")
if missing:
    sys.exit("error: requirements neither carried nor in the image:\n  " + "\n  ".join(missing))
print(f"closure: every requirement of the {len(wheels)} wheels is carried or in the image")
EOF

# 3b. install and use them with a real CPython 3.12 (the GPU image's is 3.12.3), if one is here
is312() { [ -n "$1" ] && "$1" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; }
if ! is312 "${PY312:-}"; then
  PY312=""
  for c in python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python3.12 /usr/bin/python3.12 /usr/local/bin/python3.12; do
    if is312 "$c"; then PY312=$c; break; fi
  done
fi
if [ -n "$PY312" ]; then
  "$PY312" -m venv "$dl/venv"
  # the image's side of the requirements (any recent version), then the carried set exactly as gpu_check.py does
  "$dl/venv/bin/python" -m pip install -q numpy pyyaml requests tqdm click packaging markupsafe zipp h11 anyio \
    cloudpickle annotated-doc
  "$dl/venv/bin/python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$dl/site" .whl/*.whl
  PYTHONPATH="$dl/site" MLFLOW_ENABLE_ASYNC_LOGGING=false "$dl/venv/bin/python" - "$dl/smoke" <<'EOF'
import sys, warnings
from pathlib import Path
warnings.filterwarnings("ignore")
root = Path(sys.argv[1]); root.mkdir()
import logging
import mlflow, optuna, sqlalchemy, alembic
from mlflow import MlflowClient
optuna.logging.set_verbosity(optuna.logging.WARNING)
logging.getLogger("mlflow").setLevel(logging.WARNING)
c = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
exp = c.create_experiment("smoke", artifact_location=(root / "artifacts").as_uri())
run = c.create_run(exp).info.run_id
c.log_metric(run, "loss", 0.5, step=1)
(root / "a.txt").write_text("x")
c.log_artifact(run, str(root / "a.txt"))
c.set_terminated(run)
assert c.get_run(run).data.metrics["loss"] == 0.5
from optuna.storages.journal import JournalFileBackend, JournalStorage
for storage in (JournalStorage(JournalFileBackend(str(root / "optuna.journal"))), f"sqlite:///{root / 'optuna.db'}"):
    s = optuna.create_study(storage=storage, study_name="smoke")
    s.optimize(lambda t: t.suggest_float("x", 0, 1) ** 2, n_trials=3)
    assert len(s.trials) == 3
import importlib.util  # torch-fidelity imports torch (the image's) when imported: here it is only found
assert Path(importlib.util.find_spec("torch_fidelity").origin).parents[1] == Path(mlflow.__file__).parents[1]
print(f"3.12 check: mlflow {mlflow.__version__} (SQLite store), optuna {optuna.__version__} (journal + SQLite), "
      f"sqlalchemy {sqlalchemy.__version__}, alembic {alembic.__version__}: installed and used under "
      f"Python {sys.version.split()[0]}")
EOF
else
  echo "warning: no Python 3.12 here: the wheel set was checked by name only" >&2
fi

# 4. what travels to the device machine
"$PY" - "$LIMIT_MIB" <<'EOF'
import subprocess, sys
from pathlib import Path
limit = float(sys.argv[1])
files = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], capture_output=True,
                       check=True).stdout.split(b"\0")
tree = sum(Path(f.decode()).stat().st_size for f in files if f and Path(f.decode()).is_file())
carried = {d: sum(p.stat().st_size for p in Path(d).rglob("*") if p.is_file()) for d in (".whl", ".bench")
           if Path(d).is_dir()}
total = (tree + sum(carried.values())) / 2**20
parts = ", ".join(f"{d} {v / 2**20:.1f} MiB" for d, v in carried.items())
print(f"travels: working tree {tree / 2**20:.1f} MiB + {parts} = {total:.1f} MiB of {limit:.0f} MiB")
if total > limit:
    sys.exit("error: too much would travel to the device machine")
EOF
echo "ready: call the device tool with carry [\".whl\", \".bench\"] (docs/speed.md, 'The GPU check')"
