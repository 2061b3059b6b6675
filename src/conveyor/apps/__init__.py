"""The applications built on conveyor: :mod:`conveyor.apps.cifar10`, the CIFAR-10
training system in PyTorch (``pip install "conveyor[train]"``)."""
