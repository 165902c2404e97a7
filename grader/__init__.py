"""The grader: finds each learner's work, runs every step in a box against a private offline API, and judges it from the request log."""
