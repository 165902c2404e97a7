"""The box a learner's step runs in, and the engine that starts steps in it."""
