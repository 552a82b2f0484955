"""The development bench: tidings next to its peers, run from a clone (`python -m bench`)."""
