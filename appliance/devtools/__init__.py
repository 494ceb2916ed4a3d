"""What tests and benchmarks share: a scene of real photos, clips of it, a second model, the
real server in a subprocess. Nothing in the product imports this package."""
