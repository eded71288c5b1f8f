"""Training: tiny models from scratch (supervised on search tasks, behaviour cloning or PPO on goal tasks) and
pretrained bases fine-tuned with TRL (SFT / GRPO). `train.train_into` is the entry point."""
