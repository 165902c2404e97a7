"""The offline Images API: a local server that answers like OpenAI's Images API.

`course serve` runs it; `course.connect()` finds or starts one in the background.
Modules, by what they hold:

- `models`    the emulated models and their limits (data in `data/models.json`)
- `errors`    the error envelope and every message the real API sends
- `params`    request validation, per era (DALL-E 2024, GPT image 2026)
- `uploads`   decoding and checking uploaded images
- `render`    drawing images from a prompt, edits and variations
- `urls`      signed blob-style URLs that expire after an hour
- `storage`   image files on disk, swept when their URLs expire
- `requestlog` the durable SQLite log of every request
- `policy`    keys, content policy, rate limits, injected faults
- `budget`    what one grading run may take: requests, images, decoded pixels, uploads, log
- `channels`  a listener per grading run (a TCP one behind a secret path prefix)
- `memory`    giving freed memory back, so that one run's requests leave nothing for the next
- `app`       the ASGI application tying them together
- `server`    running it in the foreground or detached
"""
