"""Commands of ``python -m engines`` beyond synth/clone/status: ``voices`` (``cli_voices``),
``download`` (``download_command``), ``verify`` (``cli_verify``); ``engines/__main__.py``
lists them.
"""
