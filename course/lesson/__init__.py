"""The lesson model, shared by the terminal, the notebooks and the grader.

Modules, by what they hold:

- `lessons`      the course's lessons (scripts, steps, questions) read from `course/content/`
- `guide`        Codio guide pages parsed into blocks (Markdown, Try-it buttons, questions)
- `checks`       a step's checks, judged against its run and the offline API's request log
- `fingerprints` what an image's pixels are, to trace a saved picture back to the API
- `hints`        the hint catalogue: from an error to what to try next
- `explain`      an exception told in the lesson's words
- `questions`    the questions: loading, checking, scoring, the learners' locked copies
- `answers`      a learner's `answers.json`
- `progress`     which steps passed and which questions were answered
- `build`        `course build`: exercises, notebooks and locked questions from `solutions/`
"""
