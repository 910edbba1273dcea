"""Which devices the engines run on, read from ``VOICE_STUDIO_DEVICES`` and ``VOICE_STUDIO_PLACEMENT``.

``VOICE_STUDIO_DEVICES``:
  unset         one device, as ``VOICE_STUDIO_DEVICE`` picks it (the app as it always ran);
  ``auto``      every visible CUDA card (one CPU device where none is visible);
  a list        ``cuda:0,cuda:1`` (each card by its index), or ``cpu,cpu`` (CPU workers, for tests).

``VOICE_STUDIO_PLACEMENT``: ``f5tts=cuda:0,cuda:1;xtts=cuda:1`` puts each named engine on the
devices listed for it; an engine left out runs on every device. Unset: every engine on every device.

Parsing is pure (the number of visible cards is handed in), so every mistake is named before
anything loads: an unknown engine or device, a card that is not there, a device listed twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import InputError

MAX_DEVICES = 64
MAX_SETTING_CHARS = 2000


@dataclass(frozen=True)
class DeviceSlot:
    """One device the engines may run on."""

    label: str                  # how health, logs and VOICE_STUDIO_PLACEMENT name it: cuda:1, cpu:0
    kind: str                   # "cuda" or "cpu": what the engines are told
    index: int | None = None    # the CUDA card's index (None on the CPU)


@dataclass(frozen=True)
class DevicePlan:
    """The devices, and which engines run on each."""

    slots: tuple[DeviceSlot, ...]
    placement: tuple[tuple[str, tuple[str, ...]], ...]  # (engine, labels of its devices), in engine order

    def devices_of(self, engine: str) -> tuple[DeviceSlot, ...]:
        labels = dict(self.placement).get(engine, ())
        return tuple(slot for slot in self.slots if slot.label in labels)

    def engines_on(self, label: str) -> tuple[str, ...]:
        return tuple(engine for engine, labels in self.placement if label in labels)

    def describe(self) -> dict[str, list[str]]:
        """``{engine: [device labels]}``, as health reports it."""
        return {engine: list(labels) for engine, labels in self.placement}


def plan_from_env(env: Mapping[str, str], engines: Sequence[str], visible_cuda: int | None = None) -> DevicePlan | None:
    """The plan the environment asks for; None when ``VOICE_STUDIO_DEVICES`` is unset (one device).

    ``visible_cuda`` is the number of visible CUDA cards (asked of torch when None).
    """
    devices = (env.get("VOICE_STUDIO_DEVICES") or "").strip()
    placement = (env.get("VOICE_STUDIO_PLACEMENT") or "").strip()
    if not devices:
        if placement:
            raise InputError("VOICE_STUDIO_PLACEMENT needs VOICE_STUDIO_DEVICES (e.g. auto or cuda:0,cuda:1)")
        return None
    if visible_cuda is None:
        visible_cuda = _visible_cuda()
    slots = parse_devices(devices, visible_cuda)
    return DevicePlan(slots, parse_placement(placement, slots, engines))


def parse_devices(value: str, visible_cuda: int) -> tuple[DeviceSlot, ...]:
    """``auto`` or a comma list of ``cuda:N`` / ``cpu`` entries, as slots in the order given."""
    _bounded("VOICE_STUDIO_DEVICES", value)
    if value.strip().lower() == "auto":
        if visible_cuda < 1:
            return (DeviceSlot("cpu", "cpu"),)
        return tuple(DeviceSlot(f"cuda:{i}", "cuda", i) for i in range(min(visible_cuda, MAX_DEVICES)))
    entries = [entry.strip().lower() for entry in value.split(",")]
    if any(not entry for entry in entries):
        raise InputError(f"VOICE_STUDIO_DEVICES={value!r} has an empty entry; use e.g. cuda:0,cuda:1 or auto")
    if len(entries) > MAX_DEVICES:
        raise InputError(f"VOICE_STUDIO_DEVICES lists {len(entries)} devices; at most {MAX_DEVICES}")
    slots: list[DeviceSlot] = []
    cpus = 0
    for entry in entries:
        if entry == "cpu" or entry.startswith("cpu:"):
            label = entry if entry != "cpu" else f"cpu:{cpus}"
            if entry != "cpu" and not entry[4:].isdigit():
                raise InputError(f"VOICE_STUDIO_DEVICES: {entry!r} is not a device; use cpu or cpu:N")
            cpus += 1
            slots.append(DeviceSlot(label, "cpu"))
        elif entry.startswith("cuda:") and entry[5:].isdigit():
            index = int(entry[5:])
            if index >= visible_cuda:
                seen = f"{visible_cuda} CUDA card{'s' if visible_cuda != 1 else ''} visible"
                raise InputError(f"VOICE_STUDIO_DEVICES names {entry}, but {seen}"
                                 + (f" (cuda:0 to cuda:{visible_cuda - 1})" if visible_cuda else "")
                                 + "; use auto or the cards that exist")
            slots.append(DeviceSlot(f"cuda:{index}", "cuda", index))
        elif entry == "cuda":
            raise InputError("VOICE_STUDIO_DEVICES: name each card by its index (cuda:0,cuda:1), or use auto")
        else:
            raise InputError(f"VOICE_STUDIO_DEVICES: {entry!r} is not a device; use auto, cuda:N or cpu")
    labels = [slot.label for slot in slots]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise InputError(f"VOICE_STUDIO_DEVICES lists {', '.join(twice)} twice; each device once")
    return tuple(slots)


def parse_placement(value: str, slots: Sequence[DeviceSlot], engines: Sequence[str]
                    ) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``engine=device,device;engine=device``: each named engine on its devices, the others on all."""
    _bounded("VOICE_STUDIO_PLACEMENT", value)
    known = [slot.label for slot in slots]
    chosen: dict[str, tuple[str, ...]] = {}
    for part in (p.strip() for p in value.split(";")):
        if not part:
            continue
        engine, sep, devices = (x.strip() for x in part.partition("="))
        if not sep:
            raise InputError(f"VOICE_STUDIO_PLACEMENT: {part!r} is not engine=devices "
                             "(e.g. f5tts=cuda:0,cuda:1;xtts=cuda:1)")
        engine = engine.lower()
        if engine not in engines:
            raise InputError(f"VOICE_STUDIO_PLACEMENT names engine {engine!r}; engines: {', '.join(engines)}")
        if engine in chosen:
            raise InputError(f"VOICE_STUDIO_PLACEMENT places {engine} twice; give its devices once")
        labels = [d.strip().lower() for d in devices.split(",") if d.strip()]
        if not labels:
            raise InputError(f"VOICE_STUDIO_PLACEMENT: {engine} has no device; name at least one of "
                             + ", ".join(known))
        unknown = [label for label in labels if label not in known]
        if unknown:
            raise InputError(f"VOICE_STUDIO_PLACEMENT puts {engine} on {', '.join(unknown)}, which "
                             f"VOICE_STUDIO_DEVICES does not list ({', '.join(known)})")
        chosen[engine] = tuple(label for label in known if label in labels)  # in the devices' order
    return tuple((engine, chosen.get(engine, tuple(known))) for engine in engines)


def _bounded(name: str, value: str) -> None:
    if len(value) > MAX_SETTING_CHARS:
        raise InputError(f"{name} is {len(value)} characters long; at most {MAX_SETTING_CHARS}")


def _visible_cuda() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0
