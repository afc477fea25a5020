"""Training from langmill shards with TRL (`langmill train`): data.py loads and mixes, run.py trains, card.py describes."""
