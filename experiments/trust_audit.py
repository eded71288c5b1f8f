"""Issue 50's re-audit: 30 cases of planted or hand-edited input, each refused in one `error:` line (exit 2) with nothing
created, or survived as it should (a planted resume pickle never runs). Writes experiments/results/trust-audit.json.

    python experiments/trust_audit.py RUN WORKDIR      (RUN: any probe run of tests/fixtures/argmax-sl)"""
import json, os, pickle, shutil, subprocess, sys
from pathlib import Path
ROOT = Path(__file__).resolve().parents[1]
M = [sys.executable, "-m", "mesaprobe.cli"]
FIX = ROOT / "tests" / "fixtures" / "argmax-sl"
RUN, W = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve() / "audit"
shutil.rmtree(W, ignore_errors=True); W.mkdir(parents=True)
os.chdir(W)

def model(name, edit=None):
    d = W / name; shutil.copytree(FIX, d)
    if edit: edit(d)
    return d

def run(args):
    r = subprocess.run(M + [str(a) for a in args], capture_output=True, text=True, timeout=300)
    return r.returncode, (r.stdout + r.stderr).strip().splitlines()

def refused(args, creates=()):
    code, lines = run(args)
    errs = [l for l in lines if l.startswith("error:")]
    ok = code == 2 and len(errs) == 1 and not any("Traceback" in l for l in lines) and not any(Path(c).exists() for c in creates)
    return ok, (errs[0] if errs else (lines[-1] if lines else ""))[:140]

def cfg(d, **kw):
    c = json.loads((d / "config.json").read_text()); c.update(kw); (d / "config.json").write_text(json.dumps(c))

cases = []
def case(name, fn): cases.append((name, fn))

case("config n_head that does not divide", lambda: refused(["probe", model("a1", lambda d: cfg(d, n_head=5)), "argmax", "--out", "o1", "--n", "50"], ["o1"]))
case("config n_positions smaller than the weights", lambda: refused(["probe", model("a2", lambda d: cfg(d, n_positions=8)), "argmax", "--out", "o2", "--n", "50"], ["o2"]))
case("config model_type unknown", lambda: refused(["probe", model("a3", lambda d: cfg(d, model_type="nope")), "argmax", "--out", "o3", "--n", "50"], ["o3"]))
case("config.json a list", lambda: refused(["probe", model("a4", lambda d: (d / "config.json").write_text("[1]")), "argmax", "--out", "o4", "--n", "50"], ["o4"]))
case("weights file empty", lambda: refused(["probe", model("a5", lambda d: (d / "model.safetensors").write_bytes(b"")), "argmax", "--out", "o5", "--n", "50"], ["o5"]))
case("weights with an extra tensor", lambda: refused(["probe", model("a6", lambda d: __import__("safetensors.torch").torch.save_file(__import__("safetensors.torch").torch.load_file(d / "model.safetensors") | {"extra.weight": __import__("torch").zeros(2)}, d / "model.safetensors")), "argmax", "--out", "o6", "--n", "50"], ["o6"]))
case("mesaprobe.json a string", lambda: refused(["probe", model("a7", lambda d: (d / "mesaprobe.json").write_text('"x"')), "argmax", "--out", "o7", "--n", "50"], ["o7"]))
case("probe --seeds 0", lambda: refused(["probe", FIX, "argmax", "--out", "o8", "--seeds", "0"], ["o8"]))
case("probe --folds 1", lambda: refused(["probe", FIX, "argmax", "--out", "o9", "--folds", "1"], ["o9"]))
case("probe --seed 2**31", lambda: refused(["probe", FIX, "argmax", "--out", "o10", "--seed", str(2**31)], ["o10"]))
case("train --steps 0", lambda: refused(["train", "argmax", "--out", "o11", "--steps", "0"], ["o11"]))
case("train --seed -1", lambda: refused(["train", "argmax", "--out", "o12", "--seed", "-1"], ["o12"]))
case("train --out into a model dir", lambda: refused(["train", "argmax", "--out", model("a13") / "sub", "--steps", "5"], [W / "a13" / "sub"]))
case("train --out ..", lambda: refused(["train", "argmax", "--out", "..", "--steps", "5"]))
case("train --out .", lambda: refused(["train", "argmax", "--out", ".", "--steps", "5"]))
case("train -p K=1", lambda: refused(["train", "argmax", "--out", "o16", "-p", "K=1"], ["o16"]))
case("train --threads 2000", lambda: refused(["--threads", "2000", "train", "argmax", "--out", "o17"], ["o17"]))
def overwrite_edited():
    d = model("a18"); c = json.loads((d / "training.json").read_text()); t = (d / "training.json").read_text()
    (d / "training.json").write_text(t.replace('"seed": 0', '"seed": 9'))
    ok, msg = refused(["train", "argmax", "--out", d, "--steps", "5", "--overwrite"])
    return ok and '"seed": 9' in (d / "training.json").read_text(), msg
