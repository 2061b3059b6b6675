"""One worker of a data-parallel test run, started by ``torch.distributed.run``:
``dist_worker.py CONFIG_JSON RESULT_JSON`` trains ``TrainConfig(**config)`` (the process
group comes from the launcher's environment) and rank 0 writes the result."""

from __future__ import annotations

import json
import os
import sys

from conveyor.apps.cifar10.train import TrainConfig, train

if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        config = TrainConfig(**json.load(f))
    result = train(config)
    if os.environ.get("RANK") == "0":
        with open(sys.argv[2], "w") as f:
            json.dump({"loss": result.loss, "global_step": result.global_step}, f)
