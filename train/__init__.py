"""Training: base encoder, datasets, fine-tuning (huashu base / dataset / train / eval)."""
