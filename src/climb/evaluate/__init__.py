"""Evaluation: leaderboard suites over lm-eval tasks, mirror data, scoring, result cache."""
