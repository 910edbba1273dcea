"""What the page and ``/v1`` share around a synthesis: admission, history, wording, settings, encodings."""
