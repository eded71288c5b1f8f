"""Search tasks in natural language for pretrained LMs: few-shot prompts through the model's own tokenizer (and chat
template where it has one), named positions aligned to the model's tokens, and answers scored two ways:
ranking the candidate answers by their full log-probability, and greedy generation."""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from mesaprobe.errors import UserError
from mesaprobe.runtime import progress_disabled
from mesaprobe.tasks.base import ANSWER_POSITION, SearchTask


@dataclass
class TextExample:
    ids: list[int]
    positions: dict[str, int]  # name -> token index
    answer: str
    candidates: list[str]
    meta: dict


def build_prompt(task: SearchTask, tokenizer, meta: dict, shots: list[dict], chat: bool) -> tuple[str, int]:
    """The full prompt string and the character offset where the query's own prompt begins."""
    demos = "".join(f"{p} {a}\n\n" for p, a in (task.render_text(m) for m in shots))
    query, _ = task.render_text(meta)
    user = demos + query
    if chat and getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template([{"role": "user", "content": user}], tokenize=False,
                                             add_generation_prompt=True)
        text += query.rsplit("\n", 1)[-1]  # the answer stem again, so the model continues it directly
        return text, text.index(user) + len(demos)
    return user, len(demos)


def text_examples(task: SearchTask, tokenizer, n: int, seed: int, shots: int = 3, chat: bool = True) -> list[TextExample]:
    if not getattr(tokenizer, "is_fast", False):
        raise UserError("this tokenizer cannot map characters to tokens (not a fast tokenizer); it cannot render "
                        f"{task.name} with aligned positions")
    demos = task.instances(shots * n, seed=f"shots:{seed}")
    out = []
    for i, inst in enumerate(task.instances(n, seed=f"probe:{seed}")):
        text, start = build_prompt(task, tokenizer, inst.meta, [d.meta for d in demos[i * shots:(i + 1) * shots]], chat)
        query, answer = task.render_text(inst.meta)
        chars = {k: start + v for k, v in task.text_positions(inst.meta, query).items()}
        chars[ANSWER_POSITION] = len(text) - 1
        enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=not chat)
        positions = {}
        for name, c in chars.items():
            tok = [j for j, (a, b) in enumerate(enc["offset_mapping"]) if a <= c < b]
            if not tok:
                raise UserError(f"the tokenizer drops character {c} of a {task.name} prompt; cannot align {name}")
            positions[name] = tok[0]
        out.append(TextExample(enc["input_ids"], positions, answer, task.text_candidates(inst.meta), inst.meta))
    return out


@torch.no_grad()
def score_examples(model, tokenizer, examples: list[TextExample], max_new_tokens: int = 4,
                   progress: bool = True) -> dict:
    """Rank accuracy (argmax over candidates of log P(" " + candidate | prompt), with the prompt's KV cache reused)
    and greedy accuracy (the first number or word generated equals the answer)."""
    device = next(model.parameters()).device
    rank_hits, greedy_hits, unparsed = 0, 0, 0
    for ex in tqdm(examples, desc="score", disable=progress_disabled(progress), leave=False):
        ids = torch.tensor([ex.ids], device=device)
        out = model(ids, use_cache=True)
        cands = [tokenizer(" " + c, add_special_tokens=False)["input_ids"] for c in ex.candidates]
        width = max(map(len, cands))
        batch = torch.full((len(cands), width), tokenizer.pad_token_id or 0, device=device)
        for j, c in enumerate(cands):
            batch[j, : len(c)] = torch.tensor(c)
        cache = copy.deepcopy(out.past_key_values)
        cache.batch_repeat_interleave(len(cands))
        mask = torch.ones(len(cands), ids.shape[1] + width, dtype=torch.long, device=device)
        cont = model(batch, past_key_values=cache, attention_mask=mask).logits.log_softmax(-1)
        first = out.logits[0, -1].log_softmax(-1)
        scores = [first[c[0]] + sum(cont[j, k - 1, c[k]] for k in range(1, len(c))) for j, c in enumerate(cands)]
        rank_hits += ex.candidates[int(torch.stack(scores).argmax())] == ex.answer
        generated, cache, nxt = [], out.past_key_values, out.logits[0, -1].argmax()
        for _ in range(max_new_tokens):
            generated.append(int(nxt))
            step = model(nxt.view(1, 1), past_key_values=cache, use_cache=True)
            cache, nxt = step.past_key_values, step.logits[0, -1].argmax()
        words = re.findall(r"[A-Za-z]+|\d+", tokenizer.decode(generated))
        unparsed += not words
        greedy_hits += bool(words) and words[0] == ex.answer
    n = len(examples)
    return {"accuracy": rank_hits / n, "rank_accuracy": rank_hits / n, "greedy_accuracy": greedy_hits / n,
            "greedy_unparsed": unparsed / n, "chance": sum(1 / len(ex.candidates) for ex in examples) / n}
