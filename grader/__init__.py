"""The grader: finds each learner's work, runs every step in a box against a private offline API, and judges it
from the request log.

The pipeline, one learner at a time: `submissions` (a class folder or zip, one learner each) → `handin` (which
file is which lesson's work) → `handed_in_answers` (the answers handed in, as grade scores them) → `runner` (a step in a fresh copy, in the box)
→ `grade` (one learner graded: the plan, the checks, the question scores) → `results` (what came out) →
`store` (the gradebook: resume, skip the unchanged) → `reports` (gradebook.csv, feedback, summary.html,
Gradescope's results.json) and `similarity` (which submissions look copied).

Above it, `coordinator` grades a class from a plan (the course's lessons, or `guide`'s plan of another guide's
assessments): one loop hands learners to a local pool of box slots or, with `cluster`, to Dask workers. The box itself is the package `box/`; `api` is the private offline API a grading run talks to;
`public` is what a step may import in the weaker boxes.

The front doors: `cli` (`grader grade`, `check`, `similar`, `bundle`, `gradescope`, `guide`), `bundle` (the
Gradescope autograder zip), `guide` (another Codio guide's assessments, graded) with `commands` (its code tests,
in the box).
"""
