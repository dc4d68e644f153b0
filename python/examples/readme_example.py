# The README's example: a torch model passed as a module, explained in process by the Swift
# library, and the same scores from Captum (run by python/tests/test_readme_example.py).
import numpy as np
import torch
from captum.attr import DeepLift

import swiftdeeplift

torch.manual_seed(0)
model = torch.nn.Sequential(
    torch.nn.Conv1d(4, 16, 9, padding=4), torch.nn.ReLU(), torch.nn.MaxPool1d(4),
    torch.nn.Flatten(), torch.nn.Linear(16 * 25, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2),
).eval()
x = torch.rand(64, 4, 100)
baselines = torch.rand(64, 4, 100)

ours = swiftdeeplift.DeepLift(model).attribute(x, baselines=baselines, target=1)  # a torch tensor
theirs = DeepLift(model).attribute(x, baselines=baselines, target=1).detach()
print("max rel. error:", ((ours - theirs).abs().max() / theirs.abs().max()).item())

# tangermeme's call, with 20 dinucleotide shuffles per sequence and hypothetical scores:
X = torch.nn.functional.one_hot(torch.randint(0, 4, (8, 100)), 4).transpose(1, 2).float()
hyp = swiftdeeplift.deep_lift_shap(model, X, target=0, n_shuffles=20, hypothetical=True, random_state=0)
print(hyp.shape)
