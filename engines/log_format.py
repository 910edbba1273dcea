"""One log record, one line: ``time LEVEL logger: message key=value ...``, the key=values from ``extra=``.

The app (``webui/logs.py``) and the command line (``python -m engines``) log through it.
A traceback follows its line only where the handler wants tracebacks: the command line
shows them at ``--log-level debug`` alone, so a handled failure (a line that fell back to
the other engine) is one line on stderr.
"""

from __future__ import annotations

import logging

LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_STANDARD = (set(vars(logging.LogRecord("", 0, "", 0, "", None, None)))
             | {"message", "asctime", "taskName", "color_message"})


class KeyValueFormatter(logging.Formatter):
    """``time LEVEL logger: message key=value ...``; with ``tracebacks=False`` a record's exception is left out."""

    def __init__(self, fmt: str = LINE_FORMAT, tracebacks: bool = True):
        super().__init__(fmt)
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        extras = {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}
        if extras:
            line += " " + " ".join(f"{k}={v!r}" for k, v in extras.items())
        if self.tracebacks and record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if self.tracebacks and record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line
