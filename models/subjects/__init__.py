"""The model under study as the probes see it: probe rows and behaviour for tiny models (synthetic tokens) and for
pretrained LMs (natural-language prompts, counterfactual pairs)."""
