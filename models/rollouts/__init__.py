"""Closed-loop episodes on goal tasks: batched token rollouts of tiny policies, and text episodes for pretrained LMs."""
