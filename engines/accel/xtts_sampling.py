"""HF ``generate``'s logits processing for XTTS, as device-only tensor ops.

Upstream's ``Xtts.inference`` ends up with these processors, in this order (transformers
5.23 ``_get_logits_processor``): repetition penalty over *all* input ids (the prompt's
placeholder ids 1 and the start token 1024 included, since the all-ones attention mask
ignores no prompt), min-new-tokens (only when the caller forces a length), then, when
sampling, temperature, top-k, top-p (min_tokens_to_keep 1). Greedy decoding applies the
first two and takes the argmax.

Sampling draws from the same distribution as ``torch.multinomial(softmax(scores))``
with the exponential race (argmax p_i / E_i, E_i ~ Exp(1)), which needs no host sync and
can be captured in a CUDA graph. Token streams are therefore not bit-equal to upstream's
under sampling (different random draws), only under greedy decoding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SamplingParams:
    """Per-request values; ``None`` top_k/top_p/temperature mean "processor off"."""

    temperature: float = 0.75
    top_k: int = 50
    top_p: float = 0.85
    repetition_penalty: float = 5.0
    greedy: bool = False


@dataclass
class SamplerState:
    """Device tensors the decode step reads and updates."""

    seen: torch.Tensor          # [V] bool: ids in input_ids so far
    n_gen: torch.Tensor         # [1] long: tokens generated so far
    min_new: torch.Tensor       # [1] long: stop token barred while n_gen < min_new
    temperature: torch.Tensor   # [] float32
    penalty: torch.Tensor       # [] float32
    top_p: torch.Tensor         # [] float32

    @classmethod
    def create(cls, vocab: int, device) -> "SamplerState":
        return cls(
            seen=torch.zeros(vocab, dtype=torch.bool, device=device),
            n_gen=torch.zeros(1, dtype=torch.long, device=device),
            min_new=torch.zeros(1, dtype=torch.long, device=device),
            temperature=torch.ones((), device=device),
            penalty=torch.ones((), device=device),
            top_p=torch.ones((), device=device),
        )

    def reset(self, params: SamplingParams, prompt_ids: list[int], min_new_tokens: int) -> None:
        self.seen.zero_()
        self.seen[torch.tensor(sorted(set(prompt_ids)), device=self.seen.device)] = True
        self.n_gen.zero_()
        self.min_new.fill_(min_new_tokens)
        self.temperature.fill_(params.temperature if params.temperature else 1.0)
        self.penalty.fill_(params.repetition_penalty)
        self.top_p.fill_(params.top_p if params.top_p is not None else 1.0)


def pick_next(logits: torch.Tensor, state: SamplerState, params: SamplingParams, stop_token: int) -> torch.Tensor:
    """logits [1, V] float32 -> next token [1] long. Pure device ops (graph-capturable)."""
    scores = logits
    if params.repetition_penalty != 1.0:
        penalised = torch.where(scores < 0, scores * state.penalty, scores / state.penalty)
        scores = torch.where(state.seen.unsqueeze(0), penalised, scores)
    barred = state.n_gen < state.min_new  # [1]
    stop_col = torch.zeros_like(scores, dtype=torch.bool)
    stop_col[:, stop_token] = True
    scores = scores.masked_fill(stop_col & barred.unsqueeze(1), float("-inf"))
    if params.greedy:
        return scores.argmax(dim=-1)
    if params.temperature and params.temperature != 1.0:
        scores = scores / state.temperature
    if params.top_k:
        k = min(params.top_k, scores.shape[-1])
        kth = torch.topk(scores, k)[0][..., -1, None]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if params.top_p is not None and params.top_p < 1.0:
        sorted_logits, sorted_idx = torch.sort(scores, descending=False)
        cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        remove_sorted = cum <= (1 - state.top_p)
        remove_sorted[..., -1:] = False
        remove = remove_sorted.scatter(1, sorted_idx, remove_sorted)
        scores = scores.masked_fill(remove, float("-inf"))
    probs = scores.softmax(dim=-1)
    race = probs / torch.empty_like(probs).exponential_(1.0)
    return race.argmax(dim=-1)


def record(token: torch.Tensor, state: SamplerState, tokens_buf: torch.Tensor) -> None:
    """Append ``token`` [1] at index n_gen of ``tokens_buf``, mark it seen, advance n_gen."""
    tokens_buf.index_copy_(0, state.n_gen, token)
    state.seen.index_fill_(0, token, True)
    state.n_gen.add_(1)
