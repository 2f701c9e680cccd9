"""The MLflow side: tracking runs, registered versions, the promotion decision and lock, the
champion alias and its history, the team leaderboard, manual promote and rollback."""
