"""Models: building (tiny, tokenizer), saving and loading (local directories, hub ids, GGUF), forward passes;
the rooms below hold training (training/), the model under study (subjects/) and episodes (rollouts/)."""
