"""The grader: checks a learner's steps and answers against the offline API's request log (issue 4)."""
