"""The per-row state of XTTS decodes that share one batched decode step.

One row per KV-cache slot: its sampling settings, its own Exp(1) draws (from its own
generator, drawn when it joins, as ``SamplerState.reset`` draws a lone request's), the ids it
has seen, its tokens and latents so far. Every tensor has the slots as its first dimension,
so ``view(b)`` (the first b slots) is what a step over b rows reads and writes, at the same
addresses whatever rows are there: one CUDA graph per b serves every set of rows.

A row's values never mix with another row's in any operation of the step (every op is per
row: layer norms, matmul rows, attention over its own slot, sort, softmax, argmax), so what a
row decodes depends on its own state and on the step's shape (the kernels picked for b
rows), never on its batch mates' values.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from .xtts_sampling import SamplingParams


@dataclass
class RowStates:
    """Device tensors of ``slots`` rows (settings broadcast as [rows, 1] against [rows, V] scores)."""

    seen: torch.Tensor          # [N, V] bool: ids in input_ids so far
    n_gen: torch.Tensor         # [N] long: tokens generated so far
    min_new: torch.Tensor       # [N] long: stop token barred while n_gen < min_new
    temperature: torch.Tensor   # [N, 1] float32 (1: off)
    penalty: torch.Tensor       # [N, 1] float32 (1: off)
    top_k: torch.Tensor         # [N, 1] long (V: off)
    top_p: torch.Tensor         # [N, 1] float32 (1: off)
    greedy: torch.Tensor        # [N] bool: argmax instead of sampling
    race: torch.Tensor          # [N, steps, V] float32: Exp(1) draws, row n_gen for the next token
    tokens: torch.Tensor        # [N, steps] long: the tokens so far
    latents: torch.Tensor       # [N, steps, D]: the GPT's hidden state that made each token
    token: torch.Tensor         # [N] long: the last token (the next step's input)
    prefix: torch.Tensor        # [N] long: prompt positions (conditioning + text + start)

    @classmethod
    def create(cls, slots: int, vocab: int, steps: int, dim: int, dtype: torch.dtype, device) -> "RowStates":
        def zeros(*shape, kind=torch.long):
            return torch.zeros(*shape, dtype=kind, device=device)

        return cls(seen=zeros(slots, vocab, kind=torch.bool), n_gen=zeros(slots), min_new=zeros(slots),
                   temperature=torch.ones(slots, 1, device=device), penalty=torch.ones(slots, 1, device=device),
                   top_k=torch.full((slots, 1), vocab, dtype=torch.long, device=device),
                   top_p=torch.ones(slots, 1, device=device), greedy=zeros(slots, kind=torch.bool),
                   race=torch.ones(slots, steps, vocab, device=device), tokens=zeros(slots, steps),
                   latents=zeros(slots, steps, dim, kind=dtype), token=zeros(slots), prefix=zeros(slots))

    @property
    def steps(self) -> int:
        return self.tokens.shape[1]

    def view(self, stop: int, start: int = 0) -> "RowStates":
        """Slots ``start`` to ``stop`` - 1 (views: writes go to the slots)."""
        return RowStates(**{f.name: getattr(self, f.name)[start:stop] for f in fields(self)})

    def reset(self, slot: int, params: SamplingParams, prompt_ids: list[int], min_new_tokens: int, prefix: int,
              generator: torch.Generator | None) -> None:
        """A new row in ``slot``: its settings, as ``SamplerState.reset`` sets a lone request's."""
        vocab = self.seen.shape[1]
        self.seen[slot].zero_()
        self.seen[slot, torch.tensor(sorted(set(prompt_ids)), device=self.seen.device)] = True
        self.n_gen[slot] = 0
        self.min_new[slot] = min_new_tokens
        self.temperature[slot] = params.temperature if params.temperature else 1.0
        self.penalty[slot] = params.repetition_penalty
        self.top_k[slot] = min(params.top_k, vocab) if params.top_k else vocab
        self.top_p[slot] = params.top_p if params.top_p is not None else 1.0
        self.greedy[slot] = bool(params.greedy)
        self.prefix[slot] = prefix
        if not params.greedy:
            self.race[slot].exponential_(1.0, generator=generator)

    def move(self, source: int, target: int) -> None:
        """Row ``source`` takes slot ``target`` (the row that was there has left)."""
        for f in fields(self):
            tensor = getattr(self, f.name)
            tensor[target].copy_(tensor[source])

    def gen_index(self) -> torch.Tensor:
        """[b] where each row's next token goes; clamped so that a row idling in a padded step
        (one that has left, or a finished row until the host sees its stop token) stays in bounds."""
        return self.n_gen.clamp(max=self.steps - 1)

    def draws(self) -> torch.Tensor:
        """[b, V]: each row's Exp(1) draws for its next token."""
        index = self.gen_index().view(-1, 1, 1).expand(-1, 1, self.race.shape[2])
        return self.race.gather(1, index).squeeze(1)

    def record(self, token: torch.Tensor, latents: torch.Tensor) -> None:
        """Append ``token`` [b] and the ``latents`` [b, D] that made it; mark it seen; advance."""
        at = self.gen_index()
        self.tokens.scatter_(1, at.view(-1, 1), token.view(-1, 1))
        rows = torch.arange(token.shape[0], device=token.device)
        self.latents.index_put_((rows, at), latents.to(self.latents.dtype))
        self.seen.scatter_(1, token.view(-1, 1), True)
        self.n_gen.add_(1)
        self.token.copy_(token)

    def snapshot(self) -> list[torch.Tensor]:
        """What a step changes (a capture's warm-up steps are undone with ``restore``)."""
        return [t.clone() for t in (self.seen, self.n_gen, self.tokens, self.latents, self.token)]

    def restore(self, snap: list[torch.Tensor]) -> None:
        for dst, src in zip((self.seen, self.n_gen, self.tokens, self.latents, self.token), snap):
            dst.copy_(src)
