"""GPU helpers both engines' fast paths share: CUDA-graph capture, static buffers, cuDNN-free
convolutions (``graphs``).
"""
