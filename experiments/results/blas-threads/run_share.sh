#!/bin/bash
# 4 one-thread probe processes at once on 2 cores, the code before and after the BLAS-pool fix, twice each, in turn
export HF_HUB_OFFLINE=1 N=600
for rep in 1 2; do
  PYTHONPATH=/work/exp5/code /work/main/.venv/bin/python causal_time.py many share-before-$rep.json cpu 4
  PYTHONPATH=/work/exp6/newpkg /work/main/.venv/bin/python causal_time.py many share-after-$rep.json cpu 4
done
