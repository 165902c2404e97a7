"""Benchmark of the copying report (`grader similar`, grader/similarity.py): recall on copies, false flags on
independent learners, and the time for a class of 200.

    .venv/bin/python benchmarks/bench_similarity.py               # classes of 200, seeds 1-3 (about a minute)
    .venv/bin/python benchmarks/bench_similarity.py --seeds 1     # a quicker look

Each class is written here, lesson 1, into a temporary folder of learner folders, and read as `grader similar`
reads it (`compare_class`: files found as `grader grade` finds them). Its learners:

- **independent**: each script drawn from the ways learners write each step (the page's code, a helper, a
  settings dict, `functools.partial`, a loop, intermediate variables, f-strings, a retry, a download...),
  with their own keyword order, extra prints, comments, docstrings kept or not, some as notebooks: alike by
  nature, as a class working from the same pages is;
- **copies**, five in each disguise, each of a different independent learner: variables renamed; comments and
  docstrings changed; blank lines and quotes changed; independent statements reordered (the step functions
  and the constants in another order); one step rewritten; a notebook turned into a script; and two groups of
  three sharing one source (two copies of it, renamed and recommented).

Every pair is scored once (threshold 0), then the rule is applied at each threshold of a sweep, with the
`MIN_SHARED` the module uses: recall (copy pairs flagged, group pairs included) and false flags (independent
pairs flagged). The hand-written fixture class (tests/fixtures/similarity/class) and the grading cohorts
(tests/fixtures/cohorts, written for the grader's verdicts: some of their learners share one template, so
their flags are listed by name, not counted as false) are scored too. It prints the figures, writes
benchmarks/out/similarity.json and exits 0: a benchmark reports, it does not assert.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import platform
import random
import re
import sys
import tempfile
import time
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from measured import commit  # noqa: E402

from course.lesson.lessons import all_lessons  # noqa: E402
from grader.similarity import MIN_SHARED, THRESHOLD, compare_class  # noqa: E402
from grader.submissions import load_submissions  # noqa: E402

SWEEP = (0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8)
DISGUISES = ("renamed", "recommented", "blank lines and quotes", "reordered", "one step rewritten",
             "notebook to script")
HEAD = '''"""Lesson 1: generating images from a text prompt.

