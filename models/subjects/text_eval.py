"""Search tasks in natural language for pretrained LMs: few-shot prompts through the model's own tokenizer (and chat
template where it has one), named positions aligned to the model's tokens, and answers scored two ways:
ranking the candidate answers by their full log-probability, and greedy generation."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from mesaprobe.errors import UserError
from mesaprobe.models.forward import TOKENS_PER_BATCH, last_token_logits_kwargs, token_batches
from mesaprobe.models.rollouts.tiny import pad_batch
from mesaprobe.runtime import bar_options
from mesaprobe.tasks.base import ANSWER_POSITION, SearchTask


@dataclass
class TextExample:
    ids: list[int]  # the prompt, ending with the candidates' shared leading tokens (`stem`)
    positions: dict[str, int]  # name -> token index
    answer: str
    candidates: list[str]
    meta: dict
    stem: list[int] = field(default_factory=list)

    def candidate_tokens(self, tokenizer) -> list[list[int]]:
        """Each candidate's tokens after the prompt (its shared stem is already in the prompt)."""
        return [tokens[len(self.stem):] for tokens in candidate_tokens(tokenizer, self.candidates)]


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
    check_fast(task, tokenizer)
    demos = task.instances(shots * n, seed=f"shots:{seed}")
    return [render_example(task, tokenizer, inst.meta, [d.meta for d in demos[i * shots:(i + 1) * shots]], chat)
            for i, inst in enumerate(task.instances(n, seed=f"probe:{seed}"))]


def check_fast(task: SearchTask, tokenizer) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise UserError("this tokenizer cannot map characters to tokens (not a fast tokenizer); it cannot render "
                        f"{task.name} with aligned positions")


def render_example(task: SearchTask, tokenizer, meta: dict, shots: list[dict], chat: bool) -> TextExample:
    """One prompt (after `shots` solved examples) through the model's tokenizer, its named positions as token
    indices (the last token of each span). The leading tokens all candidates share join the prompt, so the answer
    position, its last token, is where the candidates part (SmolLM2 writes " 7" as " " then "7": without the
    space in the prompt, the digit would be chosen one position after the one the causal probes edit)."""
    text, start = build_prompt(task, tokenizer, meta, shots, chat)
    query, answer = task.render_text(meta)
    chars = {k: start + v for k, v in task.text_positions(meta, query).items()}
    chars[ANSWER_POSITION] = len(text) - 1
    enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=not chat)
    positions = {}
    for name, c in chars.items():
        tok = [j for j, (a, b) in enumerate(enc["offset_mapping"]) if a <= c < b]
        if not tok:
            raise UserError(f"the tokenizer drops character {c} of a {task.name} prompt; cannot align {name}")
        positions[name] = tok[0]
    candidates = task.text_candidates(meta)
    stem = shared_stem(candidate_tokens(tokenizer, candidates))
    ids = enc["input_ids"] + stem
    return TextExample(ids, positions | {ANSWER_POSITION: len(ids) - 1}, answer, candidates, meta, stem)


def shared_stem(token_lists: list[list[int]]) -> list[int]:
    """The leading tokens every candidate shares, short of the shortest candidate (each keeps a token of its own)."""
    stem = []
    for column in zip(*token_lists):
        if len(set(column)) > 1:
            break
        stem.append(column[0])
    return stem[: min(map(len, token_lists)) - 1]


def candidate_tokens(tokenizer, candidates: list[str]) -> list[list[int]]:
    """Each candidate answer as the tokens that follow the prompt (after a space)."""
    return [tokenizer(" " + c, add_special_tokens=False)["input_ids"] for c in candidates]


@torch.no_grad()
def continuation_logprobs(model, first_logprobs: torch.Tensor, cache, mask: torch.Tensor, lengths: torch.Tensor,
                          cands: list[list[list[int]]], pad_id: int) -> list[torch.Tensor]:
    """Full log-probability of each row's candidate continuations, every candidate of every row in one forward
    over the prompts' KV cache (`first_logprobs` [B, V]: the log-softmax at each prompt's last token; `mask`
    [B, width] the prompts' attention mask; `lengths` [B] their lengths). The cache is expanded in place."""
    owner = torch.tensor([i for i, cs in enumerate(cands) for _ in cs], device=lengths.device)
    ids, cand_mask = pad_batch([c for cs in cands for c in cs], pad_id)
    ids, cand_mask = ids.to(owner.device), cand_mask.to(owner.device)
    scores = first_logprobs[owner, ids[:, 0]]
    if ids.shape[1] > 1:  # tokens after the first are read from a forward over the candidates
        cache.batch_select_indices(owner)
        inputs = ids[:, :-1]
        out = model(input_ids=inputs, attention_mask=torch.cat([mask[owner], torch.ones_like(inputs)], 1),
                    position_ids=lengths[owner, None] + torch.arange(inputs.shape[1], device=owner.device),
                    past_key_values=cache, use_cache=True)
        rest = out.logits.float().log_softmax(-1).gather(-1, ids[:, 1:, None])[..., 0]
        scores = scores + (rest * cand_mask[:, 1:]).sum(1)
    return list(scores.float().cpu().split([len(cs) for cs in cands]))


