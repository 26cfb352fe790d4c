"""Start-up chatter of native libraries, kept off the user's terminal.

MediaPipe's C++ core writes glog and TensorFlow Lite lines ("Logging before
InitGoogle", "Created TensorFlow Lite XNNPACK delegate", "Feedback manager
requires...") straight to file descriptor 2 each time it builds a graph, and has no
supported switch to silence them (google-ai-edge/mediapipe#5371, #5737). A user who
runs ``facegate verify`` should see FaceGate's verdict, not that.

While a native model loads, file descriptor 2 is pointed at a temporary file. When
loading is over, lines recognised as routine chatter go to Python logging at DEBUG
(``facegate -v`` shows them); every other line, an error above all, is written back
to the real stderr, so nothing that matters is hidden.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

# Informational or warning lines only: glog's "I"/"W" prefix (an "E" or "F" line is an
# error and goes back to stderr), the InitGoogle notice and TensorFlow Lite's INFO.
_CHATTER = re.compile(
    r"^(?:[IW]\d{4} [\d:.]+ +\d+ [\w./-]+:\d+\] "
    r"|WARNING: Logging before InitGoogle\(\) is written to STDERR$"
    r"|INFO: Created TensorFlow Lite .*delegate for CPU\.$)"
)


def is_chatter(line: str) -> bool:
    """True for a routine native start-up line that a user need not see."""
    return _CHATTER.match(line) is not None


@contextmanager
def native_chatter_to_debug() -> Iterator[None]:
    """Capture file descriptor 2 for the ``with`` block; forward what it caught.

    The capture is process-wide, so keep the block short (one model load). Text any
    other thread writes meanwhile is not lost: it is not chatter, so it is written
    back to stderr when the block ends.
    """
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to capture (a daemon with fd 2 closed)
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            _forward(sink.read().decode("utf-8", errors="replace"))


def _forward(text: str) -> None:
    kept = []
    for line in text.splitlines():
        if is_chatter(line):
            log.debug("native: %s", line)
        elif line.strip():
            kept.append(line)
    if kept:
        sys.stderr.write("\n".join(kept) + "\n")
        sys.stderr.flush()
