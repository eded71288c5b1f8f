"""PPO's saved state beside `--out` (`.NAME.resume/`), kept so that a stopped run continues where it was. The folder
is mesaprobe's only while it carries its claim (`claim.json`: the run's identity, the state file's name and its
sha256), written after the state it names: a folder without it, or claimed by another run (another task, seed or
setting), is left alone, never read, written or removed. The state loads with `torch.load(weights_only=True)` and only
after its hash matches the claim, so a file planted there cannot run code."""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import sys
from pathlib import Path

import torch

from mesaprobe.errors import UserError

CLAIM = "claim.json"
OURS = re.compile(r"claim\.json(\.tmp)?|state-\d+\.pt(\.tmp)?")  # what `save` writes, a killed save's part included
KIND = "mesaprobe.ppo-state/1"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ResumeDir:
    """One run's view of its resume folder: `load` at the start, `save` every few iterations, `discard` once the
    model is saved."""

    def __init__(self, path: str | Path):
        self.path, self.identity, self.ours = Path(path), None, True

    def claim(self) -> dict | None:
        try:
            claim = json.loads((self.path / CLAIM).read_text())
        except (OSError, ValueError):
            return None
        return claim if isinstance(claim, dict) and claim.get("kind") == KIND else None

    def load(self, identity: dict) -> dict | None:
        """This run's saved state, or None (nothing saved, or the folder is not this run's: then it is left alone
        for the whole run, with a note)."""
        self.identity = json.loads(json.dumps(identity, default=str))  # as the claim keeps it (tuples as lists)
        if not self.path.exists():
            return None
        claim = self.claim()
        if claim is None or claim.get("identity") != self.identity:
            self.ours = False
            what = "another run's PPO state" if claim else "no PPO state mesaprobe wrote"
            print(f"note: {self.path} holds {what}; it is left alone and this run keeps no resumable state",
                  file=sys.stderr)
            return None
        state = self.path / str(claim.get("state"))
        if state.parent != self.path or not state.is_file() or sha256(state) != claim.get("sha256"):
            raise UserError(f"{state} is not the PPO state mesaprobe saved there (missing or changed since); move "
                            f"{self.path} away to train from the start")
        try:
            return torch.load(state, weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
            raise UserError(f"{state} cannot be read as a PPO state ({type(exc).__name__}); move {self.path} away "
                            "to train from the start") from None

    def save(self, state: dict) -> None:
        """Write the state under a new name, then the claim that names it, then drop the previous state: a kill at
        any point leaves a claim that names a whole file."""
        if not self.ours:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        old = self.claim()
        name = f"state-{state['iteration']}.pt"
        torch.save(state, self.path / f"{name}.tmp")
        os.replace(self.path / f"{name}.tmp", self.path / name)
        claim = {"kind": KIND, "identity": self.identity, "state": name, "sha256": sha256(self.path / name),
                 "iteration": state["iteration"]}
        (self.path / f"{CLAIM}.tmp").write_text(json.dumps(claim))
        os.replace(self.path / f"{CLAIM}.tmp", self.path / CLAIM)
        if old and old.get("state") != name:
            (self.path / str(old["state"])).unlink(missing_ok=True)

    def discard(self) -> None:
        """After the model is saved: remove the folder when it is this run's and holds nothing else; else say why
        it stays."""
        claim = self.claim() if self.path.exists() else None
        if not self.path.exists():
            return
        if self.identity is None or not self.ours or claim is None or claim.get("identity") != self.identity:
            print(f"note: {self.path} is not this run's PPO state; left alone", file=sys.stderr)
            return
        others = [p.name for p in self.path.iterdir() if not OURS.fullmatch(p.name)]
        if others:
            print(f"note: {self.path} also holds {others[0]!r}, which mesaprobe did not write; left alone",
                  file=sys.stderr)
            return
        for p in self.path.iterdir():
            p.unlink()
        self.path.rmdir()


def saved_iteration(path: Path) -> int | None:
    """The iteration of the state a resume folder's claim names, or None."""
    claim = ResumeDir(path).claim()
    return None if claim is None else int(claim["iteration"])
