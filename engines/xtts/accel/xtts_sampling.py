"""HF ``generate``'s logits processing for XTTS, as device-only tensor ops.

Upstream's ``Xtts.inference`` ends up with these processors, in this order (transformers
5.23 ``_get_logits_processor``): repetition penalty over *all* input ids (the prompt's
placeholder ids 1 and the start token 1024 included, since the all-ones attention mask
ignores no prompt), min-new-tokens (only when the caller forces a length), then, when
sampling, temperature, top-k, top-p (min_tokens_to_keep 1). Greedy decoding applies the
first two and takes the argmax.

Every parameter (penalty, temperature, top-k, top-p) is a device tensor the step reads,
and a processor with the neutral value changes nothing (a penalty or temperature of 1,
top-k of the whole vocabulary, top-p of 1), so one captured graph serves every profile;
greedy decoding has a graph of its own.

Sampling draws from the same distribution as ``torch.multinomial(softmax(scores))``
with the exponential race (argmax p_i / E_i, E_i ~ Exp(1)). The E_i of every step are
drawn before decoding, from the request's own generator, so the graph holds no random
number generator state: a seed gives the same tokens whatever else runs, and token
streams equal upstream's only under greedy decoding (different random draws).
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
    temperature: torch.Tensor   # [] float32 (1: off)
    penalty: torch.Tensor       # [] float32 (1: off)
    top_k: torch.Tensor         # [] long (V: off)
    top_p: torch.Tensor         # [] float32 (1: off)
    race: torch.Tensor          # [steps, V] float32: Exp(1) draws, row n_gen for the next token

    @classmethod
    def create(cls, vocab: int, steps: int, device) -> "SamplerState":
        return cls(
            seen=torch.zeros(vocab, dtype=torch.bool, device=device),
            n_gen=torch.zeros(1, dtype=torch.long, device=device),
            min_new=torch.zeros(1, dtype=torch.long, device=device),
            temperature=torch.ones((), device=device),
            penalty=torch.ones((), device=device),
            top_k=torch.full((), vocab, dtype=torch.long, device=device),
            top_p=torch.ones((), device=device),
            race=torch.ones(steps, vocab, device=device),
        )

    def reset(self, params: SamplingParams, prompt_ids: list[int], min_new_tokens: int,
              generator: torch.Generator | None = None) -> None:
        vocab = self.seen.shape[0]
        self.seen.zero_()
        self.seen[torch.tensor(sorted(set(prompt_ids)), device=self.seen.device)] = True
        self.n_gen.zero_()
        self.min_new.fill_(min_new_tokens)
        self.temperature.fill_(params.temperature if params.temperature else 1.0)
        self.penalty.fill_(params.repetition_penalty)
        self.top_k.fill_(min(params.top_k, vocab) if params.top_k else vocab)
        self.top_p.fill_(params.top_p if params.top_p is not None else 1.0)
        if not params.greedy:
            self.race.exponential_(1.0, generator=generator)

    def draws(self) -> torch.Tensor:
        """[1, V]: the Exp(1) draws for the next token."""
        return self.race.index_select(0, self.n_gen)


def request_generator(params: SamplingParams, seed: int | None, device) -> torch.Generator | None:
    """A decode's own generator (None for greedy decoding): seeded with ``seed``, else at random."""
    if params.greedy:
        return None
    generator = torch.Generator(device=device)
    if seed is not None:
        generator.manual_seed(int(seed))
    else:
        generator.seed()
    return generator


def pick_next(logits: torch.Tensor, state, greedy: bool | torch.Tensor, stop_token: int) -> torch.Tensor:
    """logits [b, V] float32 -> next tokens [b] long. Pure device ops (graph-capturable).

    ``state`` is a ``SamplerState`` (one row) or a view of ``xtts_rows.RowStates`` (b rows, each
    with its own settings, shaped to broadcast over [b, V]). ``greedy`` is a bool for every row,
    or a [b] bool tensor: those rows take the argmax, the others sample.
    """
    scores = logits
    vocab = scores.shape[-1]
    penalised = torch.where(scores < 0, scores * state.penalty, scores / state.penalty)
    scores = torch.where(state.seen.view(-1, vocab), penalised, scores)
    barred = state.n_gen < state.min_new  # [b]
    stop_col = torch.zeros_like(scores, dtype=torch.bool)
    stop_col[:, stop_token] = True
    scores = scores.masked_fill(stop_col & barred.unsqueeze(1), float("-inf"))
    if greedy is True:
        return scores.argmax(dim=-1)
    best = scores.argmax(dim=-1) if greedy is not False else None
    scores = scores / state.temperature
    sorted_logits, sorted_idx = torch.sort(scores, descending=False)
    kth = sorted_logits.gather(-1, (vocab - state.top_k).reshape(-1, 1).expand(scores.shape[0], 1))  # top_k-th largest
    scores = scores.masked_fill(scores < kth, float("-inf"))
    sorted_logits = sorted_logits.masked_fill(sorted_logits < kth, float("-inf"))
    cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    remove_sorted = cum <= (1 - state.top_p)
    remove_sorted[..., -1:] = False
    remove = remove_sorted.scatter(1, sorted_idx, remove_sorted)
    scores = scores.masked_fill(remove, float("-inf"))
    probs = scores.softmax(dim=-1)
    race = probs / state.draws()
    sampled = race.argmax(dim=-1)
    return sampled if best is None else torch.where(greedy, best, sampled)


def record(token: torch.Tensor, state: SamplerState, tokens_buf: torch.Tensor) -> None:
    """Append ``token`` [1] at index n_gen of ``tokens_buf``, mark it seen, advance n_gen."""
    tokens_buf.index_copy_(0, state.n_gen, token)
    state.seen.index_fill_(0, token, True)
    state.n_gen.add_(1)
