"""The lesson model, shared by the terminal, the notebooks and the grader.

Modules, by what they hold:

- `lessons`      the course's lessons (scripts, steps, questions) read from `course/content/`
- `codio_pages`  Codio guide pages parsed into blocks (Markdown, Try-it buttons, questions)
- `codio_guides` any Codio guide of either format: its contents and page numbers (`codio_older_format`: the older)
- `checks`       a step's checks, judged against its run and the offline API's request log
- `fingerprints` what an image's pixels are, to trace a saved picture back to the API
- `explain`      an exception told in the lesson's words
- `task`         what every assessment is (`Task`, with its own `check()`), the attempts and guidance rules
- `verdict`      how one attempt went (`Verdict`), for every type
- `codio_json`   Codio's assessment JSON read, with errors that name the file and line
- `reading`      a guide page made ready for a reader outside Codio (`html_pages`: its HTML as Markdown;
                 `link_actions`: Codio's link actions said in words)
- `page_text`    a page that cannot be drawn, as its text under a note (`course show` and the notebook)
- `questions`    multiple-choice questions: loading, checking, scoring, the learners' locked copies
- `blanks`, `parsons`, `code_tests`, `free_text`  the other types, each a `Task`
- `assessments`  every assessment a Codio guide holds, whatever its type
- `answering`    one attempt at any task, as the quiz and the widgets make it: saved, counted and checked
- `answers`      a learner's `answers.json` and attempts, read and written (the course's and the grader's reader)
- `progress`     which steps passed and which questions were answered
- `solutions`    the solution blocks of the instructors' scripts, and the learners' copies without them
- `wording`      the words and numbers people read about their work (a step's and a question's name, points)
- `advice`       what a learner is told about a run: the verdict in the lesson's words, and one hint
- `judging`      one run of a step judged, for `course try` and the notebook: verdict, hint, pictures, progress
"""
