"""Run by tests/models/training/test_split_update.py, as one process or under `accelerate launch`: one PPO
minibatch update on fixed episodes, each of N processes taking its share of them (ppo.py under `--processes N`).
Saves the gradients of the main process to argv[1]."""
import sys

import numpy as np
import torch
from accelerate import Accelerator

from mesaprobe.models.rollouts.tiny import rollout
from mesaprobe.models.tiny import TinySize, build_tiny_model
from mesaprobe.models.tokenizer import build_tokenizer
from mesaprobe.models.training.ppo import PPOConfig, gae, ppo_loss
from mesaprobe.runtime import process_share
from mesaprobe.tasks import get_task

task = get_task("gridworld")
tokenizer = build_tokenizer(task.vocabulary())
model = build_tiny_model(tokenizer, TinySize(**task.recipe.model_size), 0)
torch.manual_seed(0)
value_head = torch.nn.Linear(model.config.hidden_size, 1)
vocab = tokenizer.get_vocab()
act_ids = torch.tensor([vocab[a] for a in task.action_tokens()])
episodes = rollout(model.eval(), tokenizer, task, task.layouts(64, "split:0"), greedy=False, value_head=value_head,
                   generator=torch.Generator().manual_seed(0))
adv, ret = zip(*(gae(ep.rewards, ep.values, task.gamma, 0.95) for ep in episodes))
seqs = [[vocab[t] for t in ep.tokens_read()] for ep in episodes]
accelerator = Accelerator(cpu=True)
params = list(model.parameters()) + list(value_head.parameters())
model, value_head = accelerator.prepare(model.train(), value_head)
rank, processes = accelerator.process_index, accelerator.num_processes
shares = np.cumsum([0] + [process_share(64, r, 2) for r in range(2)])


def loss_of(half: int) -> torch.Tensor:
    chosen = range(shares[half], shares[half + 1])
    return ppo_loss(model, value_head, [episodes[i] for i in chosen], [seqs[i] for i in chosen],
                    [adv[i] for i in chosen], [ret[i] for i in chosen], act_ids, tokenizer.pad_token_id, PPOConfig(),
                    accelerator.device)


# one process: the mean of the two halves' losses; two: each its own half, DDP averaging the gradients
loss = (loss_of(0) + loss_of(1)) / 2 if processes == 1 else loss_of(rank)
accelerator.backward(loss)
if accelerator.is_main_process:
    torch.save([p.grad.detach().clone() for p in params], sys.argv[1])
model, value_head = accelerator.free_memory(model, value_head)  # the DDP wrappers hold the process group
accelerator.end_training()  # ends it before exit (runtime.process_state says why)