class TextScorer:
    """Rank accuracy (argmax over candidates of log P(" " + candidate | prompt), the shared stem left out as it
    is the same for all) and greedy accuracy (the first
    number or word generated equals the answer), batch by batch, from the logits at each prompt's last token and the
    prompt's KV cache. The probe hands it the outputs of its extraction pass, so each prompt is read once."""

    def __init__(self, model, tokenizer, examples: list[TextExample], max_new_tokens: int = 4):
        self.model, self.tokenizer, self.examples, self.max_new_tokens = model, tokenizer, examples, max_new_tokens
        self.candidate_logprobs: list[torch.Tensor | None] = [None] * len(examples)
        self.generated: list[str | None] = [None] * len(examples)

    @torch.no_grad()
    def __call__(self, rows: slice, last_logits: torch.Tensor, cache, lengths: torch.Tensor) -> None:
        """Score rows `rows` of a right-padded batch: `last_logits` [B, V] at each row's last token, `cache` the HF
        cache of that batch (extended by greedy decoding, then cropped back and reused for the candidates)."""
        width = cache.get_seq_length()
        mask = (torch.arange(width, device=lengths.device)[None] < lengths[:, None]).long()
        tokens = self._greedy(last_logits, cache, mask, lengths)
        cache.crop(width - cache.get_seq_length())
        for i, row_tokens in zip(range(rows.start, rows.stop), tokens.tolist()):
            self.generated[i] = self.tokenizer.decode(row_tokens)
        scores = self._rank(self.examples[rows], last_logits.log_softmax(-1), cache, mask, lengths)
        self.candidate_logprobs[rows] = scores

    def _greedy(self, last_logits, cache, mask, lengths) -> torch.Tensor:
        nxt, out = last_logits.argmax(-1), []
        for k in range(self.max_new_tokens):
            out.append(nxt)
            if k + 1 == self.max_new_tokens:
                break
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            step = self.model(input_ids=nxt[:, None], attention_mask=mask, position_ids=(lengths + k)[:, None],
                              past_key_values=cache, use_cache=True)
            nxt = step.logits[:, -1].argmax(-1)
        return torch.stack(out, dim=1)

    def _rank(self, examples, first_logprobs, cache, mask, lengths) -> list[torch.Tensor]:
        """Each example's candidates' full log-probabilities."""
        cands = [ex.candidate_tokens(self.tokenizer) for ex in examples]
        return continuation_logprobs(self.model, first_logprobs, cache, mask, lengths, cands,
                                     self.tokenizer.pad_token_id or 0)

    @torch.no_grad()
    def run(self, tokens_per_batch: int = TOKENS_PER_BATCH, progress: bool = True) -> dict:
        """Feed the scorer forward passes of its own (right-padded batches cut by a token budget, logits at each
        prompt's last token), for when no extraction pass feeds it; return `result()`."""
        device = next(self.model.parameters()).device
        ids, _ = pad_batch([ex.ids for ex in self.examples], self.tokenizer.pad_token_id or 0)
        lengths = torch.tensor([len(ex.ids) for ex in self.examples])
        batches = list(token_batches(lengths.tolist(), tokens_per_batch))
        for rows in tqdm(batches, desc="score", **bar_options(progress)):
            lens = lengths[rows].to(device)
            kwargs, index = last_token_logits_kwargs(self.model, lens)
            out = self.model(input_ids=ids[rows, : int(lens.max())].to(device), use_cache=True, **kwargs)
            self(rows, out.logits[torch.arange(len(lens), device=device), index], out.past_key_values, lens)
        return self.result()

    def result(self) -> dict:
        if any(s is None for s in self.candidate_logprobs):
            raise RuntimeError("TextScorer: some examples were never scored")
        rank_hits = greedy_hits = unparsed = 0
        for ex, scores, text in zip(self.examples, self.candidate_logprobs, self.generated):
            rank_hits += ex.candidates[int(scores.argmax())] == ex.answer
            words = re.findall(r"[A-Za-z]+|\d+", text)
            unparsed += not words
            greedy_hits += bool(words) and words[0] == ex.answer
        n = len(self.examples)
        return {"accuracy": rank_hits / n, "rank_accuracy": rank_hits / n, "greedy_accuracy": greedy_hits / n,
                "greedy_unparsed": unparsed / n,
                "chance": sum(1 / len(ex.candidates) for ex in self.examples) / n}


def score_examples(model, tokenizer, examples: list[TextExample], max_new_tokens: int = 4,
                   tokens_per_batch: int = TOKENS_PER_BATCH, progress: bool = True) -> dict:
    """Rank and greedy accuracy of `examples`, from forward passes of their own (`TextScorer.run`)."""
    return TextScorer(model, tokenizer, examples, max_new_tokens).run(tokens_per_batch, progress)