Run one step at a time:  python imageGen.py 1   (python imageGen.py lists the steps)
"""
'''
IMPORTS = ["import course.auto  # connects the openai SDK: the offline Images API when no key is set",
           "import openai", "from openai import OpenAI", "", "from course.steps import run_steps, todo"]
DOCS = {1: "Create an image from a prompt.", 2: "Print the whole response.", 3: "Print only the image URL.",
        4: "Ask for an invalid size and read the error.", 5: "Go back to a valid size and print the URL."}
EXTRAS = ['print("done")', 'print("-" * 40)', 'print("step finished")', "print()", 'print("ok:", {r}.created)',
          'print(type({r}).__name__)', 'print(len({r}.data), "image(s)")', 'print("model used: dall-e-2")',
          "import sys; sys.stdout.flush()", 'print("prompt was", PROMPT)', 'print(f"{{PROMPT!r}}")',
          "assert {r}.data, \"no data\""]
COMMENTS = ["# ask the API", "# TODO tidy this up", "# from the lesson page", "# this took me a while",
            "# works!", "# see step 1", "# keep it small", "# note to self: 256 is the cheapest", ""]
# What learners add of their own, beside the steps: each learner draws a few, placed in steps of their choosing.
HABITS = ["import time; started = time.time()", 'print(f"took {{time.time() - started:.1f}}s")',
          "if not {r}.data:\n    raise RuntimeError(\"empty\")", "urls = [d.url for d in {r}.data]\nprint(len(urls))",
          'with open("log.txt", "a") as log:\n    log.write(str({r}.created) + "\\n")', "global LAST\nLAST = {r}",
          'print("=" * 20, "step", "=" * 20)', "for i, d in enumerate({r}.data):\n    print(i, d.url)",
          "import json\nprint(json.dumps({{\"created\": {r}.created}}))", "assert isinstance({r}.created, int)",
          'count = sum(1 for _ in {r}.data)\nprint("images:", count)', "print(dir({r})[:3])",
          "if {r}.data[0].revised_prompt is None:\n    pass", 'print("url length", len({r}.data[0].url or ""))',
          "from datetime import datetime\nprint(datetime.fromtimestamp({r}.created))", "size_used = 256 * 2\nprint(size_used)",
          'while False:\n    print("never")', "print(*[d.url for d in {r}.data], sep=\", \")",
          'try:\n    print({r}.data[1].url)\nexcept IndexError:\n    print("only one")', "n_images = len({r}.data) * 1"]
NAMES = ["response", "resp", "r", "result", "res", "image", "img", "out", "answer", "reply", "pic", "data_back"]


class Learner:
    """One independent learner's way of writing lesson 1."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.r = rng.choice(NAMES)
        self.err = rng.choice(["error", "e", "err", "exc", "problem", "oops", "ex"])
        self.helper = rng.choice(["none", "none", "sized", "sized_n", "partial", "dict", "const"])
        self.order = rng.sample(["model", "prompt", "n", "size"], 4)
        self.with_n = rng.random() < 0.7
        self.docstrings = rng.random() < 0.7
        self.comments = rng.random() < 0.4
        self.extras = rng.random() < 0.5
        self.quotes = rng.choice(['"', "'"])
        self.habits = {n: rng.sample(HABITS, rng.randint(0, 2)) for n in range(1, 6)}

    def q(self, text: str) -> str:
        return f"{self.quotes}{text}{self.quotes}"

    def call(self, size: str) -> str:
        size = self.q(size)
        if self.helper in ("sized", "sized_n"):
            return f"make_image({size})"
        if self.helper == "partial":
            return f"corgi(size={size})"
        if self.helper == "dict":
            return f"client.images.generate(**SETTINGS, size={size})"
        args = {"model": "MODEL" if self.helper == "const" else self.q("dall-e-2"), "prompt": "PROMPT",
                "n": "1", "size": size}
        parts = [f"{k}={args[k]}" for k in self.order if k != "n" or self.with_n]
        if self.rng.random() < 0.3:
            inner = ",\n        ".join(parts)
            return f"client.images.generate(\n        {inner},\n    )"
        return f"client.images.generate({', '.join(parts)})"

    def setup(self) -> list[str]:
        lines = [HEAD, *IMPORTS, "", "client = OpenAI()", 'PROMPT = "a corgi playing chess in a sunny library"']
        if self.helper == "const":
            lines.append(f"MODEL = {self.q('dall-e-2')}")
        if self.helper == "dict":
            lines.append(f"SETTINGS = {{{self.q('model')}: {self.q('dall-e-2')}, {self.q('prompt')}: PROMPT"
                         + (f", {self.q('n')}: 1}}" if self.with_n else "}"))
        if self.helper == "partial":
            lines.insert(1, "from functools import partial")
            lines.append(f"corgi = partial(client.images.generate, model={self.q('dall-e-2')}, prompt=PROMPT"
                         + (", n=1)" if self.with_n else ")"))
        if self.helper in ("sized", "sized_n"):
            extra = ", count=1" if self.helper == "sized_n" else ""
            n = "count" if self.helper == "sized_n" else "1"
            lines += ["", "", f"def make_image(size{extra}):",
                      f"    return client.images.generate(model={self.q('dall-e-2')}, prompt=PROMPT, n={n}, size=size)"]
        return lines

    def body(self, step: int) -> list[str]:
        r, rng, e = self.r, self.rng, self.err
        url = rng.choice([f"{r}.data[0].url", f"{r}.data[-1].url"])
        if step == 1:
            return rng.choice([[f"{r} = {self.call('256x256')}", f"return {r}"], [f"return {self.call('256x256')}"]])
        if step == 2:
            return rng.choice([[f"{r} = step1()", f"print({r})"], ["print(step1())"],
                               [f"{r} = step1()", f"print(repr({r}))"], [f"{r} = step1()", f"print({r}.model_dump())"]])
        if step == 3:
            return rng.choice([[f"{r} = step1()", f"image_url = {url}", "print(image_url)"],
                               [f"{r} = step1()", f"print({url})"],
                               [f"for item in step1().data:", "    print(item.url)"],
                               [f"{r} = step1()", f"first = {r}.data[0]", "print(first.url)"],
                               [f"{r} = step1()", f"link = {url}", "if link:", "    print(link)"]])
        if step == 4:
            bad = rng.choice(["255x255", "256x1024", "100x100", "300x300"])
            catch = rng.choice(["openai.BadRequestError", "openai.BadRequestError", "openai.APIStatusError", "Exception"])
            said = rng.choice([f'print("The API refused the request:", {e}.message)',
                               f'print(f"The API refused the request: {{{e}.message}}")',
                               f"print({e}.message)", f'print("Error:", {e})'])
            lines = ["try:", f"    {self.call(bad)}", f"except {catch} as {e}:", f"    {said}"]
            if rng.random() < 0.3:
                lines += [f"    print({e}.status_code)"]
            return lines
        first = rng.choice([["step4()"], ["step4()"], ["step4()", 'print("trying again...")']])
        return first + rng.choice([[f"{r} = {self.call('512x512')}", f"print({url})"],
                                   [f"print({self.call('512x512')}.data[0].url)"],
                                   [f"{r} = {self.call('1024x1024')}", f"print({url})"],
                                   [f"for size in [{self.q('512x512')}]:", f"    {r} = {self.call('512x512')}",
                                    f"    print({url})"]])

    def step(self, step: int) -> str:
        lines = [f"def step{step}():"]
        if self.docstrings:
            lines.append(f'    """{DOCS[step]}"""')
        body = self.body(step)
        if self.comments and self.rng.random() < 0.5:
            body = [self.rng.choice(COMMENTS)] + body
        if self.extras and self.rng.random() < 0.5 and not body[-1].startswith("return"):
            body.append(self.rng.choice(EXTRAS).format(r=self.r if body[0].startswith(self.r) else "step1()"))
        if step != 4 and self.habits[step]:
            habits = [h.format(r=self.r if body[0].startswith(self.r) else "step1()") for h in self.habits[step]]
            body = body[:-1] + habits + body[-1:] if body[-1].startswith("return") else body + habits
        return "\n".join(lines + ["    " + line.replace("\n", "\n    ") if line else "" for line in body])

    def pieces(self) -> tuple[str, dict[int, str]]:
        return "\n".join(self.setup()), {n: self.step(n) for n in range(1, 6)}


