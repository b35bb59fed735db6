"""Training: training sets built from chunks with the same prompt builder as evaluation, and
LoRA / QLoRA adapters registered as model names."""
