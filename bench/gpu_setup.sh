#!/usr/bin/env bash
# Benchmark environment on the lent GPU machine (no network): install the carried wheels
# (.whl/, see bench/README.md) into /tmp/site and put placeholder modules for three
# packages the inference code never uses there (wandb: f5_tts's trainer; datasets:
# f5_tts's dataset module; torchcodec: coqui-tts's import check; we pass tensors).
# Usage: source bench/gpu_setup.sh
set -e
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
mkdir -p /tmp/stubs/wandb /tmp/stubs/torchcodec /tmp/stubs/datasets
echo '"""benchmark placeholder"""' > /tmp/stubs/wandb/__init__.py
echo '"""benchmark placeholder"""' > /tmp/stubs/torchcodec/__init__.py
cat > /tmp/stubs/datasets/__init__.py <<'PY'
"""benchmark placeholder: f5_tts.model.dataset imports these names; nothing trains here."""
class Dataset:  # noqa: D101
    pass
def load_from_disk(*args, **kwargs):  # noqa: D103
    raise RuntimeError("datasets is a placeholder in the benchmark environment")
PY
export PYTHONPATH=/tmp/site:/tmp/stubs:$PWD${PYTHONPATH:+:$PYTHONPATH}
export COQUI_TOS_AGREED=1 HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 GRADIO_ANALYTICS_ENABLED=False
set +e
