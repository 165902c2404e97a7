"""The course in a terminal: the `course` command.

Modules, by what they hold:

- `cli`     the command line: one small function per subcommand
- `trying`  `course try N`: run a step, show its output and pictures, judge it
- `quiz`    `course quiz`: ask the questions, record the answers (`task_forms`: each type's form)
- `pages`   a lesson page (or any Codio guide page) rendered for a terminal (`reader_markdown`: rich's
            Markdown with tables and lists that stay readable; `pager`: long output through a pager)
- `guide_pages`  `course show GUIDE`: any Codio guide read in the terminal
- `warm`    the warm runner behind `course try` (`warm_main`: its process)
- `demo`    `course demo`: the reference solution through every step
"""
