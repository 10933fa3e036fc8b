"""The launcher's messages when nobody reads them any more: a closed pipe (the terminal or log reader
gone) must not turn its clean stop of the children into a crash."""

from __future__ import annotations

import os
import sys

from server.process.launcher import say


def test_a_message_to_a_closed_pipe_is_dropped(monkeypatch):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone: a write raises BrokenPipeError
    stream = os.fdopen(write_end, "w")
    monkeypatch.setattr(sys, "stdout", stream)
    say("stopping")  # does not raise
    with open(os.devnull, "wb") as sink:  # what could not be flushed goes nowhere at close
        os.dup2(sink.fileno(), write_end)
    stream.close()


def test_a_message_to_a_closed_stream_is_dropped(monkeypatch):
    read_end, write_end = os.pipe()
    stream = os.fdopen(write_end, "w")
    stream.close()
    os.close(read_end)
    monkeypatch.setattr(sys, "stderr", stream)
    say("stopping", err=True)  # does not raise