case("overwrite of a same-size edit", overwrite_edited)
def overwrite_added():
    d = model("a19"); (d / "notes.txt").write_text("mine")
    ok, msg = refused(["train", "argmax", "--out", d, "--steps", "5", "--overwrite"])
    return ok and (d / "notes.txt").exists(), msg
case("overwrite of a dir with a user file", overwrite_added)
def card_edited():
    d = model("a20"); (d / "README.md").write_text((d / "README.md").read_text() + "\nmine\n")
    ok, msg = refused(["card", d])
    return ok and (d / "README.md").read_text().endswith("mine\n"), msg
case("card over an edited card", card_edited)
def resume_planted():
    (W / ".g.resume").mkdir(); marker = W / "ran"
    class P:
        def __reduce__(self): return (open, (str(marker), "w"))
    (W / ".g.resume" / "state.pt").write_bytes(pickle.dumps(P()))
    code, lines = run(["train", "gridworld", "--method", "rl", "--steps", "1", "--out", "g"])
    return code == 0 and not marker.exists() and (W / ".g.resume" / "state.pt").exists(), lines[-1][:140] if lines else ""
case("planted pickle in a resume folder", resume_planted)
def resume_forged_claim():
    d = W / ".h.resume"; d.mkdir(); marker = W / "ran2"
    class P:
        def __reduce__(self): return (open, (str(marker), "w"))
    (d / "state-8.pt").write_bytes(pickle.dumps(P()))
    (d / "claim.json").write_text(json.dumps({"kind": "mesaprobe.ppo-state/1", "identity": {}, "state": "state-8.pt", "sha256": "0", "iteration": 8}))
    code, lines = run(["train", "gridworld", "--method", "rl", "--steps", "1", "--out", "h"])
    return code == 0 and not marker.exists() and (d / "state-8.pt").exists(), lines[-1][:140] if lines else ""
case("forged claim for another run", resume_forged_claim)
def results_edit(name, f):
    d = W / name; shutil.copytree(RUN, d); r = json.loads((d / "results.json").read_text()); f(r); (d / "results.json").write_text(json.dumps(r))
    return refused(["report", d, "--out", W / f"{name}.html"], [W / f"{name}.html"])
case("results: verdict a number", lambda: results_edit("r23", lambda r: r.update(verdict=5)))
case("results: indices.search a list", lambda: results_edit("r24", lambda r: r["indices"].update(search=[])))
case("results: causal effect a string", lambda: results_edit("r25", lambda r: r["causal"][0].update(effect="x")))
case("results: probes a dict", lambda: results_edit("r26", lambda r: r.update(probes={})))
case("report --out is the run dir", lambda: refused(["report", RUN, "--out", RUN]))
case("report of a non-run dir", lambda: refused(["report", W, "--out", W / "x.html"], [W / "x.html"]))
case("sweep YAML steps -1", lambda: (Path("s.yaml").write_text("task: argmax\nvary: {K: [3]}\nsteps: -1\n"), refused(["sweep", "--config", "s.yaml", "--out", "sw"], ["sw"]))[1])
case("sweep --vary K=3 --training-seeds 0", lambda: refused(["sweep", "argmax", "--vary", "K=3", "--training-seeds", "0", "--out", "sw2"], ["sw2"]))

held = 0
rows = []
for name, fn in cases:
    try:
        ok, msg = fn()
    except Exception as exc:
        ok, msg = False, f"{type(exc).__name__}: {exc}"
    held += ok
    rows.append({"case": name, "held": bool(ok), "said": msg})
    print(("HELD " if ok else "FAIL ") + name + " :: " + msg, flush=True)
print(f"{held} of {len(cases)} held")
json.dump({"cases": rows, "held": held, "of": len(cases)}, open(ROOT / "experiments" / "results" / "trust-audit.json", "w"),
          indent=1)
