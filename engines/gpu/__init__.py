"""GPU helpers both engines' fast paths share: CUDA-graph capture, static buffers, cuDNN-free
convolutions (``graphs``); a lane for device work beside the worker, on its own stream
(``side_lane``), whose convolutions choose cuDNN for their own thread (``thread_convs``).
"""
