"""Data preparation: read sources, normalise formats, render with the chat template, tokenise."""
