"""Training code for the bundled emotion model. Needs the ``train`` extra (PyTorch);
the app never imports this package."""
