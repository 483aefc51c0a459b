"""LLMind stage (see LLMind/README.md): fine-tuning a pretrained BERT (MiniLM) offline, and measuring
what the pretrained weights buy against TF-IDF, frozen features and the same network from scratch."""
