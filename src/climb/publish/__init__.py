"""Publishing a champion: the repo folder (weights, model card, results), the Hub or the outbox."""