def script(setup: str, steps: dict[int, str], order: list[int] | None = None) -> str:
    order = order or sorted(steps)
    runner = 'if __name__ == "__main__":\n    run_steps([step1, step2, step3, step4, step5])\n'
    return "\n\n\n".join([setup.rstrip()] + [steps[n] for n in order] + [runner])


def notebook(setup: str, steps: dict[int, str]) -> str:
    """The learner's work in the exercise notebook's cells (the setup cell and one cell per step)."""
    nb = json.loads((ROOT / "exercises" / "imageGen.ipynb").read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        role = cell.get("metadata", {}).get("course", {})
        if role.get("role") == "setup":
            cell["source"] = "\n".join(l for l in setup.splitlines() if not l.startswith(('"""', "Run one")))
        elif role.get("role") == "step":
            n = role["step"]
            cell["source"] = f"{steps[n]}\n\n\nfrom course.jupyter import try_it\n\ntry_it(step{n}, lesson=1)"
    return json.dumps(nb, indent=1)


# ---------------------------------------------------------------------------------------------- disguises


def renamed(code: str, rng: random.Random) -> str:
    """Every name the learner chose (assigned, a parameter, a helper) replaced, as tokens."""
    own = set(re.findall(r"\b([a-z_][a-z0-9_]*)\s*=[^=]", code)) | set(re.findall(r"def ([a-z_]\w*)\(", code)) \
        | set(re.findall(r" as ([a-z_]\w*)", code)) | set(re.findall(r"for ([a-z_]\w*) in", code))
    own -= {f"step{n}" for n in range(1, 6)} | {"model", "prompt", "n", "size", "sep", "file", "client"}
    mapping = {name: f"{rng.choice(['my', 'the', 'x', 'new'])}_{name[:3]}{i}" for i, name in enumerate(sorted(own))}
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type == tokenize.NAME and tok.string in mapping:
            tok = tok._replace(string=mapping[tok.string])
        out.append(tok)
    return tokenize.untokenize(out)


def recommented(code: str, rng: random.Random) -> str:
    code = re.sub(r'"""[^"]*"""', lambda m: f'"""{rng.choice(["my step", "does the thing", "see lesson page"])}"""', code)
    code = re.sub(r"  # .*", "", code)
    lines = code.splitlines()
    for at in sorted(rng.sample(range(len(lines)), 4), reverse=True):
        indent = re.match(r"\s*", lines[at]).group(0)
        lines.insert(at, f"{indent}# {rng.choice(['copied from my notes', 'changed this', 'important', 'why?'])}")
    return "\n".join(lines) + "\n"


def blank_and_quotes(code: str, rng: random.Random) -> str:
    code = code.replace('"""', "\0").replace('"', "\1").replace("'", '"').replace("\1", "'").replace("\0", '"""')
    lines = [l for l in code.splitlines() if l.strip() or rng.random() < 0.3]
    out = []
    for line in lines:
        out.append(line)
        if rng.random() < 0.15 and line.strip() and not line.rstrip().endswith((":", ",", "(")):
            out.append("")
    return "\n".join(out) + "\n"


def reordered(setup: str, steps: dict[int, str], rng: random.Random) -> str:
    lines = setup.splitlines()
    constants = [i for i, l in enumerate(lines) if re.match(r"(PROMPT|MODEL|SETTINGS) = ", l)]
    if len(constants) > 1:
        picked = [lines[i] for i in constants][::-1]
        for i, line in zip(constants, picked):
            lines[i] = line
    order = list(steps)
    while order == sorted(order):
        rng.shuffle(order)
    return script("\n".join(lines), steps, order)


# ------------------------------------------------------------------------------------------------- classes


def write_class(root: Path, size: int, seed: int) -> tuple[set[frozenset[str]], dict[str, str]]:
    """A class of `size` learners under `root`: returns the copy pairs and each copier's disguise."""
    rng = random.Random(seed)
    copies: dict[str, tuple[str, str]] = {}  # copier -> (source, disguise)
    per = 5
    groups = 2
    independent = size - per * len(DISGUISES) - 2 * groups
    work: dict[str, tuple[str, dict[int, str]]] = {}
    notebooks: set[str] = set()
    for i in range(independent):
        name = f"learner{i:03d}"
        work[name] = Learner(rng).pieces()
        if rng.random() < 0.15 or i < per:
            notebooks.add(name)
    sources = rng.sample([n for n in work if n not in notebooks], per * (len(DISGUISES) - 1) + groups)
    nb_sources = sorted(notebooks)[:per]
    k = 0
    for disguise in DISGUISES:
        for j in range(per):
            copier = f"copy-{disguise.replace(' ', '_')}-{j}"
            source = nb_sources[j] if disguise == "notebook to script" else sources.pop()
            copies[copier] = (source, disguise)
            k += 1
    for g in range(groups):
        source = sources.pop()
        for j, disguise in enumerate(("renamed", "recommented")):
            copies[f"group{g}-member{j}"] = (source, f"group: {disguise}")
    for name, (setup, steps) in work.items():
        folder = root / name
        folder.mkdir(parents=True)
        if name in notebooks:
            (folder / "imageGen.ipynb").write_text(notebook(setup, steps), encoding="utf-8")
        else:
            (folder / "imageGen.py").write_text(script(setup, steps), encoding="utf-8")
    for copier, (source, disguise) in copies.items():
        setup, steps = work[source]
        text = script(setup, steps)
        if disguise.endswith("renamed"):
            text = renamed(text, rng)
        elif disguise.endswith("recommented"):
            text = recommented(text, rng)
        elif disguise == "blank lines and quotes":
            text = blank_and_quotes(text, rng)
        elif disguise == "reordered":
            text = reordered(setup, steps, rng)
        elif disguise == "one step rewritten":
            other = dict(steps)
            n = rng.randint(1, 5)
            other[n] = Learner(rng).step(n)
            text = script(setup, other)
        elif disguise == "notebook to script":
            cells = [l for l in setup.splitlines() if not l.startswith(('"""', "Run one"))]
            text = "#!/usr/bin/env python\n# coding: utf-8\n\n# In[2]:\n\n\n" + "\n".join(cells) + "\n\n\n" + \
                "\n\n\n".join(f"# In[{3 + 2 * n}]:\n\n\n{steps[n]}" for n in sorted(steps)) + \
                '\n\n\nif __name__ == "__main__":\n    run_steps([step1, step2, step3, step4, step5])\n'
        folder = root / copier
        folder.mkdir(parents=True)
        (folder / "imageGen.py").write_text(text, encoding="utf-8")
    pairs = {frozenset((c, s)) for c, (s, _) in copies.items()}
    for g in range(groups):
        pairs.add(frozenset((f"group{g}-member0", f"group{g}-member1")))
    return pairs, {c: d for c, (_, d) in copies.items()}


def scored(folder: Path, lessons: list) -> tuple[list, float]:
    started = time.perf_counter()
    report = compare_class(load_submissions(folder), lessons, threshold=0.0, min_shared=0)
    return report.pairs, time.perf_counter() - started


def flagged(pairs: list, threshold: float) -> list:
    return [p for p in pairs if p.similarity >= threshold and p.shared_tokens >= MIN_SHARED]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    lessons = [l for l in all_lessons() if l.number == 1]
    every = all_lessons()
    results: dict[str, object] = {"date": dt.date.today().isoformat(), "commit": commit(),
                                  "machine": f"{platform.machine()}, Python {platform.python_version()}",
                                  "threshold": THRESHOLD, "min_shared": MIN_SHARED, "classes": []}
    sweep = {t: {"copies": 0, "found": 0, "independent": 0, "false": 0} for t in SWEEP + (THRESHOLD,)}
    misses: list[str] = []
    false_at: list[str] = []
    for seed in range(1, args.seeds + 1):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "class"
            copy_pairs, disguise = write_class(root, args.size, seed)
            timed_started = time.perf_counter()
            report = compare_class(load_submissions(root), lessons)
            timed = time.perf_counter() - timed_started
            pairs, _ = scored(root, lessons)
        names = [f"learner{i:03d}" for i in range(args.size)]
        total_pairs = args.size * (args.size - 1) // 2
        for t in sweep:
            hits = flagged(pairs, t)
            found = {frozenset((p.a.learner, p.b.learner)) for p in hits}
            sweep[t]["copies"] += len(copy_pairs)
            sweep[t]["found"] += len(found & copy_pairs)
            sweep[t]["independent"] += total_pairs - len(copy_pairs)
            sweep[t]["false"] += len(found - copy_pairs)
            if t == THRESHOLD:
                for pair in sorted(copy_pairs - found, key=sorted):
                    copier = next(n for n in pair if n in disguise)
                    misses.append(f"seed {seed}: {disguise[copier]} ({', '.join(sorted(pair))})")
                false_at += [f"seed {seed}: {p.a.learner} / {p.b.learner} {p.similarity:.2f} {p.shared_tokens}"
                             for p in hits if frozenset((p.a.learner, p.b.learner)) not in copy_pairs]
        del names
        lowest = min(p.similarity for p in pairs if frozenset((p.a.learner, p.b.learner)) in copy_pairs)
        results.setdefault("lowest_copy_similarity", []).append(round(lowest, 3))
        results["classes"].append({"seed": seed, "learners": args.size, "copy_pairs": len(copy_pairs),
                                   "seconds": round(timed, 2), "flagged": len(report.pairs)})
        print(f"seed {seed}: {args.size} learners, {len(copy_pairs)} copy pairs, {len(report.pairs)} flagged, "
              f"grader similar's comparison in {timed:.1f} s")
    print(f"lowest similarity of a copy pair, per class: {results['lowest_copy_similarity']}")
    print(f"\n{'threshold':>9} {'recall':>8} {'false flags':>14}   (MIN_SHARED {MIN_SHARED})")
    for t in sorted(sweep):
        s = sweep[t]
        mark = "  <- chosen" if t == THRESHOLD else ""
        print(f"{t:>9.2f} {s['found']:>4}/{s['copies']:<4} {s['false']:>5}/{s['independent']:<8}{mark}")
    results["sweep"] = {str(t): s for t, s in sorted(sweep.items())}
    results["missed_at_threshold"] = misses
    results["false_flags_at_threshold"] = false_at
    for line in misses:
        print(f"missed: {line}")
    for line in false_at:
        print(f"false flag: {line}")
    fixture = ROOT / "tests" / "fixtures" / "similarity" / "class"
    others = {"fixture class": fixture, **{f"cohort {c.name}": c for c in sorted((ROOT / "tests/fixtures/cohorts").iterdir())
                                           if c.is_dir()}}
    results["hand_written"] = {}
    for label, folder in others.items():
        report = compare_class(load_submissions(folder), every)
        listed = [f"lesson {p.lesson}: {p.a.learner} / {p.b.learner} {p.similarity:.2f}" for p in report.pairs]
        results["hand_written"][label] = listed
        print(f"{label}: {len(report.pairs)} pairs flagged" + "".join(f"\n    {line}" for line in listed))
    out = ROOT / "benchmarks" / "out" / "similarity.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
