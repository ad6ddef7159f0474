"""Training step time of the reader in float32 and in bfloat16 autocast on this CPU: why training precision
`auto` picks bf16 only where it is faster (reproqa.models.cpu_prefers_bf16).

    python benchmarks/training_precision.py [--steps 4] [--lengths 256 192 128]

One step = forward, backward and AdamW update of the bundled model with a QA head on a batch of 16 windows.
Prints the best of the last steps (the first warms up) and whether `auto` picks bf16 on this CPU.
"""

import argparse
import time

import torch
from transformers import AutoModelForQuestionAnswering

from reproqa.models import cpu_prefers_bf16, resolve_model

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--steps", type=int, default=4)
parser.add_argument("--lengths", type=int, nargs="+", default=[256, 192, 128])
parser.add_argument("--batch-size", type=int, default=16)
args = parser.parse_args()

model = AutoModelForQuestionAnswering.from_pretrained(resolve_model("all-MiniLM-L6-v2"))
optimizer = torch.optim.AdamW(model.parameters(), 1e-4)
positions = torch.zeros(args.batch_size, dtype=torch.long)
print(f"auto picks bf16 here: {cpu_prefers_bf16()}, threads: {torch.get_num_threads()}")
print("| tokens | float32 s/step | bfloat16 s/step |\n| ---: | ---: | ---: |")
for length in args.lengths:
    tokens = torch.randint(1000, 2000, (args.batch_size, length))
    best = {}
    for bf16 in (False, True):
        times = []
        for _ in range(args.steps):
            start = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = model(input_ids=tokens, start_positions=positions, end_positions=positions).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            times.append(time.perf_counter() - start)
        best[bf16] = min(times[1:])
    print(f"| {length} | {best[False]:.2f} | {best[True]:.2f} |")
